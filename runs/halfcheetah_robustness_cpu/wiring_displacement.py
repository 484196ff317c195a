"""One-off: how far each Rewire run's task-1 wiring moved the hidden neurons, as the
mean |position change| / n per layer (a uniformly random re-ordering gives (n^2-1)/(3n^2),
about 0.333), beside the share re-placed."""

import sys
from pathlib import Path

import jax
import numpy as np

from rewire_eqx.heads import _states_after_tasks

for run_dir in sys.argv[1:]:
    spec, progress, method, _, states = _states_after_tasks(Path(run_dir))
    start = method.training_actor(states[0], 1, key=jax.random.key(0)).mode_orders(0)
    end = states[1].actor.mode_orders(0)
    shift, moved = [], []
    for a, b in zip(start, end):
        a, b = np.asarray(a), np.asarray(b)
        pa, pb = np.argsort(a), np.argsort(b)  # position of each neuron
        shift.append(np.mean(np.abs(pa - pb)) / a.shape[0])
        moved.append(np.mean(a != b))
    print(
        f"| {spec.name.removeprefix('halfcheetah_robustness_cpu_')} | {spec.seed} | "
        + " / ".join(f"{m:.2f}" for m in moved)
        + " | "
        + " / ".join(f"{s:.3f}" for s in shift)
        + " |"
    )
