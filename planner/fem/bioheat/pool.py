"""The blood pool: arterial temperature as a state, coupled to the 3-D Pennes problem.

With θ = T_a − T_a,0 (deviation from the plan's arterial temperature) and b = M_β 1 (b_i = ∫β φ_i,
so bᵀT = ∫β T dV for P1/P2 and β_tot = 1ᵀb = ∫β dV):

    M T' + K T − θ b = f                                   (Pennes, f holds T_a,0 b)
    C_p θ' + (β_tot + G) θ − bᵀT = −β_tot T_a,0 − P_loss,0  (pool: exchange in, whole-body loss out)

C_p (J/K) is the heat capacity of the unmeshed body, which the blood keeps at one temperature; the
loss P_loss = P_loss,0 + G θ is linear in θ (thermoregulation conductance G, W/K), with P_loss,0 = the
exchange bᵀT_base − β_tot T_a,0 of the baseline, so the no-field state is steady. The coupled
system is the Pennes block system with one extra, symmetric row and column; every time scheme is
applied to it unchanged. Each implicit step (c M + K) T − θ b = R, (c C_p + a) θ − bᵀT = r, a =
β_tot + G, is solved exactly by one extra solve y = (c M + K)⁻¹ b (cached per c while β is unchanged):
T = T_R + θ y, θ = (r + bᵀT_R)/(c C_p + a − bᵀy)."""
from __future__ import annotations

from typing import Any

import numpy as np

from planner.fem.bioheat.data import BloodPool


class Pool:
    """State θ (and its history) of the blood pool and the coupled solve."""

    def __init__(self, spec: BloodPool, T_a0_C: float, template_vec):
        self.C = float(spec.heat_capacity_J_per_K)
        self.G = float(spec.loss_W_per_K)
        self.T_a0 = float(T_a0_C)
        self.theta = self.theta_old = self.theta_nm1 = 0.0
        self.mb1 = template_vec.duplicate()
        self.beta_tot = 0.0
        self.P_loss0 = 0.0
        self.y_cache: dict[float, Any] = {}  # PETSc Vecs
        self.version = -1

    # --- β-dependent pieces ---------------------------------------------------------------------
    def refresh(self, Mb, ones, version: int) -> None:
        """b = M_β 1 and β_tot after a perfusion assembly (drops the cached y)."""
        Mb.mult(ones, self.mb1)
        self.beta_tot = self.mb1.sum()
        for y in self.y_cache.values():
            y.destroy()
        self.y_cache.clear()
        self.version = version

    def exchange_W(self, T_vec) -> float:
        """∫β (T − T_a) dV: heat carried from the tissue into the blood."""
        return self.mb1.dot(T_vec) - self.beta_tot * (self.T_a0 + self.theta)

    def set_baseline(self, T_vec) -> None:
        self.P_loss0 = self.exchange_W(T_vec)

    @property
    def a(self) -> float:
        return self.beta_tot + self.G

    @property
    def g(self) -> float:
        return -self.beta_tot * self.T_a0 - self.P_loss0

    # --- one step ---------------------------------------------------------------------------------
    def scalar_rhs(self, system, T_old_vec) -> float:
        level = {"n": self.theta_old, "nm1": self.theta_nm1}
        r = self.C * sum(coef * level[name] for coef, name in system.mass)
        if system.k_explicit:
            r -= self.a * self.theta_old - self.mb1.dot(T_old_vec)
        return r + len(system.fractions) * self.g

    def solve(self, ops, c: float, system, b, T_vec, T_old_vec, bc_values=None) -> None:
        """Coupled solve into T_vec (b: the Pennes right-hand side without the θ terms). With Dirichlet
        rows (``bc_values``), T_R carries the data and y zero there."""
        r = self.scalar_rhs(system, T_old_vec)
        if system.k_explicit:
            b.axpy(self.theta_old, self.mb1)  # −K_full Xⁿ contributes +θⁿ b to the Pennes rows
        y = self.y_cache.get(c)
        if y is None:
            y = self.mb1.duplicate(); y.set(0.0)
            rhs = self.mb1.copy()
            zero = None
            if bc_values is not None:
                g_ext, rows, g = bc_values
                zero = (g_ext.duplicate(), rows, np.zeros_like(g))
                zero[0].set(0.0)
            ops.solve(c, rhs, y, zero)
            rhs.destroy()
            if zero is not None:
                zero[0].destroy()
            self.y_cache[c] = y
        T_vec.axpy(-self.theta, y)  # initial guess for T_R = T − θ y
        ops.solve(c, b, T_vec, bc_values)
        self.theta = (r + self.mb1.dot(T_vec)) / (c * self.C + self.a - self.mb1.dot(y))
        T_vec.axpy(self.theta, y)

    def destroy(self) -> None:
        for y in self.y_cache.values():
            y.destroy()
        self.mb1.destroy()
