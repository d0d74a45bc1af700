"""The eddy-current stage gives the same losses and per-cell fields on 2 MPI ranks as on 1."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import ROOT

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    from mpi4py import MPI
    from benchmarks.em_common import ConstantTissue, library, structured_box_mesh
    from planner.artefacts import Region, Role
    from planner.em import solve_eddy_currents
    from planner.em.applicators import AppliedField

    if sys.argv[2] == "islands":  # two conducting balls in air: two null-space constants (one pinned)
        def region_of(c):
            r1 = np.linalg.norm(c - np.array([-0.025, 0.0, 0.0]), axis=1) < 0.02
            r2 = np.linalg.norm(c - np.array([0.025, 0.0, 0.0]), axis=1) < 0.018
            return np.where(r1, 2, np.where(r2, 3, 1))
        regs = (Region(1, "air", "air", Role.BODY), Region(2, "a", "muscle", Role.ORGAN), Region(3, "b", "fat", Role.ORGAN))
    elif sys.argv[2].startswith("implant"):  # a floating conductor (metal bar) and cut faces at z = ±5 cm
        def region_of(c):
            bar = (np.abs(c[:, 0]) < 0.03) & (np.abs(c[:, 1]) < 0.008) & (np.abs(c[:, 2] + 0.01) < 0.008)
            return np.where(bar, 3, np.where(np.linalg.norm(c - np.array([0.01, 0.0, -0.01]), axis=1) < 0.03, 2, 1))
        regs = (Region(1, "shell", "fat", Role.BODY), Region(2, "core", "muscle", Role.ORGAN),
                Region(3, "bar", "titanium", Role.IMPLANT))
    else:
        def region_of(c):
            return np.where(np.linalg.norm(c - np.array([0.01, 0.0, -0.01]), axis=1) < 0.03, 2, 1)
        regs = (Region(1, "shell", "fat", Role.BODY), Region(2, "core", "muscle", Role.ORGAN))
    mesh = structured_box_mesh(14, 0.1, region_of=region_of, regions=regs)
    if sys.argv[2] in ("implant", "cut", "implant-complex"):
        import dataclasses
        b = mesh.skin_facets
        ends = np.abs(np.abs(mesh.points_m[b][:, :, 2]) - 0.05).max(axis=1) < 1e-12
        mesh = dataclasses.replace(mesh, skin_facets=b[~ends], cut_facets=b[ends], _cache={})
    app = AppliedField("uniform", 1e5, 1e4, None, "peak", 1e4, np.array([0.02, -0.01, 0.0]),
                       uniform_H_peak_A_per_m=np.array([0.0, 3e3, 1e4 * np.sqrt(1 - 0.09)]))
    lib = {**library(muscle=0.5, fat=0.04), "air": ConstantTissue("air", 0.0, 1.2, kind="air"),
           "titanium": ConstantTissue("titanium", 1.8e6, 4430.0, kind="metal")}
    adm = "real"
    if sys.argv[2].endswith("complex"):  # complex admittivity: ωε0εr/σ = 1.3 (skin-like) core, 0.02 shell
        import dataclasses as dc

        @dc.dataclass(frozen=True)
        class Dielectric(ConstantTissue):
            eps_r: float = 1.0

            def relative_permittivity(self, f):
                return self.eps_r

        w_eps0 = 2 * np.pi * 1e5 * 8.8541878128e-12
        lib.update(muscle=Dielectric("muscle", 0.5, eps_r=1.3 * 0.5 / w_eps0), fat=Dielectric("fat", 0.04, eps_r=0.02 * 0.04 / w_eps0))
        adm = "complex"
    fs = solve_eddy_currents(mesh, app, lib, None, element_order=int(sys.argv[1]), admittivity=adm)
    out = {"ranks": MPI.COMM_WORLD.size, "components": fs.solver["conducting_components"], "loss": fs.tissue_loss_W,
           "by": fs.tissue_loss_W_by_tissue,
           "E": fs.E_peak_V_per_m.tolist(), "sar10": fs.SAR10g_W_per_kg.tolist(), "Ev": fs.E_vertex_max_V_per_m.tolist(),
           "floating": fs.solver["floating_conductors"], "cuts": fs.solver["cut_planes"],
           "model": fs.admittivity["model"]}
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(out))
''')


def _result(p):
    assert p.returncode == 0, p.stderr[-3000:]
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, p.stdout[-2000:]
    return json.loads(line[0][7:])


@pytest.mark.mpi
@pytest.mark.parametrize("order,case", [(1, "layered"), (2, "layered"), (1, "islands"), (1, "implant"), (2, "implant"),
                                        (1, "implant-complex")])
def test_same_loss_on_two_ranks(tmp_path, order, case):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.fail("mpirun not found: the setup command installs openmpi-bin")
    script = tmp_path / "em_mpi.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OPENBLAS_NUM_THREADS="1")
    serial = _result(subprocess.run([sys.executable, str(script), str(order), case], capture_output=True, text=True,
                                    cwd=ROOT, env=env, timeout=300))
    par = _result(subprocess.run([mpirun, "-n", "2", sys.executable, str(script), str(order), case],
                                 capture_output=True, text=True, cwd=ROOT, env=env, timeout=300))
    assert serial["ranks"] == 1 and par["ranks"] == 2
    assert serial["components"] == par["components"] == (2 if case == "islands" else 1)
    assert par["loss"] == pytest.approx(serial["loss"], rel=1e-7)
    for k in serial["by"]:
        assert par["by"][k] == pytest.approx(serial["by"][k], rel=1e-7)
    np.testing.assert_allclose(par["E"], serial["E"], rtol=1e-5, atol=1e-7 * max(serial["E"]))
    np.testing.assert_allclose(par["sar10"], serial["sar10"], rtol=1e-5, atol=1e-7 * max(serial["sar10"]))
    np.testing.assert_allclose(par["Ev"], serial["Ev"], rtol=1e-5, atol=1e-7 * max(serial["Ev"]))
    if case.startswith("implant"):
        assert serial["floating"] == par["floating"] == 1 and serial["cuts"] == par["cuts"] == 2
    assert serial["model"] == par["model"] == ("complex" if case.endswith("complex") else "real")
