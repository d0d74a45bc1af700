"""[uncertainty] inputs that re-solve: per-tissue conductivity (new E) and deposit size (new particle map)."""
import dataclasses

import numpy as np
import pytest

from planner.config.plan import UncertaintySection, load_plan
from planner.errors import InputError
from planner.pipeline import run_plan
from planner.uncertainty.responses import unit_responses
from planner.uncertainty.study import run_uncertainty
from planner.uncertainty.variants import HeatVariants

from .test_uncertainty import PLAN

# an off-centre tumour (a centred sphere in a uniform field sees a purely tangential E: σ would not matter)
# holding one gaussian deposit
DEPOSIT = PLAN.replace('radius_mm = 12.0\ntissue = "tumour"', 'radius_mm = 12.0\ncenter_mm = [25.0, 0.0, 0.0]\n'
                       'tissue = "tumour"').replace(
    'kind = "uniform-in-target"\ntotal_mass_mg = 50.0',
    'kind = "deposit"\n\n[[nanoparticles.distribution.deposits]]\ncenter_mm = [25.0, 0.0, 0.0]\n'
    'mass_mg = 50.0\nshape = "gaussian"\nsigma_mm = [5.0, 5.0, 5.0]').format(mode="steady")


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("uq_variants")
    (d / "plan.toml").write_text(DEPOSIT)
    cfg = load_plan(d / "plan.toml")
    res = run_plan(cfg, write=False)
    a = res.artefacts
    return cfg, res, HeatVariants.from_plan(cfg, a["mesh"], a["library"])


def _study(plan, **kw):
    cfg, res, var = plan
    a = res.artefacts
    sec = dataclasses.replace(UncertaintySection(), **kw)
    return run_uncertainty(sec, a["mesh"], a["heat"], a["library"], cfg.thermal, cfg.applicator, cfg.safety, 42.0,
                           robust=False, variants=var)


def _tumour_cells(res):
    mesh = res.artefacts["mesh"]
    tags = [r.tag for r in mesh.regions if r.tissue == "tumour"]
    return np.isin(mesh.cell_region, tags)


def test_equal_tissue_factors_reproduce_the_common_scale(plan):
    """Every conducting tissue × s: E unchanged, the re-solved Q_eddy = s × the plan's (solver tolerance)."""
    _, res, var = plan
    Q0 = res.artefacts["heat"].Q_eddy_W_per_m3
    assert Q0.max() > 0
    for s in (0.5, 1.7):
        Q = var.eddy_W_per_m3({"muscle": s, "tumour": s})
        assert np.max(np.abs(Q - s * Q0)) <= 1e-6 * s * Q0.max()


def test_one_tissue_factor_changes_E_in_the_expected_direction(plan):
    """Tumour σ × 4 (a more conducting inclusion): |E| inside it falls (charges screen the uniform part
    of the local E, the dipole factor 3/(2 + κ)), the muscle E changes too (the tumour perturbs it), and
    the muscle heat stays within the dipole's reach."""
    _, res, var = plan
    Q0 = res.artefacts["heat"].Q_eddy_W_per_m3
    Q = var.eddy_W_per_m3({"tumour": 4.0})
    tum = _tumour_cells(res)
    E2_ratio_tumour = (Q[tum].sum() / 4.0) / Q0[tum].sum()  # Q = σ|E|²/2: mean |E|² ratio at fixed volume weights
    assert 0.3 < E2_ratio_tumour < 0.98
    rel = np.abs(Q[~tum] - Q0[~tum]) / Q0[~tum].max()
    assert rel.max() > 1e-3  # E elsewhere changes (a common scale would leave it unchanged)
    # far from the tumour (other side of the body) the muscle E is unchanged to a few per cent
    X = res.artefacts["mesh"].cell_centroids_m()
    far = (~tum) & (X[:, 0] < -0.03)
    assert np.max(np.abs(Q[far] - Q0[far])) < 0.05 * Q0[far].max()


