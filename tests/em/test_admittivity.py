"""Complex admittivity σ* = σ + jωε0εr in the tissue eddy-current solve ([em] admittivity, issue 11).

At 100 kHz wet skin has ωε0εr/σ ≈ 1.3 (Gabriel 1996 Cole–Cole, checked below): its displacement
current is as large as its conduction current. Closed-form benchmark (coated sphere, contrast factor
magnitude and phase): benchmarks/em_admittivity.py, run at CI size in tests/verification.
"""
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from benchmarks.em_common import ConstantTissue, mesh_of, plan
from planner.em import applied_field, solve_eddy_currents
from planner.em.sar import mesh_cube_sar_10g
from planner.errors import InputError
from planner.tissues.library import load_library
from planner.units import EPS0_F_per_m


@dataclass(frozen=True)
class DielectricTissue(ConstantTissue):
    """Constant σ and ε_r (a stand-in with permittivity data)."""

    eps_r: float = 1.0

    def relative_permittivity(self, frequency_Hz: float) -> float:
        return self.eps_r


def _case(f_kHz=100.0, core="skin", shell="fat", h=12.0):
    cfg = plan([{"name": "shell", "shape": "sphere", "tissue": shell, "radius_mm": 50.0},
                {"name": "core", "shape": "sphere", "tissue": core, "role": "organ", "radius_mm": 25.0,
                 "center_mm": [12.0, 0.0, 8.0]}], h,
               {"type": "uniform", "frequency_kHz": f_kHz, "field_kA_per_m": 5.0, "amplitude": "peak",
                "direction": [1.0, 0.0, 0.0]})
    m = mesh_of(cfg)
    return m, applied_field(m, cfg.applicator), cfg


def test_library_displacement_ratio_skin_1_3_at_100kHz():
    lib, f = load_library(), 100e3
    ratio = {t: 2 * math.pi * f * EPS0_F_per_m * lib[t].relative_permittivity(f) / lib[t].conductivity_S_per_m(f)
             for t in ("skin", "muscle", "fat")}
    assert ratio["skin"] == pytest.approx(1.30, abs=0.02)
    assert 0.1 < ratio["muscle"] < 0.15 and ratio["fat"] < 0.03
    # ε_r is the real part of the Cole–Cole ε*; ε'' gives back σ
    eps = lib["skin"].cole_cole.complex_relative_permittivity(f)
    assert lib["skin"].relative_permittivity(f) == pytest.approx(eps.real, rel=1e-12)
    assert -2 * math.pi * f * EPS0_F_per_m * eps.imag == pytest.approx(lib["skin"].conductivity_S_per_m(f), rel=1e-9)


def test_auto_is_real_at_100kHz_bit_for_bit_and_complex_above_300kHz():
    m, app, _ = _case()
    lib = load_library()
    auto, real = solve_eddy_currents(m, app, lib, admittivity="auto"), solve_eddy_currents(m, app, lib, admittivity="real")
    assert auto.admittivity["model"] == "real" and "<= 300 kHz" in auto.admittivity["reason"]
    assert auto.F_vertex_cell_V_s_per_m.dtype == np.float64
    for k in ("E_peak_V_per_m", "SAR10g_W_per_kg", "E_vertex_max_V_per_m", "F_vertex_cell_V_s_per_m"):
        assert np.array_equal(getattr(auto, k), getattr(real, k)), k
    m1, app1, _ = _case(f_kHz=1000.0)
    hi = solve_eddy_currents(m1, app1, lib)
    assert hi.admittivity["model"] == "complex" and "> 300 kHz" in hi.admittivity["reason"]
    assert np.iscomplexobj(hi.F_vertex_cell_V_s_per_m) and "PRESB" in hi.solver["method"]
    block = json.loads(json.dumps(hi.summary_block()))["admittivity"]
    assert block["model"] == "complex" and "Re sigma* = sigma" in block["definition"]
    assert block["omega_eps0_eps_r_over_sigma_by_tissue"]["skin"] > 0.4


def test_uniform_displacement_ratio_leaves_E_unchanged():
    """σ* = σ(1 + jκ) with the same κ everywhere is a common factor: E and the loss equal the real solve's
    (ψi = 0), whatever κ — the complex path's Re/Im bookkeeping and the loss with Re σ* only."""
    m, app, _ = _case()
    w = 2 * math.pi * 100e3
    kappa = 1.3
    lib = {t: DielectricTissue(t, s, eps_r=kappa * s / (w * EPS0_F_per_m)) for t, s in (("skin", 0.07), ("fat", 0.025))}
    real = solve_eddy_currents(m, app, lib, admittivity="real")
    cplx = solve_eddy_currents(m, app, lib, admittivity="complex")
    np.testing.assert_allclose(cplx.E_peak_V_per_m, real.E_peak_V_per_m, rtol=1e-6, atol=1e-6 * real.E_peak_V_per_m.max())
    assert cplx.tissue_loss_W == pytest.approx(real.tissue_loss_W, rel=1e-7)
    assert np.abs(cplx.F_vertex_cell_V_s_per_m.imag).max() < 1e-6 * np.abs(real.F_vertex_cell_V_s_per_m).max()


