#!/usr/bin/env bash
# The comparison of issue 25, item 2, on specs/cw3_cpu.py: every method at seeds 0-4
# (report: runs/cw3_cpu/comparison/) and the Table 3 ladder at seeds 0-2 (report:
# runs/cw3_cpu/ladder/), seed by seed, two worker processes of one core each.
#
#   bash runs/cw3_cpu/comparison/run.sh [--allow-mixed]
#
# Run it from the repository's root, ideally from a git worktree frozen at one commit
# (editing a checkout changes the code of jobs that have not started yet). Every job so far
# was trained by the learner of commit b0afdd7, run from a worktree of commit 1967fde:
#   git worktree add ../wt 1967fde && cd ../wt
#   for d in jobs comparison ladder; do rm -rf runs/cw3_cpu/$d; ln -s "$OLDPWD/runs/cw3_cpu/$d" runs/cw3_cpu/$d; done
#   PATH=$OLDPWD/.venv/bin:$PATH bash runs/cw3_cpu/comparison/run.sh
# (a job stopped mid-task by Ctrl-C then restarts its episodes: 1967fde predates the exact
# Meta-World resume; later code needs --allow-mixed, and the report names both commits). Job folders
# live in runs/cw3_cpu/jobs/ (a relative --output-dir: every job's spec.json records
# it); the spec.json and metrics.json of finished jobs are committed, so a later
# session keeps them and the same command goes on from there. Unfinished jobs restart.
# Pass --allow-mixed when the learner code changed between sittings: the reports then
# name every commit.
set -eu
METHODS="sacn ft1 ft_l2 ftn ewc packnet pnn csp rewire"
LADDER="sacn ft_l2 rewire_single_no_caching rewire_single rewire_no_alignment rewire_no_multi_mode rewire"
common=(--jobs 2 --output-dir runs/cw3_cpu/jobs --against paper "$@")
for n in 1 2 3 4 5; do
  python -m rewire_eqx compare specs/cw3_cpu.py --seeds "$n" --variants $METHODS \
    --out runs/cw3_cpu/comparison "${common[@]}"
  if (( n <= 3 )); then
    python -m rewire_eqx compare specs/cw3_cpu.py --seeds "$n" --variants $LADDER \
      --out runs/cw3_cpu/ladder "${common[@]}"
  fi
done
