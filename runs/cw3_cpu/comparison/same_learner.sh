#!/usr/bin/env bash
# Do the learners of commits b0afdd7 (the baselines' seed 0) and 968d9e4 (everything
# after) train a baseline identically? Runs FT-L2 and CSP on specs/cw3_cpu.py at 3% of
# the budget (3,000 steps per task) from worktrees of both commits and compares R, the
# evaluation curves and the per-chunk training trace (losses, entropy, temperature)
# exactly; writes runs/cw3_cpu/comparison/same_learner.json.
#
#   bash runs/cw3_cpu/comparison/same_learner.sh OLD_WORKTREE NEW_WORKTREE SCRATCH
#
# e.g. worktrees of 1967fde (learner b0afdd7) and 968d9e4, and SCRATCH=/tmp/same_learner.
set -eu
old=$1 new=$2 scratch=$3 here=$PWD
for method in ft_l2 csp; do
  for tree in "$old" "$new"; do
    (cd "$tree" && python -m rewire_eqx run specs/cw3_cpu.py --method.name "$method" \
      --scenario.budget-scale 0.03 --output-dir "$scratch/$(basename "$tree")/$method" > /dev/null)
  done
done
python - "$scratch" "$(basename "$old")" "$(basename "$new")" > "$here/runs/cw3_cpu/comparison/same_learner.json" <<'PY'
import glob, json, sys
scratch, old, new = sys.argv[1:]
rows = {}
for method in ("ft_l2", "csp"):
    a, b = (json.load(open(glob.glob(f"{scratch}/{t}/{method}/*/*/metrics.json")[0])) for t in (old, new))
    rows[method] = {
        "commits": [a["code"]["commit"], b["code"]["commit"]],
        "env_steps": a["env_steps"],
        "R_identical": a["R"] == b["R"],
        "curves_identical": a["curves"] == b["curves"],
        "train_trace_identical": a["train_trace"] == b["train_trace"],
        "train_trace_values": sum(len(r) for task in a["train_trace"] for r in task),
    }
print(json.dumps({"command": "bash runs/cw3_cpu/comparison/same_learner.sh OLD NEW SCRATCH", "methods": rows}, indent=2))
PY
cat "$here/runs/cw3_cpu/comparison/same_learner.json"