def test_contrasting_admittivity_changes_E_and_every_consumer_uses_the_complex_field():
    m, app, _ = _case()
    lib = load_library()
    real = solve_eddy_currents(m, app, lib, admittivity="real")
    fs = solve_eddy_currents(m, app, lib, admittivity="complex")
    core = fs.conducting & (m.cell_region == m.region("core").tag)
    dE = np.abs(fs.E_peak_V_per_m - real.E_peak_V_per_m)[core].max() / real.E_peak_V_per_m[core].max()
    assert dE > 0.05  # skin core in fat: the charge on the core's surface changes with its phase
    Fv, w = fs.F_vertex_cell_V_s_per_m, 2 * math.pi * 100e3
    assert np.abs(Fv.imag).max() > 0.02 * np.abs(Fv).max()
    # |E|² = |Re|² + |Im|² in the loss (with σ = Re σ*), the vertex maxima and the 10 g cube SAR
    np.testing.assert_allclose(fs.Q_eddy_W_per_m3, 0.5 * fs.sigma_S_per_m * fs.E_peak_V_per_m ** 2)
    Ev = w * np.sqrt((np.abs(Fv) ** 2).sum(axis=2)).max(axis=1)
    np.testing.assert_allclose(fs.E_vertex_max_V_per_m[fs.conducting],
                               np.maximum(Ev, fs.E_peak_V_per_m)[fs.conducting], rtol=1e-12)
    args = (m.points_m, m.cells)
    tail = (w, fs.sigma_S_per_m, fs.density_kg_per_m3, fs.conducting)
    s_c, _ = mesh_cube_sar_10g(*args, Fv, *tail)
    np.testing.assert_allclose(s_c, fs.SAR10g_W_per_kg)
    s_rot, _ = mesh_cube_sar_10g(*args, Fv * np.exp(0.7j), *tail)  # phase-invariant
    np.testing.assert_allclose(s_rot, s_c, rtol=1e-10)
    s_r, _ = mesh_cube_sar_10g(*args, Fv.real.copy(), *tail)
    s_i, _ = mesh_cube_sar_10g(*args, Fv.imag.copy(), *tail)
    # SAR ∝ |Re F|² + |Im F|² per voxel; the cube averages are linear in it, the max over cubes monotone and
    # subadditive: the complex field's cube SAR lies between the larger part's and the sum of both
    tol = 1e-12 * s_c.max()
    assert np.all(s_c >= np.maximum(s_r, s_i) - tol) and np.all(s_c <= s_r + s_i + tol)
    assert np.abs(s_c - s_r).max() > 1e-3 * s_c.max()  # and the imaginary part counts
    assert json.loads(json.dumps(fs.summary_block()))["max_E_V_per_m"] == pytest.approx(fs.E_peak_V_per_m.max())


def test_field_probes_report_the_complex_field():
    from planner.config.plan import FieldProbeSpec
    from planner.em.probes import field_probes, locate_field_probes

    m, app, _ = _case()
    fs = solve_eddy_currents(m, app, load_library(), admittivity="complex")
    loc = locate_field_probes(m, [FieldProbeSpec(name="line", start_mm=(-40.0, 0.0, 0.0), end_mm=(40.0, 0.0, 0.0),
                                                 points=9)])
    pr = field_probes(m, fs, loc)
    assert np.iscomplexobj(pr.E_peak_V_per_m) and np.abs(pr.E_peak_V_per_m.imag).max() > 0
    blk = json.loads(json.dumps(pr.summary_block()))[0]
    Em = np.sqrt((np.abs(pr.E_peak_V_per_m) ** 2).sum(axis=1))
    np.testing.assert_allclose(blk["E_peak_V_per_m"], Em, rtol=1e-12)
    np.testing.assert_allclose(blk["E_in_phase_vector_V_per_m"], pr.E_peak_V_per_m.imag, rtol=1e-12)
    header, rows = pr.rows()
    assert header[-1] == "Ez_in_phase_V_per_m" and len(rows[0]) == len(header)


def test_bad_admittivity_input_is_one_line_naming_the_key():
    from planner.config.plan import parse_plan

    m, app, _ = _case(h=20.0)
    with pytest.raises(InputError, match=r"^em\.admittivity = 'imag': expected") as e:
        solve_eddy_currents(m, app, load_library(), admittivity="imag")
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"em\.admittivity.*no permittivity"):
        solve_eddy_currents(m, app, {"skin": ConstantTissue("skin", 0.1), "fat": ConstantTissue("fat", 0.03)},
                            admittivity="complex")
    base = {"plan": {"name": "p"}, "mesh": {"max_size_mm": 10.0},
            "geometry": {"bodies": [{"name": "b", "shape": "sphere", "tissue": "muscle", "radius_mm": 10.0}]}}
    with pytest.raises(InputError, match=r"^em\.admittivity = 'yes': expected 'auto', 'real' or 'complex'"):
        parse_plan({**base, "em": {"admittivity": "yes"}})
    assert parse_plan(base).em is None and parse_plan({**base, "em": {}}).em.admittivity == "auto"
