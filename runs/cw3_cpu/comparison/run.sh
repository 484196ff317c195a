#!/usr/bin/env bash
# The comparison of issue 25, item 2, on specs/cw3_cpu.py: every method at seeds 0-4
# (report: runs/cw3_cpu/comparison/), then the Table 3 ladder at seeds 0-2 (report:
# runs/cw3_cpu/ladder/), two worker processes of one core each. Jobs start seed by seed
# (every method's seed 0 first), and one command covers all seeds, so that no core waits
# for the last job of a seed. A stopped comparison keeps its finished jobs; for a report
# of the k seeds finished so far, run the first command with --seeds k (it trains
# nothing then).
#
#   bash runs/cw3_cpu/comparison/run.sh [--allow-mixed]
#
# Run it from the repository's root, from a git worktree frozen at one commit (editing a
# checkout changes the code of jobs that have not started yet). Every job from Rewire's
# seed 0 (Dropout) on runs on the learner of commit 968d9e4: keep to it, so that the
# comparison has one learner apart from the baselines' seed 0:
#   git worktree add ../wt 968d9e4 && cd ../wt
#   for d in jobs comparison ladder; do rm -rf runs/cw3_cpu/$d; ln -s "$OLDPWD/runs/cw3_cpu/$d" runs/cw3_cpu/$d; done
#   PATH=$OLDPWD/.venv/bin:$PATH bash runs/cw3_cpu/comparison/run.sh --allow-mixed
# Seed 0 of the eight baselines was trained by the learner of commit b0afdd7 (from a
# worktree of 1967fde); Rewire and the ladder's Rewire rungs were then re-specified
# (Dropout 0.1 instead of Gumbel noise, round 3 of docs/results/cw3_cpu.md), their
# Gumbel-noise jobs moved to runs/cw3_cpu/jobs_gumbel/, and everything after runs on later
# code: hence --allow-mixed, and the reports name every commit. Job folders live in
# runs/cw3_cpu/jobs/ (a relative --output-dir: every job's spec.json records it); the
# spec.json and metrics.json of finished jobs are committed, so a later session keeps them
# and the same command goes on from there; an unfinished job resumes from its last
# checkpoint (every 25k steps; exact on Meta-World since the host env state is saved).
set -eu
METHODS="sacn ft1 ft_l2 ftn ewc packnet pnn csp rewire"
LADDER="sacn ft_l2 rewire_single_no_caching rewire_single rewire_no_alignment rewire_no_multi_mode rewire"
common=(--jobs 2 --output-dir runs/cw3_cpu/jobs --against paper "$@")
python -m rewire_eqx compare specs/cw3_cpu.py --seeds 5 --variants $METHODS \
  --out runs/cw3_cpu/comparison "${common[@]}"
python -m rewire_eqx compare specs/cw3_cpu.py --seeds 3 --variants $LADDER \
  --out runs/cw3_cpu/ladder "${common[@]}"
