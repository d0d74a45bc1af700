import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the planner CLI in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout)


def run_mpi(script: Path, n: int = 2, timeout: float = 600) -> subprocess.CompletedProcess:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.fail("mpirun not found: the setup command installs openmpi-bin")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([mpirun, "-n", str(n), sys.executable, str(script)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)
