#!/usr/bin/env bash
# Install everything planner needs on Debian bookworm (run as root): apt packages, then a venv in
# .venv on Debian's python3 with --system-site-packages (DOLFINx, PETSc, gmsh, pygalmesh, h5py come
# from Debian) and the project installed editable with its pinned pip dependencies.
# Idempotent: a second run checks and returns quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-dolfinx-real python3-gmsh python3-pygalmesh python3-h5py-mpi python3-scipy
  python3-venv python3-dev python3-pip openmpi-bin libopenblas0-pthread
  libegl1 libegl-mesa0 libgl1-mesa-dri make git
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-upgrade "${missing[@]}" </dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv on /usr/bin/python3 with system site packages"
  /usr/bin/python3 -m venv --system-site-packages .venv
fi

stamp=.venv/.planner-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: pip install -e .[dev]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import numpy, dolfinx; assert numpy.__version__.startswith('1.24'), numpy.__version__" \
  || { echo "setup: numpy/dolfinx check failed" >&2; exit 1; }
echo "setup: ok ($(.venv/bin/python -c 'import dolfinx,numpy; print("dolfinx", dolfinx.__version__, "numpy", numpy.__version__)'))"
