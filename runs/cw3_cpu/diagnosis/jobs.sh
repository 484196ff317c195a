#!/usr/bin/env bash
# The diagnosis runs of runs/cw3_cpu/diagnosis/README.md: one line per (name, seed,
# overrides). Run as `bash runs/cw3_cpu/diagnosis/jobs.sh OUT_DIR SLOT NSLOTS`: slot k of
# n takes every n-th job, pinned to core k; a job whose metrics.json exists, or whose
# process is alive, is skipped, so the same command resumes after a stop (an unfinished
# job starts over).
set -u
out=${1:-/work/diag}; slot=${2:-0}; nslots=${3:-1}
# task 1 alone (window-close), 60k steps, an evaluation every 5k
T1="--scenario.tasks window-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 12"
# task 2 after task 1 (window-close then faucet-close), 60k steps each
T12="--scenario.tasks window-close-v3 faucet-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 12"
# task 2 alone: the fresh SAC of faucet-close
T2="--scenario.tasks faucet-close-v3 --scenario.budget-scale 0.6 --scenario.evals-per-task 12"
jobs=(
  "t1_clean_forward 100 --permutation.no-noisy-forward $T1"
  "t1_no_noise 100 --permutation.noise-scale 0 $T1"
  "t1_sac 101 --method.name sacn $T1"
  "t1_wiring_lr 100 --sac.wiring-lr 1e-4 $T1"
  "t12_rewire 100 $T12"
  "t1_rewire 101 $T1"
  "t2_sac 100 --method.name sacn $T2"
  "t12_align1 100 --losses.align-beta 1 $T12"
  "t12_align10 100 --losses.align-beta 10 $T12"
  "t12_align0 100 --losses.align-beta 0 $T12"
  "t12_wiring_lr 100 --sac.wiring-lr 1e-4 $T12"
  "t1_wiring_lr 101 --sac.wiring-lr 1e-4 $T1"
  "t12_ft_l2 100 --method.name ft_l2 $T12"
  "t1_k1 100 --method.no-multi-mode $T1"
  "t1_clean_forward 101 --permutation.no-noisy-forward $T1"
  "t1_no_noise 101 --permutation.noise-scale 0 $T1"
)
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
