#!/usr/bin/env bash
# Install everything planner needs on Debian (run as root): apt packages, then a venv in .venv on
# Debian's python3 with --system-site-packages (DOLFINx, PETSc, gmsh, pygalmesh, h5py come from
# Debian) and the project installed editable with its pinned pip dependencies.
# Supported: Debian 12 bookworm (DOLFINx 0.5.2, Python 3.11, numpy 1.24) and Debian 13 trixie
# (DOLFINx 0.9, Python 3.13, numpy 2.2). Idempotent: a second run checks and returns quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

release=$(. /etc/os-release 2>/dev/null && echo "${ID:-?}-${VERSION_CODENAME:-?}")
case "$release" in
  debian-bookworm) DOLFINX_WANT=0.5; NUMPY_WANT=1.24; CONSTRAINTS=scripts/constraints-bookworm.txt ;;
  debian-trixie) DOLFINX_WANT=0.9; NUMPY_WANT=2.2; CONSTRAINTS=scripts/constraints-trixie.txt ;;
  *) echo "setup: this system is '$release'; planner installs on Debian 12 bookworm (DOLFINx 0.5.2) or" \
          "Debian 13 trixie (DOLFINx 0.9) only — on another system, run it in a Debian chroot or" \
          "container (scripts/trixie.sh shows how)" >&2; exit 2 ;;
esac

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
want=$(cat pyproject.toml scripts/setup.sh "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: pip install -e .[dev]"
  # the tested versions as constraints (pyproject.toml keeps the ranges): no resolver backtracking
  .venv/bin/python -m pip install -q --disable-pip-version-check -c "$CONSTRAINTS" -e ".[dev]"
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import numpy, dolfinx, sys
bad = [f'{n} {v} (expected {w}.x)' for n, v, w in (('numpy', numpy.__version__, '$NUMPY_WANT'),
       ('dolfinx', dolfinx.__version__, '$DOLFINX_WANT')) if not v.startswith('$NUMPY_WANT' if n == 'numpy' else '$DOLFINX_WANT')]
sys.exit('setup: ' + '; '.join(bad) + ' on $release' if bad else 0)" || exit 1
echo "setup: ok ($(.venv/bin/python -c 'import dolfinx,numpy; print("dolfinx", dolfinx.__version__, "numpy", numpy.__version__)'))"
