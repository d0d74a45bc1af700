"""Measured SLP tables and the constant model."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from planner.errors import InputError
from planner.nanoparticles.slp import ConstantModel, TableModel, read_slp_table

DATA = Path(__file__).resolve().parents[2] / "planner" / "nanoparticles" / "data" / "slp_table_illustrative.csv"

META = """# source: unit test
# mass_basis: per_g_Fe
# amplitude: peak
# temperature_C: 25
"""


def write(tmp_path: Path, body: str, meta: str = META, name="t.csv") -> Path:
    p = tmp_path / name
    p.write_text(meta + body)
    return p


def grid_csv(H_kA, f_kHz, fn) -> str:
    rows = ["H_kA_per_m,f_kHz,SLP_W_per_g"]
    for f in f_kHz:
        for h in H_kA:
            rows.append(f"{h},{f},{float(fn(h, f))!r}")  # float(): numpy 2 reprs np.float64(…)
    return "\n".join(rows) + "\n"


def test_shipped_illustrative_table_is_labelled_and_readable():
    t = read_slp_table(DATA)
    assert "ILLUSTRATIVE" in t.source and "NOT MEASURED" in t.source
    assert t.mass_basis == "per_g_Fe" and t.temperature_C == 37.0
    m = TableModel(t)
    assert m.iron_mass_fraction == pytest.approx(0.7236)
    v = m.slp_W_per_g(np.array([15e3]), 1e5)
    assert 10 < v[0] < 200


def test_interpolation_reproduces_nodes_and_is_monotone(tmp_path):
    H = [2, 5, 10, 15, 20]
    f = [50, 100, 200]
    fn = lambda h, ff: 0.02 * h**2 * ff / (1 + 0.002 * h**2)  # noqa: E731
    m = TableModel(read_slp_table(write(tmp_path, grid_csv(H, f, fn))))
    for ff in f:
        np.testing.assert_allclose(m.slp_W_per_g(np.array(H) * 1e3, ff * 1e3), [fn(h, ff) for h in H], rtol=1e-14)
    Hq = np.linspace(2e3, 20e3, 2001)
    for ff in (50e3, 73e3, 150e3):
        v = m.slp_W_per_g(Hq, ff)
        assert np.all(np.diff(v) >= 0)  # PCHIP keeps the monotone data monotone
    fq = np.linspace(50e3, 200e3, 301)
    v = np.array([m.slp_W_per_g(np.array([7e3]), x)[0] for x in fq])
    assert np.all(np.diff(v) >= 0)


def test_interpolation_converges_for_smooth_data(tmp_path):
    """PCHIP error on a smooth SLP(H) falls with the table spacing at an order approaching 3."""
    fn = lambda h, ff: ff * h**2 / (1 + 0.01 * h**2)  # noqa: E731
    Hq = np.linspace(2.0, 26.0, 997)
    errs = []
    for n in (7, 13, 25, 49):
        H = np.linspace(2.0, 26.0, n)
        m = TableModel(read_slp_table(write(tmp_path, grid_csv(H, [100], fn), name=f"t{n}.csv")))
        errs.append(np.max(np.abs(m.slp_W_per_g(Hq * 1e3, 1e5) / fn(Hq, 100) - 1)))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.9) and orders[-1] > 2.5, (errs, orders)  # → 3 asymptotically
    assert errs[-1] < 2e-3


def test_out_of_range_is_an_error_unless_extrapolate(tmp_path):
    p = write(tmp_path, grid_csv([5, 10, 20], [100, 200], lambda h, f: h * h * f * 1e-3))
    m = TableModel(read_slp_table(p))
    with pytest.raises(InputError, match=r"peak field = 25 kA/m outside .* \[5, 20\] kA/m.*extrapolate = true"):
        m.slp_W_per_g(np.array([10e3, 25e3]), 1.5e5)
    with pytest.raises(InputError, match=r"frequency = 300 kHz outside"):
        m.slp_W_per_g(np.array([10e3]), 3e5)
    mx = TableModel(read_slp_table(p), extrapolate=True)
    edge = mx.slp_W_per_g(np.array([20e3]), 2e5)[0]
    np.testing.assert_allclose(mx.slp_W_per_g(np.array([40e3]), 4e5)[0], edge * 4 * 2, rtol=1e-14)  # constant ILP
    assert mx.slp_W_per_g(np.array([0.0]), 1e5)[0] == 0.0


def test_rms_and_unit_columns(tmp_path):
    mu0 = 4e-7 * math.pi
    body = "B_mT,f_Hz,SLP_W_per_kg\n" + "\n".join(
        f"{h * mu0 * 1e3!r},{f},{h * 1e-3 * f * 1e-3 * 1e3!r}" for f in (1e5, 2e5) for h in (4e3, 8e3, 12e3))
    meta = META.replace("amplitude: peak", "amplitude: rms")
    t = read_slp_table(write(tmp_path, body + "\n", meta))
    np.testing.assert_allclose(t.H_peak_A_per_m, np.array([4e3, 8e3, 12e3]) * math.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(t.slp_W_per_g[0], [400.0, 800.0, 1200.0], rtol=1e-12)  # W/kg → W/g


@pytest.mark.parametrize("meta,body,match", [
    (META, "H,f,SLP\n5,100,1\n10,100,2\n", "declared unit"),
    (META.replace("# mass_basis: per_g_Fe\n", ""), "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,2\n", "mass_basis"),
    (META.replace("per_g_Fe", "per_g_core"), "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,2\n", "mass_basis = 'per_g_core'"),
    (META.replace("# amplitude: peak\n", ""), "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,2\n", "amplitude"),
    (META.replace("# source: unit test\n", ""), "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,2\n", "source"),
    (META, "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,2\n5,200,1\n", "full rectangular grid"),
    (META, "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n10,100,nan\n", "row 3"),
    (META, "H_kA_per_m,f_kHz,SLP_W_per_g\n-5,100,1\n10,100,2\n", "row 2"),
    (META, "H_kA_per_m,f_kHz,SLP_W_per_g\n5,100,1\n", "at least 2"),
])
def test_bad_tables(tmp_path, meta, body, match):
    with pytest.raises(InputError, match=match):
        read_slp_table(write(tmp_path, body, meta))


def test_missing_table_file(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        read_slp_table(tmp_path / "none.csv")


def test_constant_model():
    m = ConstantModel(120.0, "per_g_particle")
    np.testing.assert_array_equal(m.slp_W_per_g(np.array([0.0, 1e4]), 1e5), [0.0, 120.0])  # no field, no heat
    with pytest.raises(InputError, match="slp_W_per_g = -1.0"):
        ConstantModel(-1.0, "per_g_Fe")
    with pytest.raises(InputError, match="mass_basis"):
        ConstantModel(1.0, "per_mL")
