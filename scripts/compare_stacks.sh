#!/usr/bin/env bash
# The shipped phantom plans on both FEniCSx stacks, from the SAME meshes, number by number (issue 13:
# "the shipped phantom plans give the same summary numbers on both stacks to 1e-6 relative").
#   bash scripts/compare_stacks.sh [PLAN.toml ...]     # default: every phantoms/*/plan*.toml
# 1. bookworm (this machine): runs every plan with PLANNER_MESH_CACHE=$OUT/meshes, so each mesh (plan
#    primitives with gmsh, label volumes with CGAL, implant sub-models with gmsh) is made once and saved;
# 2. trixie (DOLFINx 0.9, scripts/trixie.sh chroot): runs the same plans reading those meshes (fails if
#    it had to make one: gmsh 4.13 would mesh differently);
# 3. compares every number of each pair of summary.json (scripts/compare_results.py rules) at 1e-6
#    relative and prints a table: plan, numbers compared, largest relative difference, wall times.
# OUT (default results-stacks, inside the project: the chroot sees the project only) is replaced.
# All seven plans: ≈ 30 min on this shared 2-core machine (the implant plans dominate), so .ci/run runs
# two (torso: gmsh primitives, head: CGAL label mesh; ≈ 3 min); run it without arguments for all.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PLANNER_STACKS_OUT:-results-stacks}
case "$OUT" in /*|*..*) echo "compare_stacks: PLANNER_STACKS_OUT=$OUT: expected a relative path inside the project" >&2; exit 2 ;; esac
RTOL=${PLANNER_STACKS_RTOL:-1e-6}
bash scripts/setup.sh
. scripts/env.sh
rm -rf "$OUT"
.venv/bin/python -m benchmarks.stack_plans run "$OUT" bookworm "$@"
# the chroot is shared by every checkout on this machine: one user at a time
lock=(); command -v flock >/dev/null && lock=(flock "${PLANNER_TRIXIE_LOCK:-/tmp/trixie.lock}")
"${lock[@]}" bash scripts/trixie.sh run /opt/planner-venv/bin/python -m benchmarks.stack_plans run "$OUT" trixie --require-cached "$@"
.venv/bin/python -m benchmarks.stack_plans compare "$OUT" bookworm trixie --rtol "$RTOL"
