"""The uncertainty study of a plan: sample, evaluate through unit responses, summarise.

Cost: the field is computed once (the plan's own run; it is linear in H). For each distinct perfusion
vector one thermal run per heat component (the plan's [thermal] mode: steady or transient) gives the
unit responses; every SLP / mass / field / common-conductivity / arterial sample is then a linear
combination (no solve). Perfusion, per-tissue conductivity and deposit-size samples re-solve (one set of
unit responses per distinct vector of them, cached; per-tissue σ also re-solves the tissue eddy currents
and deposit size rebuilds the particle map first: planner.uncertainty.variants). Within a set only the
components whose inputs changed are solved again: a new perfusion vector re-solves every component, a
new σ vector only the eddy response, a new deposit size only the particle response.

Scales of each component at field factor a = h · s_field (h: robust-search factor, 1 = the plan):
particles s_slp · s_mass · g(a) with g(a) = P_np(a)/P_np(1) from the plan's SLP model (the total
particle power at field a·H(x), no fixed exponent); tissue eddy s_σ · a² (one common conductivity scale
leaves E unchanged, Q = σ|E|²/2 scales with σ); implant a². The particle scaling by the total power is
exact where the deposit sees one field value and an approximation of the per-cell SLP(a·H(x)) otherwise.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.artefacts import Role, TissueMesh
from planner.config.plan import ThermalSection
from planner.errors import InputError, bad_value
from planner.nanoparticles.heat import HeatSource
from planner.thermal import metrics
from planner.thermal.stage import ThermalLibrary
from planner.uncertainty.responses import UnitResponses, unit_responses
from planner.uncertainty.sampling import Parameter, saltelli_design, saltelli_first_order
from planner.uncertainty.variants import HeatVariants, check_sized

log = logging.getLogger(__name__)


def _tissue(lib, mesh_tissues: set[str], name: str, key: str = "uncertainty.perfusion_tissues") -> str:
    canonical = lib.resolve(name) if hasattr(lib, "resolve") else name
    if canonical not in mesh_tissues:
        raise InputError(bad_value(key, name, "a tissue of the plan's mesh: "
                                   + ", ".join(sorted(mesh_tissues))))
    return canonical


def parameters(sec, heat, lib, mesh_tissues: set[str]) -> tuple[Parameter, ...]:
    """The uncertain inputs of the section (spread 0 or a missing heat component: not uncertain)."""
    has_np = bool(np.any(heat.Q_np_W_per_m3 > 0))
    has_eddy = bool(np.any(heat.Q_eddy_W_per_m3 > 0))
    out = []
    for name, sigma, present in (("slp", sec.slp_sigma_ln, has_np), ("mass", sec.mass_sigma_ln, has_np),
                                 ("field", sec.field_sigma_ln, True),
                                 ("conductivity", sec.conductivity_sigma_ln, has_eddy)):
        if sigma > 0 and present:
            out.append(Parameter(name, float(sigma)))
    for t in sec.perfusion_tissues:
        if sec.perfusion_sigma_ln > 0:
            out.append(Parameter(f"perfusion.{_tissue(lib, mesh_tissues, t)}", float(sec.perfusion_sigma_ln)))
    if sec.conductivity_tissue_sigma_ln > 0 and has_eddy:
        for t in sec.conductivity_tissues:
            out.append(Parameter(f"conductivity.{_tissue(lib, mesh_tissues, t, 'uncertainty.conductivity_tissues')}",
                                 float(sec.conductivity_tissue_sigma_ln)))
    if sec.deposit_size_sigma_ln > 0:
        check_sized(heat.distribution if has_np else None)
        out.append(Parameter("deposit_size", float(sec.deposit_size_sigma_ln)))
    if sec.arterial_sd_K > 0:
        out.append(Parameter("arterial_T", float(sec.arterial_sd_K), kind="normal"))
    return tuple(out)


@dataclass
class _Model:
    """Evaluates the outputs of one sample at field factor h from cached unit responses."""

    mesh: TissueMesh
    heat: HeatSource
    lib: ThermalLibrary
    th: ThermalSection
    params: tuple[Parameter, ...]
    arterial: bool
    limits: tuple[float, float]  # max healthy T (°C), max implant ΔT (K)
    cache_dir: Path | None = None
    ranks_per_group: int = 0
    variants: HeatVariants | None = None

    def __post_init__(self) -> None:
        from planner.planning.safety import healthy_vertices

        self.cache: dict[tuple, UnitResponses] = {}
        self.solves = 0
        self.eddy_solves = 0
        self.components: dict = {}  # component responses by (component, perfusion, its own variant)
        self.rank_groups = 1
        tmask = metrics.target_cell_mask(self.mesh)
        w = metrics.vertex_volumes_m3(self.mesh, tmask)
        self.t_idx = np.flatnonzero(w > 0)
        self.t_w = w[self.t_idx]
        self.h_idx = np.flatnonzero(healthy_vertices(self.mesh))
        imp_tags = [r.tag for r in self.mesh.regions_with_role(Role.IMPLANT)]
        self.i_idx = np.unique(self.mesh.cells[np.isin(self.mesh.cell_region, imp_tags)])
        # the inputs that need new unit responses (one set per distinct vector of them)
        self.perf = [p for p in self.params if p.name.startswith(("perfusion.", "conductivity.")) or
                     p.name == "deposit_size"]
        self._g_table()

    def _g_table(self) -> None:
        """g(a) = particle power at a × nominal field / at the nominal field, tabulated for interpolation."""
        self.a_grid = np.linspace(0.0, 25.0, 501)
        self.g_grid = self._g_of(self.heat)
        self.g_by_size: dict[float, np.ndarray] = {}

    def _g_of(self, heat) -> np.ndarray:
        vol = self.mesh.cell_volumes_m3()
        p1 = float(vol @ heat.Q_np_W_per_m3)
        return (np.array([float(vol @ heat.Q_np_at(a)) / p1 for a in self.a_grid]) if p1 > 0
                else np.zeros_like(self.a_grid))

    def g(self, v: dict[str, float]) -> np.ndarray:
        """The g table of a sample: the nominal map's, or (deposit-size samples) its own map's."""
        size = v.get("deposit_size")
        if size is None or self.variants is None:
            return self.g_grid
        if size not in self.g_by_size:
            self.g_by_size[size] = self._g_of(self.variants.particles(self.heat, size))
        return self.g_by_size[size]

    def values(self, z: np.ndarray) -> dict[str, float]:
        return {p.name: float(p.value(np.asarray(zi))) for p, zi in zip(self.params, z)}

    def key(self, v: dict[str, float]) -> tuple:
        return tuple(round(v[p.name], 12) for p in self.perf)

    def _cache_file(self, key: tuple) -> Path | None:
        if self.cache_dir is None:
            return None
        h = hashlib.sha256()
        for arr in (self.mesh.points_m, self.mesh.cells, self.heat.Q_np_W_per_m3, self.heat.Q_eddy_W_per_m3,
                    self.heat.Q_implant_W_per_m3):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(repr((self.th, [p.name for p in self.perf], key, self.arterial)).encode())
        return self.cache_dir / f"uq-{h.hexdigest()[:24]}.npz"

    def prefetch(self, sets: list[np.ndarray]) -> None:
        """Unit responses of every perfusion vector the samples need: from the cache folder, else solved,
        spread over MPI rank groups (round robin; each group solves on its own communicator)."""
        from planner.fem import parallel
        from planner.uncertainty.responses import load_responses, save_responses

        wanted: dict[tuple, dict[str, float]] = {}
        for Z in sets:
            for z in Z:
                v = self.values(z)
                wanted.setdefault(self.key(v), {p.name: v[p.name] for p in self.perf})
        missing = []
        for k in wanted:
            f = self._cache_file(k)
            if k in self.cache:
                continue
            if f is not None and f.exists():
                self.cache[k] = load_responses(f)
            else:
                missing.append(k)
        if any(p.name.startswith("conductivity.") for p in self.perf):
            self.eddy_solves += len(missing)
        comm, group, n_groups = parallel.rank_groups(self.ranks_per_group)
        self.rank_groups = n_groups
        local = {}
        for i, k in enumerate(missing):
            if i % n_groups == group:
                local[k] = self._solve(wanted[k], comm)
                f = self._cache_file(k)
                if f is not None and comm.rank == 0:
                    f.parent.mkdir(parents=True, exist_ok=True)
                    save_responses(f, local[k])
        got = parallel.gather_group_results(local, comm)
        self.solves += sum(r.solves for r in got.values())
        self.cache.update(got)

    def _solve(self, v: dict[str, float], comm) -> UnitResponses:
        """Unit responses of one vector of solve-requiring inputs (perfusion, per-tissue σ, deposit size)."""
        perf = {name.split(".", 1)[1]: x for name, x in v.items() if name.startswith("perfusion.")}
        cond = {name.split(".", 1)[1]: x for name, x in v.items() if name.startswith("conductivity.")}
        heat = self.heat
        if cond or "deposit_size" in v:
            if self.variants is None:
                raise InputError("[uncertainty]: per-tissue conductivity / deposit size need the plan's field and "
                                 "distribution (run_uncertainty(..., variants=HeatVariants.from_plan(...)))")
            heat = self.variants.heat(self.heat, cond, v.get("deposit_size"), comm)
        tags = {"particles": v.get("deposit_size"), "eddy": tuple(sorted(cond.items()))}
        return unit_responses(self.mesh, heat, self.lib, self.th, perf, self.arterial, comm=comm,
                              reuse=self.components, tags=tags)

    def responses(self, v: dict[str, float]) -> UnitResponses:
        return self.cache[self.key(v)]

    def evaluate(self, z: np.ndarray, h: float) -> tuple[float, float, float, float]:
        """(T90 °C, T90 of the rise K, healthy T_max °C, implant ΔT K) of sample z at field factor h."""
        v = self.values(z)
        r = self.responses(v)
        a = h * v.get("field", 1.0)
        c = {"particles": v.get("slp", 1.0) * v.get("mass", 1.0) * float(np.interp(a, self.a_grid, self.g(v))),
             "eddy": v.get("conductivity", 1.0) * a * a, "implant": a * a, "arterial": v.get("arterial_T", 0.0)}
        rows = slice(0, 1) if r.monotone else slice(None)
        rise = sum(c[k] * th[rows] for k, th in r.theta.items() if k != "arterial")
        rise = np.zeros((1, r.T_baseline_C.shape[0])) if isinstance(rise, int) else rise
        base = r.T_baseline_C + (c["arterial"] * r.theta["arterial"][0] if "arterial" in r.theta else 0.0)
        T_max = np.max(base[None, :] + rise, axis=0)
        rise_max = np.max(rise, axis=0)
        T90 = metrics.exceeded_by_fraction(T_max[self.t_idx], self.t_w, 0.9)
        rise90 = metrics.exceeded_by_fraction(rise_max[self.t_idx], self.t_w, 0.9)
        healthy = float(T_max[self.h_idx].max()) if self.h_idx.size else float("nan")
        imp = (float(c["implant"] * r.theta["implant"][0][self.i_idx].max())
               if "implant" in r.theta and self.i_idx.size else 0.0)
        return T90, rise90, healthy, imp

    def violates(self, out: tuple[float, float, float, float]) -> bool:
        return bool(out[2] > self.limits[0] or out[3] > self.limits[1])


@dataclass(frozen=True)
class UncertaintyResult:
    """Per-sample outputs at the plan's field (rows of A) and the study's summary numbers."""

    method: str
    parameters: tuple[Parameter, ...]
    T90_C: np.ndarray
    T90_rise_K: np.ndarray
    healthy_T_max_C: np.ndarray
    implant_dT_K: np.ndarray
    violation: np.ndarray
    goal_T90_C: float
    sobol_first_order: dict[str, float]
    sobol_first_order_healthy_T_max: dict[str, float]
    nominal_field_kA_per_m: float
    robust_field_kA_per_m: float | None
    goal_field_kA_per_m: float | None
    alpha: float
    beta: float
    thermal_solves: int
    linear_reuse: bool
    rank_groups: int = 1
    eddy_solves: int = 0

    @property
    def samples(self) -> int:
        return int(self.T90_C.shape[0])

    def summary_block(self) -> dict:
        def pct(x: np.ndarray) -> dict[str, float]:
            return {f"p{p}": float(np.percentile(x, p)) for p in (5, 50, 95)}

        return {
            "samples": self.samples, "method": self.method,
            "P_T90_ge_goal": float(np.mean(self.T90_C >= self.goal_T90_C)),
            "P_violation": float(np.mean(self.violation)),
            "T90_C": pct(self.T90_C), "T90_rise_K": pct(self.T90_rise_K),
            "healthy_T_max_C": pct(self.healthy_T_max_C), "implant_dT_K": pct(self.implant_dT_K),
            "sobol_first_order": self.sobol_first_order,
            "sobol_first_order_healthy_T_max": self.sobol_first_order_healthy_T_max,
            "robust_field_kA_per_m": self.robust_field_kA_per_m,
            "goal_field_kA_per_m": self.goal_field_kA_per_m,
            "nominal_field_kA_per_m": self.nominal_field_kA_per_m,
            "goal_T90_C": self.goal_T90_C, "alpha": self.alpha, "beta": self.beta,
            "parameters": {p.name: {"distribution": p.kind, ("sigma_ln" if p.kind == "lognormal" else "sd_K"): p.sigma}
                           for p in self.parameters},
            "thermal_solves": self.thermal_solves, "linear_reuse": self.linear_reuse, "rank_groups": self.rank_groups,
            "eddy_solves": self.eddy_solves,
            "definitions": {
                "robust_field_kA_per_m": "largest field (plan's amplitude convention) with P(violation) <= alpha",
                "goal_field_kA_per_m": "smallest field with P(T90 >= goal) >= 1 - beta (null: not reached)",
                "sobol_first_order": "first-order Sobol indices of target T90, Saltelli 2010 pick-freeze estimator",
                "violation": "healthy T_max above [safety] max_healthy_T_C or implant self-heating above max_implant_dT_K",
            },
        }


def _bisect(pred, lo: float, hi: float, want_largest: bool, rel_tol: float = 1e-3) -> float | None:
    """Monotone search on [lo, hi]: largest h with pred true (pred true at small h) or smallest."""
    if want_largest:
        if pred(hi):
            return hi
        if not pred(lo):
            return None
    else:
        if not pred(hi):
            return None
        if pred(lo):
            return lo
    while hi - lo > rel_tol * hi:
        mid = 0.5 * (lo + hi)
        if pred(mid) == want_largest:
            lo = mid
        else:
            hi = mid
    return lo if want_largest else hi


def _field_cap(applicator, safety) -> float:
    """The H·f ceiling in the plan's amplitude convention (kA/m)."""
    f = applicator.frequency_Hz
    H = safety.Hf_limit_A_per_m_s / f / 1e3
    if safety.Hf_amplitude != applicator.amplitude:
        H = H * math.sqrt(2.0) if safety.Hf_amplitude == "peak" else H / math.sqrt(2.0)
    return H


