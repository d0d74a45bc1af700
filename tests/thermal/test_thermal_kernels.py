"""Numba kernels vs NumPy references, CEM43 hand examples, metrics and probes (no FEniCSx)."""
from __future__ import annotations

import numpy as np
import pytest

from planner.artefacts import Region, Role, TissueMesh
from planner.errors import InputError
from planner.thermal import _kernels as kz
from planner.thermal import metrics
from planner.thermal.probes import locate_probes


def _dose(fn, T0, T1, dt, thr=42.0, tmax0=None):
    n = len(T0)
    cem, tab = np.zeros(n), np.zeros(n)
    tmax = np.array(T0, dtype=float) if tmax0 is None else np.array(tmax0, dtype=float)
    fn(cem, tab, tmax, np.asarray(T0, float), np.asarray(T1, float), float(dt), thr)
    return cem, tab, tmax


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accumulate_dose_kernel_matches_reference(seed):
    rng = np.random.default_rng(seed)
    T0 = rng.uniform(35, 50, 2000)
    T1 = rng.uniform(35, 50, 2000)
    T1[:50] = T0[:50]  # flat steps
    T1[50:60] = 42.0  # exactly on the threshold
    a = _dose(kz.accumulate_dose_nb, T0, T1, 17.0)
    b = _dose(kz.accumulate_dose_np, T0, T1, 17.0)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)


def test_cem43_hand_examples():
    # 10 min at 43 °C = 10 CEM43; 60 min at 42 °C = 60·0.5 = 30 ... R = 0.25 below 43: 60·0.25 = 15
    for fn in (kz.accumulate_dose_nb, kz.accumulate_dose_np):
        cem, _, _ = _dose(fn, [43.0, 42.0, 44.0, 37.0], [43.0, 42.0, 44.0, 37.0], 600.0)
        np.testing.assert_allclose(cem, [10.0, 10.0 * 0.25, 10.0 * 2.0, 10.0 * 0.25**6], rtol=1e-14)
        # step mean temperature: 42 → 44 has mean 43 → R^0 = 1 per minute
        cem, _, _ = _dose(fn, [42.0], [44.0], 60.0)
        assert cem[0] == pytest.approx(1.0, rel=1e-14)
        # 60 steps of 1 min at 45 °C: 60 · 0.5^-2 = 240
        c, t, m = np.zeros(1), np.zeros(1), np.array([45.0])
        for _ in range(60):
            fn(c, t, m, np.array([45.0]), np.array([45.0]), 60.0, 42.0)
        assert c[0] == pytest.approx(240.0, rel=1e-12)
        assert t[0] == pytest.approx(3600.0)


def test_time_above_threshold_linear_crossing():
    # 40 → 44 over 100 s crosses 42 at 50 s; 44 → 40 likewise; 41 → 41.9 never
    for fn in (kz.accumulate_dose_nb, kz.accumulate_dose_np):
        _, tab, tmax = _dose(fn, [40.0, 44.0, 41.0], [44.0, 40.0, 41.9], 100.0)
        np.testing.assert_allclose(tab, [50.0, 50.0, 0.0])
        np.testing.assert_allclose(tmax, [44.0, 44.0, 41.9])


def test_exceeded_by_fraction_hand_example():
    v = np.array([40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0])
    w = np.ones(10)
    # 90 % of the volume (9 of 10 equal vertices) is at or above 41 °C
    for fn in (kz.exceeded_by_fraction_nb, kz.exceeded_by_fraction_np):
        assert fn(v, w, 0.9) == 41.0
        assert fn(v, w, 0.5) == 45.0
        assert fn(v, w, 0.1) == 49.0
    # weights: the 40 °C vertex holds 95 % of the volume → T90 = 40
    w2 = np.full(10, 0.05 / 9)
    w2[0] = 0.95
    assert kz.exceeded_by_fraction_nb(v, w2, 0.9) == 40.0


