"""Forms and matrices of the reduced-field problem: K (gauged curl-curl), M (κ mass), P (AMS matrix), b.

K = ∫ curl u · curl w + ε ∫_surroundings u · w: the tiny mass ε (``regularisation`` × κ, floored) over
the non-conducting surroundings fixes the gauge of A_r there (the curl-curl operator alone is singular
on gradients supported outside the metal); it moves the metal loss by O(ε) (measured ≤ 3e-6 relative).
The same gauged K serves the iterative and the direct solve (:mod:`.direct`), so both solve one system.
Two assemblies only: M (κ mass over the metal) goes into a copy of K's sparsity pattern and the AMS
matrix is P = K + (κ_P/κ) M by an axpy (formerly a third assembly and pattern: −0.15 s of 0.47 s on the
issue-17 sphere, benchmarks/README_implants.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import dolfinx
import dolfinx.fem
import dolfinx.fem.petsc
import dolfinx.mesh
import numpy as np
import ufl
from petsc4py import PETSc

from planner.fem import _compat
from planner.fem.implant_eddy.model import METAL_TAG, SURROUNDING_TAG, AppliedPotential, CellTags, ImplantSolveOptions
from planner.units import MU0_H_per_m


@dataclass(frozen=True)
class ReducedFieldSystem:
    """Assembled reduced-field system on one mesh (PETSc objects owned by the caller: ``destroy()``)."""

    V: _compat.FunctionSpace  # N1curl_p
    A0: dolfinx.fem.Function  # applied peak potential in vector Lagrange
    kappa: dolfinx.fem.Constant  # κ = ω μ0 σ of the metal, 1/m²
    dx: ufl.Measure  # with the METAL_TAG / SURROUNDING_TAG cell tags
    K: PETSc.Mat  # gauged curl-curl K + ε M_0
    M: PETSc.Mat  # κ mass over the metal
    P: PETSc.Mat  # AMS matrix K + κ_P M_metal (= K + ε M_0 + κ_P M_metal)
    b: PETSc.Vec  # ∫ κ A0·w over the metal
    n_local: int  # owned N1curl dofs of this rank
    n_global: int
    kappa_P_over_kappa: float = 1.0  # P's metal mass is this × M (> 1 only below the mass floor)
    mass_metal_per_m2: float = 0.0  # κ_P: P's mass coefficient in the metal, 1/m²
    mass_surroundings_per_m2: float = 0.0  # ε: the gauge mass coefficient outside, 1/m²
    dirichlet: bool = True  # n × A_r = 0 on the outer boundary

    def destroy(self) -> None:
        for obj in (self.K, self.M, self.P, self.b):
            obj.destroy()


def applied_potential(msh: dolfinx.mesh.Mesh, degree: int, A0_peak_at: AppliedPotential) -> dolfinx.fem.Function:
    """A0 interpolated in vector Lagrange of degree max(degree, 2) (exact for the uniform applicator's linear A0)."""
    Q = _compat.function_space(msh, "Lagrange", max(degree, 2), (3,))
    A0 = dolfinx.fem.Function(Q)
    A0.interpolate(lambda x: np.ascontiguousarray(np.asarray(A0_peak_at(x.T), dtype=float).T))
    return A0


def _mass_floor(msh: dolfinx.mesh.Mesh) -> float:
    """1e-4 / L² with L the model size (largest bounding-box edge over all ranks)."""
    comm = msh.comm
    x = msh.geometry.x
    lo = np.min(comm.allgather(x.min(axis=0) if x.size else np.full(3, np.inf)), axis=0)
    hi = np.max(comm.allgather(x.max(axis=0) if x.size else np.full(3, -np.inf)), axis=0)
    return 1e-4 / float(np.max(hi - lo)) ** 2


def assemble_reduced_field(msh: dolfinx.mesh.Mesh, cell_tags: CellTags,
                           options: ImplantSolveOptions) -> ReducedFieldSystem:
    """Assemble K, M, P and b (Dirichlet n × A_r = 0 on the outer boundary if ``options.dirichlet``)."""
    degree = options.degree
    kappa_m = options.omega_rad_per_s * MU0_H_per_m * options.sigma_S_per_m
    V = _compat.function_space(msh, "N1curl", degree)
    u, w = ufl.TrialFunction(V), ufl.TestFunction(V)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    kap = dolfinx.fem.Constant(msh, PETSc.ScalarType(kappa_m))
    # preconditioner mass: κ in the metal and ε κ outside, both floored at 1e-4 / L² (L = model size)
    # so that AMS sees an SPD matrix even when κ L² ≪ 1 (very low σ or f)
    floor = _mass_floor(msh)
    kapP = dolfinx.fem.Constant(msh, PETSc.ScalarType(max(kappa_m, floor)))
    eps = dolfinx.fem.Constant(msh, PETSc.ScalarType(max(options.regularisation * kappa_m, floor)))
    A0 = applied_potential(msh, degree, options.A0_peak_at)

    # the gauge mass only fixes the gauge: a cheap quadrature (degree 2 instead of the estimated 7 on the
    # curved cells) is as good and keeps K's assembly close to the bare curl-curl's
    dx_gauge = dx(SURROUNDING_TAG, metadata={"quadrature_degree": 2})
    a_K = ufl.inner(ufl.curl(u), ufl.curl(w)) * dx + eps * ufl.inner(u, w) * dx_gauge
    a_M = kap * ufl.inner(u, w) * dx(METAL_TAG)
    L = kap * ufl.inner(A0, w) * dx(METAL_TAG)

    bc = _boundary_condition(V, options.dirichlet)
    K = _compat.assemble_matrix(_compat.form(a_K), bcs=[bc])
    K.assemble()
    M = K.duplicate(copy=False)  # K's sparsity pattern, zero values (one pattern built, not three)
    _compat.assemble_matrix_into(M, _compat.form(a_M), bcs=[bc], diagonal=0.0)
    M.assemble()
    ratio = max(kappa_m, floor) / kappa_m
    P = K.duplicate(copy=True)
    P.axpy(ratio, M, structure=PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
    b = _compat.assemble_vector(_compat.form(L))
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    _compat.set_bc(b, [bc])
    im = V.dofmap.index_map
    bs = V.dofmap.index_map_bs
    return ReducedFieldSystem(V=V, A0=A0, kappa=kap, dx=dx, K=K, M=M, P=P, b=b,
                              n_local=im.size_local * bs, n_global=im.size_global * bs, kappa_P_over_kappa=ratio,
                              mass_metal_per_m2=float(kapP.value), mass_surroundings_per_m2=float(eps.value),
                              dirichlet=options.dirichlet)


def _boundary_condition(V: _compat.FunctionSpace, dirichlet: bool) -> object:
    """Homogeneous Dirichlet condition on the exterior facets (none if not ``dirichlet``)."""
    msh = V.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    bfacets = _compat.exterior_facets(msh) if dirichlet else np.zeros(0, np.int32)
    bdofs = dolfinx.fem.locate_dofs_topological(V, tdim - 1, bfacets)
    return dolfinx.fem.dirichletbc(dolfinx.fem.Function(V), bdofs)


def alpha_poisson_matrix(Vl: _compat.FunctionSpace, system: ReducedFieldSystem) -> PETSc.Mat:
    """hypre AMS's "alpha Poisson" matrix for the vector-Lagrange auxiliary space (same degree as Vl):
    ∫ ∇φ·∇ψ + κ_P ∫_metal φψ + ε ∫_surroundings φψ, the scalar analogue of P (boundary nodes eliminated
    when the edges are). Given this, AMS solves the auxiliary vector problem with three V-cycles of ONE
    scalar BoomerAMG on it instead of building Πᵀ P Π (a RAP) and a 3-function AMG: issue-17 sphere,
    AMS set-up −0.2 s, each cycle ~25 % cheaper, iterations unchanged (benchmarks/README_implants.md)."""
    msh = Vl.mesh
    phi, psi = ufl.TrialFunction(Vl), ufl.TestFunction(Vl)
    dx = system.dx
    c_m = dolfinx.fem.Constant(msh, PETSc.ScalarType(system.mass_metal_per_m2))
    c_s = dolfinx.fem.Constant(msh, PETSc.ScalarType(system.mass_surroundings_per_m2))
    a = (ufl.inner(ufl.grad(phi), ufl.grad(psi)) * dx + c_m * phi * psi * dx(METAL_TAG)
         + c_s * phi * psi * dx(SURROUNDING_TAG))
    A = _compat.assemble_matrix(_compat.form(a), bcs=[_boundary_condition(Vl, system.dirichlet)])
    A.assemble()
    return A


__all__ = ["ReducedFieldSystem", "alpha_poisson_matrix", "applied_potential", "assemble_reduced_field"]