def run_uncertainty(sec, mesh: TissueMesh, heat, lib, th, applicator, safety, goal_T90_C: float,
                    robust: bool = True, cache_dir: Path | None = None,
                    variants: HeatVariants | None = None) -> UncertaintyResult:
    """The study of one plan (see the module docstring); ``heat``: the plan's HeatSource; ``robust``
    False skips the robust field search (its fields are then None); ``variants``: the plan's field and
    distribution (needed by per-tissue conductivity and deposit-size samples)."""
    params = parameters(sec, heat, lib, {r.tissue for r in mesh.regions})
    lin = th.perfusion_model == "constant"
    if not lin:
        log.warning("[uncertainty]: perfusion model %r depends on temperature: the unit-response combination "
                    "is a linearisation (exact only for perfusion_model = 'constant')", th.perfusion_model)
    model = _Model(mesh, heat, lib, th, params, any(p.name == "arterial_T" for p in params),
                   (safety.max_healthy_T_C, safety.max_implant_dT_K), cache_dir, sec.ranks_per_group, variants)
    d = max(len(params), 1)
    A, B, AB = saltelli_design(sec.samples, d, sec.method, sec.seed)
    model.prefetch([A, B, *AB] if params else [A])
    outA = np.array([model.evaluate(z, 1.0) for z in A])
    sob: dict[str, float] = {}
    sob_h: dict[str, float] = {}
    if params:
        outB = np.array([model.evaluate(z, 1.0) for z in B])
        outAB = [np.array([model.evaluate(z, 1.0) for z in m]) for m in AB]
        s90 = saltelli_first_order(outA[:, 0], outB[:, 0], [o[:, 0] for o in outAB])
        sh = saltelli_first_order(outA[:, 2], outB[:, 2], [o[:, 2] for o in outAB])
        sob = {p.name: s for p, s in zip(params, s90)}
        sob_h = {p.name: s for p, s in zip(params, sh)}
    H0 = applicator.field_kA_per_m
    h_max = min(sec.max_field_factor, _field_cap(applicator, safety) / H0)

    def p_viol(h: float) -> float:
        return float(np.mean([model.violates(model.evaluate(z, h)) for z in A]))

    def p_goal(h: float) -> float:
        return float(np.mean([model.evaluate(z, h)[0] >= goal_T90_C for z in A]))

    h_safe = _bisect(lambda h: p_viol(h) <= sec.alpha, 0.0, h_max, True) if robust else None
    h_goal = _bisect(lambda h: p_goal(h) >= 1.0 - sec.beta, 0.0, h_max, False) if robust else None
    return UncertaintyResult(
        method=sec.method, parameters=params, T90_C=outA[:, 0], T90_rise_K=outA[:, 1], healthy_T_max_C=outA[:, 2],
        implant_dT_K=outA[:, 3], violation=np.array([model.violates(tuple(o)) for o in outA]), goal_T90_C=goal_T90_C,
        sobol_first_order=sob, sobol_first_order_healthy_T_max=sob_h, nominal_field_kA_per_m=H0,
        robust_field_kA_per_m=None if h_safe is None else h_safe * H0,
        goal_field_kA_per_m=None if h_goal is None else h_goal * H0, alpha=sec.alpha, beta=sec.beta,
        thermal_solves=model.solves, linear_reuse=lin, rank_groups=model.rank_groups, eddy_solves=model.eddy_solves)


def uncertainty_stage(cfg, mesh: TissueMesh, heat, lib) -> UncertaintyResult:
    """The pipeline's [uncertainty] stage (needs [applicator] and [thermal]; [safety] defaults apply)."""
    from planner.config.plan import SafetySection

    sec = cfg.uncertainty
    goal = sec.goal_T90_C if sec.goal_T90_C is not None else (cfg.search.goal_T90_C if cfg.search else 42.0)
    cache = cfg.resolve(sec.cache_dir) if sec.cache_dir else None
    need = (sec.conductivity_tissues and sec.conductivity_tissue_sigma_ln > 0) or sec.deposit_size_sigma_ln > 0
    variants = HeatVariants.from_plan(cfg, mesh, lib) if need else None
    return run_uncertainty(sec, mesh, heat, lib, cfg.thermal, cfg.applicator, cfg.safety or SafetySection(), goal,
                           cache_dir=cache, variants=variants)
