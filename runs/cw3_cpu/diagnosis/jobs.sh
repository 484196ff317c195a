#!/usr/bin/env bash
# The diagnosis runs of runs/cw3_cpu/diagnosis/README.md. Each line of a job list
# (round1.txt, round2.txt) is "name seed overrides". Run as
# `bash runs/cw3_cpu/diagnosis/jobs.sh OUT_DIR SLOT NSLOTS [LIST]`: slot k of n takes
# every n-th job of LIST, pinned to core k; a job whose metrics.json exists, or whose
# process is alive, is skipped, so the same command resumes after a stop (an unfinished
# job starts over).
set -u
out=${1:-/work/diag}; slot=${2:-0}; nslots=${3:-1}
list=${4:-$(dirname "$0")/round1.txt}
# task 1 alone (window-close), 60k steps, an evaluation every 5k
T1="--scenario.tasks window-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 20"
# task 2 after task 1 (window-close then faucet-close), 60k steps each
T12="--scenario.tasks window-close-v3 faucet-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 20"
# task 2 alone: the fresh SAC of faucet-close
T2="--scenario.tasks faucet-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 20"
jobs=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  jobs+=("$(eval echo "\"$line\"")")  # expand $T1, $T12, $T2
done < "$list"
i=0
for job in "${jobs[@]}"; do
  if (( i % nslots == slot )); then
    read -r name seed args <<<"$job"
    dir="$out/$name/seed$seed"
    alive=0
    if [[ -f "$dir.pid" ]] && kill -0 "$(cat "$dir.pid")" 2>/dev/null; then
      alive=1  # started by an earlier driver: wait for it, then go on
      while kill -0 "$(cat "$dir.pid")" 2>/dev/null; do sleep 10; done
    fi
    if (( alive == 0 )) && ! ls "$dir"/cw3_cpu/*/metrics.json >/dev/null 2>&1; then
      rm -rf "$dir"; mkdir -p "$dir"
      echo "$(date +%T) start $name seed $seed"
      # shellcheck disable=SC2086
      taskset -c "$slot" python -m rewire_eqx run specs/cw3_cpu.py --seed "$seed" \
        $args --output-dir "$dir" > "$dir.log" 2>&1 &
      echo $! > "$dir.pid"
      wait $!
      echo "$(date +%T) done $name seed $seed (exit $?)"
    fi
  fi
  i=$((i + 1))
done