@pytest.mark.parametrize("seed", [3, 4])
def test_statistics_kernels_match_reference(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(41, 2, 5000)
    w = rng.uniform(0.1, 2.0, 5000)
    for p in (0.1, 0.5, 0.9, 1.0):
        assert kz.exceeded_by_fraction_nb(v, w, p) == kz.exceeded_by_fraction_np(v, w, p)
    edges = np.arange(35.0, 48.0, 0.5)
    np.testing.assert_allclose(kz.cumulative_histogram_nb(v, w, edges), kz.cumulative_histogram_np(v, w, edges), rtol=1e-12)
    h = kz.cumulative_histogram_nb(v, w, edges)
    assert np.all(np.diff(h) <= 1e-15) and h[0] == pytest.approx(min(1.0, (w[v >= 35.0].sum()) / w.sum()))


def _two_region_box(n=4):
    from benchmarks.thermal_performance import structured_box
    return structured_box(n, size_m=0.04, target_radius_m=0.012)


def test_lumped_volumes_and_point_location_match_reference():
    mesh = _two_region_box(5)
    rng = np.random.default_rng(5)
    mask = rng.random(mesh.num_cells) < 0.5
    a = kz.lumped_vertex_volumes_nb(mesh.cells, mesh.cell_volumes_m3(), mask, mesh.num_vertices)
    b = kz.lumped_vertex_volumes_np(mesh.cells, mesh.cell_volumes_m3(), mask, mesh.num_vertices)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    assert a.sum() == pytest.approx(mesh.cell_volumes_m3()[mask].sum(), rel=1e-12)
    q = rng.uniform(-0.019, 0.019, (20, 3))
    c1, b1 = kz.locate_points_nb(mesh.points_m, mesh.cells, q, 1e-12)
    c2, b2 = kz.locate_points_np(mesh.points_m, mesh.cells, q, 1e-12)
    x = np.einsum("pk,pkd->pd", b1, mesh.points_m[mesh.cells[c1]])
    np.testing.assert_allclose(x, q, atol=1e-12)  # barycentric weights reproduce the point
    np.testing.assert_allclose(np.einsum("pk,pkd->pd", b2, mesh.points_m[mesh.cells[c2]]), q, atol=1e-12)
    assert np.all(b1 >= -1e-9) and np.all(c1 >= 0)


def test_probe_outside_body_is_input_error():
    mesh = _two_region_box(3)
    with pytest.raises(InputError, match=r"thermal.probes\[1\].position_mm.*'far'"):
        locate_probes(mesh, np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]]), ["c", "far"])


def test_probe_interpolates_linear_field_exactly():
    mesh = _two_region_box(4)
    f = lambda x: 37.0 + 100.0 * x[..., 0] - 50.0 * x[..., 2]
    pts = np.array([[0.003, -0.007, 0.011], [0.0, 0.0, 0.0]])
    _, verts, bary = locate_probes(mesh, pts)
    vals = (bary * f(mesh.points_m)[verts]).sum(axis=1)
    np.testing.assert_allclose(vals, f(pts), atol=1e-12)


def test_target_metrics_on_known_field():
    mesh = _two_region_box(6)
    # T_max = 40 + 100·x (linear), CEM = 2·T_max, time above 42 = T_max − 40 → statistics follow the same order
    T = 40.0 + 100.0 * mesh.points_m[:, 0]
    m = metrics.target_metrics(mesh, T, 2 * T, T - 40.0)
    assert m["T10_C"] >= m["T50_C"] >= m["T90_C"]
    assert m["CEM43T90_min"] == pytest.approx(2 * m["T90_C"])
    assert m["time_above_42C_min"] == pytest.approx(m["T90_C"] - 40.0)
    # symmetric target around x = 0 → T50 ≈ 40 (within one grid spacing of the lumped weights)
    assert abs(m["T50_C"] - 40.0) < 100.0 * 0.04 / 6 + 1e-12
    tis = metrics.tissue_metrics(mesh, T, 2 * T)
    assert set(tis) == {"muscle", "tumour"}
    assert tis["muscle"]["max_C"] == pytest.approx(T.max())
    d = metrics.dvh(mesh, T, 0.5)
    assert d["fraction_at_or_above"]["target"][0] == pytest.approx(1.0)
    assert d["fraction_at_or_above"]["muscle"][-1] <= 1e-12 + d["fraction_at_or_above"]["muscle"][0]


def test_no_target_gives_none():
    mesh = _two_region_box(3)
    m2 = TissueMesh(mesh.points_m, mesh.cells, np.ones(mesh.num_cells, np.int32),
                    (Region(1, "body", "muscle", Role.BODY),), mesh.skin_facets)
    assert metrics.target_metrics(m2, np.zeros(m2.num_vertices), np.zeros(m2.num_vertices), np.zeros(m2.num_vertices)) is None