def test_conductivity_inputs_enter_the_sobol_indices(plan):
    st = _study(plan, slp_sigma_ln=0.0, mass_sigma_ln=0.0, field_sigma_ln=0.0,
                conductivity_tissues=("tumour", "muscle"), samples=4)
    names = [p.name for p in st.parameters]
    assert names == ["conductivity.tumour", "conductivity.muscle"]
    assert set(st.sobol_first_order) == set(names)
    # distinct σ vectors: rows of A, B and each AB_i (all differ): 4 × 4 eddy solves
    assert st.eddy_solves == 16 and st.summary_block()["eddy_solves"] == 16
    assert st.thermal_solves == 16 + 1  # a new eddy response per σ vector, the particle response once
    assert np.ptp(st.healthy_T_max_C) > 0


def test_deposit_size_one_reproduces_the_plan(plan):
    _, res, var = plan
    heat = res.artefacts["heat"]
    h1 = var.particles(heat, 1.0)
    assert np.array_equal(h1.Q_np_W_per_m3, heat.Q_np_W_per_m3)
    cfg = plan[0]
    a = res.artefacts
    r0 = unit_responses(a["mesh"], heat, a["library"], cfg.thermal)
    r1 = unit_responses(a["mesh"], h1, a["library"], cfg.thermal)
    assert np.array_equal(r0.theta["particles"], r1.theta["particles"])


def test_larger_deposit_lowers_the_peak_and_keeps_the_mass(plan):
    _, res, var = plan
    heat = res.artefacts["heat"]
    big = var.particles(heat, 1.5)
    assert big.Q_np_W_per_m3.max() < 0.6 * heat.Q_np_W_per_m3.max()
    assert big.distribution.mapped_mass_mg == pytest.approx(50.0, rel=1e-12)
    V = res.artefacts["mesh"].cell_volumes_m3()
    assert float(V @ big.Q_np_W_per_m3) == pytest.approx(float(V @ heat.Q_np_W_per_m3), rel=0.05)  # uniform field
    st = _study(plan, slp_sigma_ln=0.0, mass_sigma_ln=0.0, field_sigma_ln=0.0, deposit_size_sigma_ln=0.3, samples=4)
    assert [p.name for p in st.parameters] == ["deposit_size"] and "deposit_size" in st.sobol_first_order
    assert st.thermal_solves == 2 * 4 + 1  # d = 1: AB_1 = B; one particle response per size, the eddy once
    assert np.ptp(st.T90_C) > 0


def test_deposit_size_refused_without_a_size_parameter(tmp_path):
    (tmp_path / "plan.toml").write_text(PLAN.format(mode="steady").replace(
        "samples = 16", "samples = 4\ndeposit_size_sigma_ln = 0.2"))
    with pytest.raises(InputError, match=r"uncertainty\.deposit_size_sigma_ln.*'uniform-in-target'"):
        run_plan(load_plan(tmp_path / "plan.toml"), write=False)


@pytest.mark.mpi
def test_rank_groups_solve_the_new_inputs_like_the_serial_study(tmp_path):
    """mpirun -n 2, ranks_per_group = 1: per-tissue σ (eddy solve on the group's communicator) and deposit
    size samples split over two groups give the serial study."""
    import json

    from tests.conftest import run_mpi

    extra = ('conductivity_tissues = ["tumour"]\ndeposit_size_sigma_ln = 0.2\nranks_per_group = 1\n'
             'mass_sigma_ln = 0.0\nfield_sigma_ln = 0.0\nslp_sigma_ln = 0.0\n')
    (tmp_path / "plan.toml").write_text(DEPOSIT.replace("samples = 16", "samples = 4\n" + extra))
    script = tmp_path / "run.py"
    script.write_text("from planner.config.plan import load_plan\nfrom planner.pipeline import run_plan\n"
                      f"run_plan(load_plan({str(tmp_path / 'plan.toml')!r}))\n")
    res = run_mpi(script)
    assert res.returncode == 0, res.stdout[-1500:] + res.stderr[-3000:]
    par = json.loads((tmp_path / "out" / "summary.json").read_text())["uncertainty"]
    serial = run_plan(load_plan(tmp_path / "plan.toml"), write=False).summary["uncertainty"]
    assert par["eddy_solves"] == serial["eddy_solves"] == 16 and par["rank_groups"] == 2
    # serial: the particle response per distinct size (rows of A and B: 8), the eddy per σ vector (8);
    # rank groups reuse only what the same group solved, so they may solve more
    assert serial["thermal_solves"] == 16 and par["thermal_solves"] >= 16
    for key in ("T90_C", "healthy_T_max_C"):
        for p in ("p5", "p50", "p95"):
            assert par[key][p] == pytest.approx(serial[key][p], abs=1e-6)
    assert set(par["sobol_first_order"]) == {"conductivity.tumour", "deposit_size"}



