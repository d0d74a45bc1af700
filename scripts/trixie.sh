#!/usr/bin/env bash
# Run a command on the Debian trixie stack (DOLFINx 0.9, numpy 2, Python 3.13) inside a chroot built
# with debootstrap from Debian's archive, cached between runs on this machine and rebuilt when missing
# or when its package list changes. The project is bind-mounted at /work/planner inside; the chroot has
# its own venv (/opt/planner-venv) with the project's pip dependencies for that stack.
#   bash scripts/trixie.sh setup            # build/refresh the chroot (≈ 3 min the first time, 3 GB)
#   bash scripts/trixie.sh test [pytest args]   # the fast test suite on trixie
#   bash scripts/trixie.sh run CMD ...      # any command inside, from the project folder
# Needs root (debootstrap, chroot, bind mounts) on a Debian host.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
ROOT=${PLANNER_TRIXIE_ROOT:-/var/cache/planner/trixie}
MIRROR=${PLANNER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# python3-h5py (+ -serial) provide the 'import h5py' wrapper: with --no-install-recommends, python3-h5py-mpi
# alone leaves h5py an empty namespace package (no h5py.File; bookworm's setup.sh gets them as recommends)
PACKAGES=(python3-dolfinx-real python3-gmsh python3-pygalmesh python3-h5py python3-h5py-serial python3-h5py-mpi python3-scipy python3-venv
          python3-pip python3-dev openmpi-bin libopenblas0-pthread libegl1 libegl-mesa0 libgl1-mesa-dri
          build-essential git ca-certificates)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

die() { echo "trixie: $*" >&2; exit 2; }
command -v debootstrap >/dev/null || { $SUDO apt-get update -q; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-upgrade debootstrap </dev/null; }

mounts_up() {
  mkdir -p "$ROOT/work/planner"
  mountpoint -q "$ROOT/proc" || $SUDO mount -t proc proc "$ROOT/proc"
  mountpoint -q "$ROOT/sys" || $SUDO mount --rbind /sys "$ROOT/sys"
  mountpoint -q "$ROOT/dev" || $SUDO mount --rbind /dev "$ROOT/dev"
  mountpoint -q "$ROOT/work/planner" || $SUDO mount --bind "$PROJECT" "$ROOT/work/planner"
}
mounts_down() {
  for m in "$ROOT/work/planner" "$ROOT/dev" "$ROOT/sys" "$ROOT/proc"; do
    mountpoint -q "$m" && $SUDO umount -R "$m" 2>/dev/null || $SUDO umount -lR "$m" 2>/dev/null || true
  done
}
inside() { $SUDO chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 CI="${CI:-}" PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DEFAULT_TIMEOUT=180 bash -c "$1"; }

setup() {
  local want; want=$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$ROOT/.planner-debootstrap" ]; then
    echo "trixie: debootstrap into $ROOT"
    $SUDO rm -rf "$ROOT"; $SUDO mkdir -p "$ROOT"
    $SUDO debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >/dev/null
    touch "$ROOT/.planner-debootstrap"
  fi
  if [ "$(cat "$ROOT/.planner-packages" 2>/dev/null)" != "$want" ]; then
    echo "trixie: apt-get install ${PACKAGES[*]}"
    inside "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${PACKAGES[*]} </dev/null >/dev/null"
    echo "$want" > "$ROOT/.planner-packages"
  fi
  mounts_up
  trap mounts_down EXIT
  # the host's local certificate authorities (e.g. a site proxy's) so pip inside reaches PyPI as here
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    $SUDO cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    inside "update-ca-certificates >/dev/null 2>&1 || true"
  fi
  local deps; deps=$(cat pyproject.toml scripts/constraints-trixie.txt | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$ROOT/.planner-pip" 2>/dev/null)" != "$deps" ]; then
    echo "trixie: venv /opt/planner-venv + pip dependencies"
    inside "[ -x /opt/planner-venv/bin/python ] || python3 -m venv --system-site-packages /opt/planner-venv
            cd /work/planner && /opt/planner-venv/bin/python -m pip install -q --disable-pip-version-check -c scripts/constraints-trixie.txt -e '.[dev]'"
    echo "$deps" > "$ROOT/.planner-pip"
  fi
  inside "cd /work/planner && /opt/planner-venv/bin/python -c 'import dolfinx, numpy; print(\"trixie: ok (dolfinx\", dolfinx.__version__, \"numpy\", numpy.__version__ + \")\")'"
}

case "${1:-}" in
  setup) setup ;;
  test) shift; setup; inside "cd /work/planner && . scripts/env.sh && /opt/planner-venv/bin/python -m pytest -m 'not slow' -p no:cacheprovider ${*:-tests}" ;;
  run) shift; setup; inside "cd /work/planner && . scripts/env.sh && $*" ;;
  *) die "usage: bash scripts/trixie.sh setup | test [pytest args] | run CMD" ;;
esac
