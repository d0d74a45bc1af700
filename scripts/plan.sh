#!/usr/bin/env bash
# Run a plan on a fresh machine: installs what it needs first (scripts/setup.sh, idempotent: seconds
# when already installed), sets the environment the stack needs before Python starts, then runs
# `planner run PLAN.toml [options]`. Default plan: the shipped torso phantom.
#   bash scripts/plan.sh [PLAN.toml] [planner run options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
plan="${1:-phantoms/torso/plan.toml}"
[ $# -gt 0 ] && shift
exec .venv/bin/python -m planner run "$plan" "$@"