def test_scaled_deposits_scale_the_size_parameter_of_each_shape(plan):
    from planner.nanoparticles.distributions import DepositSpec
    from planner.uncertainty.variants import scaled_deposits

    dist = plan[0].nanoparticles.distribution
    two = dataclasses.replace(dist, deposits=(*dist.deposits, DepositSpec((0.0, 0.0, 0.0), 5.0, "ellipsoid",
                                                                          (2.0, 3.0, 4.0), None)))
    out = scaled_deposits(two, 1.5)
    assert out.deposits[0].sigma_mm == (7.5, 7.5, 7.5) and out.deposits[0].semi_axes_mm is None
    assert out.deposits[1].semi_axes_mm == (3.0, 4.5, 6.0) and out.deposits[1].sigma_mm is None
    assert [d.mass_mg for d in out.deposits] == [50.0, 5.0] and [d.center_mm for d in out.deposits] == [
        d.center_mm for d in two.deposits]


def test_unknown_conductivity_tissue_is_named(plan):
    with pytest.raises(InputError, match=r"uncertainty\.conductivity_tissues.*'liver'.*muscle, tumour"):
        _study(plan, conductivity_tissues=("liver",))


class _SaturatingSLP:
    """SLP = 100 W/g · h²/(1 + h²), h = |H|/5 kA/m: the particle power ratio g(a) depends on the map's |H|."""

    mass_basis = "per_g_Fe"
    iron_mass_fraction = None

    def slp_W_per_g(self, H_peak_A_per_m, frequency_Hz):
        h2 = (np.asarray(H_peak_A_per_m, dtype=float) / 5e3) ** 2
        return 100.0 * h2 / (1.0 + h2)


def test_deposit_size_samples_use_their_own_field_scaling(plan):
    """In a non-uniform field a larger deposit sees other |H|: its g(a) = P(a)/P(1) is its own map's."""
    from planner.config.plan import SafetySection
    from planner.uncertainty.sampling import Parameter
    from planner.uncertainty.study import _Model

    cfg, res, var = plan
    a = res.artefacts
    mesh = a["mesh"]
    X = mesh.cell_centroids_m()
    H = 8e3 * (1.0 + 20.0 * np.abs(X[:, 0] - 0.025))  # |H| rising away from the deposit centre
    heat = dataclasses.replace(a["heat"], model=_SaturatingSLP(), H_peak_A_per_m=H)
    heat = var.particles(heat, 1.0)  # Q_np from the new model and field
    model = _Model(mesh, heat, a["library"], cfg.thermal, (Parameter("deposit_size", 0.3),), False,
                   (SafetySection().max_healthy_T_C, 5.0), variants=var)
    big = var.particles(heat, 2.0)
    V = mesh.cell_volumes_m3()

    def power(c, s):
        return float(V @ (c * _SaturatingSLP().slp_W_per_g(s * H, 0.0)))

    c = big.concentration_mg_per_mL
    g_big = model.g({"deposit_size": 2.0})
    for s in (0.5, 2.0):
        i = int(np.argmin(np.abs(model.a_grid - s)))
        assert g_big[i] == pytest.approx(power(c, s) / power(c, 1.0), rel=1e-12)
    i = int(np.argmin(np.abs(model.a_grid - 0.5)))
    assert abs(g_big[i] - model.g_grid[i]) > 1e-3  # the nominal map's g would be wrong here
    assert model.g({}) is model.g_grid
