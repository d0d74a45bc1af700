#!/usr/bin/env bash
# Run the whole fast test suite (unit, MPI, CI-size benchmarks, notebooks). Sets up first (idempotent,
# fast when already installed) and sets the environment the stack needs before Python starts.
set -euo pipefail
cd "$(dirname "$0")/.."
# --trixie: afterwards run the same suite on the Debian trixie stack (DOLFINx 0.9) in a cached chroot
trixie=0
if [ "${1:-}" = "--trixie" ]; then trixie=1; shift; fi
bash scripts/setup.sh
. scripts/env.sh
# static checks first (seconds): lint + import order, types
.venv/bin/ruff check planner tests benchmarks scripts
.venv/bin/mypy
args=(-m "not slow")
if compgen -G "notebooks/*.ipynb" >/dev/null; then args+=(--nbmake notebooks); fi
.venv/bin/python -m pytest "${args[@]}" tests "$@"
if [ "$trixie" = 1 ]; then bash scripts/trixie.sh test; fi
