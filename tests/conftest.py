import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the planner CLI in a fresh interpreter, as a user would.

    Known intermittent environment fault (seen about once in several hundred CLI launches on this
    machine, also noted under mpirun in the first session): the interpreter exits with code 1 before
    printing anything at all. The planner itself never exits 1 silently (every error is a printed line),
    so that exact signature is retried once, with a warning, instead of failing an unrelated test."""
    cmd = [sys.executable, "-m", "planner", *args]
    res = subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)
    if res.returncode == 1 and not res.stdout and not res.stderr:
        import warnings

        warnings.warn(f"planner CLI exited 1 with no output (environment fault); retried: {args}", stacklevel=2)
        res = subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)
    return res


def run_mpi(script: Path, n: int = 2, timeout: float = 600) -> subprocess.CompletedProcess:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.fail("mpirun not found: the setup command installs openmpi-bin")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([mpirun, "-n", str(n), sys.executable, str(script)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def _hash_inputs(paths) -> dict[str, str]:
    import hashlib

    out = {}
    for name, p in paths.items():
        p = Path(p)
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else ([p] if p.is_file() else [])
        for f in files:
            out[f"{name}:{f}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def input_guard(inner):
    """Wrap planner.pipeline._run_plan: hash every input the plan names before and after the run."""
    import planner.pipeline as pipeline

    def checked(cfg, write, warnings, *rest):
        inputs = pipeline.plan_inputs(cfg)
        before = _hash_inputs(inputs)
        result = inner(cfg, write, warnings, *rest)
        after = _hash_inputs(inputs)
        if "imaging.phantom" in inputs:  # phantom inputs are generated on the first run: what existed must stay
            after = {k: v for k, v in after.items() if k in before}
        assert after == before, f"a plan run modified its inputs: {sorted(set(after.items()) ^ set(before.items()))[:3]}"
        return result

    return checked


@pytest.fixture(autouse=True)
def inputs_never_modified(monkeypatch):
    """Every plan run of the suite (planner.pipeline.run_plan in-process) hashes every input the plan
    names before and after: a run that modifies, deletes or adds to an input fails its test (issue 16)."""
    try:
        import planner.pipeline as pipeline
    except ImportError:
        yield
        return
    monkeypatch.setattr(pipeline, "_run_plan", input_guard(pipeline._run_plan))
    yield


# Property tests (hypothesis) run a fixed, reproducible set of examples in CI (`derandomize`): a
# failure then reproduces on every machine; run with HYPOTHESIS_PROFILE=explore to search afresh.
import os as _os  # noqa: E402

from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("ci", derandomize=True)
_hyp_settings.register_profile("explore", derandomize=False)
_hyp_settings.load_profile(_os.environ.get("HYPOTHESIS_PROFILE", "ci"))
