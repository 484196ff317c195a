"""Throughput of Continual World training (Meta-World v3 stepped on the host).

    python -m bench.cw                 # writes bench/results/cw.json

Measures, after compilation, with `--repeats` interleaved windows each:

* the host engine alone: one Meta-World env stepped from a Python loop (random actions);
* the same env through `HostVecEnv` inside a jitted `lax.scan` (random actions drawn in
  JAX): the difference is the cost of the `io_callback`;
* full training (one env step + one SAC update per round) at the CPU-scale set-up
  (`specs/cw3_cpu.py`: 3x128) and at the published one (`specs/cw10.py`: 3x256), for a
  plain and a rewired K=3 actor (the Continual World setting: Dropout 0.1, no Gumbel
  noise, the alignment's coefficient 0 as on a first task), with the paper's
  1M-transition buffer;
* at the CPU-scale set-up, the rewired actor with one of its costs changed, to split
  its time: Gumbel noise 0.1 instead of Dropout (the former setting), neither, the
  alignment regulariser on (coefficient 10, as on every later task) or not computed at
  all (no regulariser: what this benchmark timed until 2026-12-07; since the
  regularisers skip a term of coefficient 0, the library computes it only from the
  second task on), and a candidate not in the library: Dropout masks from 16-bit random
  draws (`jax.random.bits` with `uint16`, half the threefry words of
  `jax.random.bernoulli`'s 32-bit uniforms; keep probability 58982/65536 = 0.899994
  instead of 0.9). A second candidate, every mask of a batched pass from one draw, was
  adopted by the library on 2026-12-07 (`PlainMLP.dropout_masks`).

Each set-up is traced and compiled through its own `eqx.filter_jit` wrapper of
`sac._train_chunk` (a shared wrapper would hand a set-up of equal shapes the program
compiled for another).

`--setups` times a subset (names as printed; the host loop and scan always run).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path
from unittest import mock

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from rewire_eqx import losses, sac
from rewire_eqx.envs.host import _ENGINES
from rewire_eqx.envs.metaworld_env import metaworld_vec_env
from rewire_eqx.scenarios import cw_cpu_run, cw_run
from rewire_eqx.specs import build

TASK = "window-close-v3"


def _host_loop(steps: int) -> float:
    env = metaworld_vec_env(TASK, num_envs=1)
    engine = _ENGINES[int(env.handle)]
    engine.reset(0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        engine.step(rng.uniform(-1, 1, (1, 4)))
    return steps / (time.perf_counter() - start)


@eqx.filter_jit
def _scan_steps(env, state, key, steps: int):
    def body(state, key):
        action = jax.random.uniform(key, (env.num_envs, env.action_size), minval=-1)
        return env.step(state, action)[0], None

    return jax.lax.scan(body, state, jax.random.split(key, steps))[0]


def _callback_loop(steps: int, env, state) -> tuple[float, object]:
    start = time.perf_counter()
    state = _scan_steps(env, state, jax.random.key(1), steps)
    jax.block_until_ready(state.obs)
    return steps / (time.perf_counter() - start), state


def _training(spec, rewired: bool, align_beta: float | None = 0.0):
    """A warm learner state and its regulariser: a rewired actor gets Rewire's
    alignment with coefficient `align_beta` (skipped by the library at 0) unless
    `align_beta` is None (no regulariser)."""
    spec = dataclasses.replace(
        spec, method=dataclasses.replace(spec.method, name="rewire" if rewired else "sacn")
    )
    sac_spec = spec.sac_for_run
    learner = sac.Learner(sac_spec, metaworld_vec_env(TASK, num_envs=1))
    actor = build(spec.policy_spec(39, 4), key=jax.random.key(0))
    state = sac.begin_task(learner, actor, head=0, key=jax.random.key(1))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    regulariser = (
        losses.AlignmentRegulariser(actor.body, align_beta)
        if rewired and align_beta is not None
        else losses.NoRegulariser()
    )
    return learner, state, regulariser


def _permutation(spec, **changes):
    return dataclasses.replace(
        spec, permutation=dataclasses.replace(spec.permutation, **changes)
    )


def _bernoulli_16bit(key, p=0.5, shape=None):
    """`jax.random.bernoulli` from 16-bit draws: `P(True) = round(p 2^16) / 2^16`."""
    shape = jnp.shape(p) if shape is None else shape
    return jax.random.bits(key, shape, jnp.uint16) < jnp.uint16(round(p * 65536))


CANDIDATES = {
    "masks from 16-bit draws": lambda: mock.patch.object(
        jax.random, "bernoulli", _bernoulli_16bit
    ),
}
"""Candidate name (as it appears in a set-up's name) -> the change put in place while
that set-up is traced and compiled."""


def _candidate_change(setup: str):
    """The change of the candidate named in `setup`, or no change."""
    for candidate, make in CANDIDATES.items():
        if candidate in setup:
            return make()
    return contextlib.nullcontext()


def _train_window(trainer, rounds: int) -> float:
    """Train `rounds` rounds with the set-up's own compiled chunk; env steps per second."""
    start = time.perf_counter()
    trainer["state"], metrics = trainer["chunk"](
        trainer["learner"], trainer["state"], trainer["regulariser"], rounds
    )
    jax.block_until_ready(metrics.critic_loss)
    return rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4000, help="rounds per window")
    parser.add_argument("--setups", nargs="+", help="time only these training set-ups")
    parser.add_argument("--out", default="bench/results/cw.json")
    args = parser.parse_args()

    env = metaworld_vec_env(TASK, num_envs=1)
    env_state = env.reset(jax.random.key(0))
    # the number of steps and rounds is static: warm up with the windows' own, so that
    # no window pays a compilation
    _, env_state = _callback_loop(args.rounds, env, env_state)
    cpu = cw_cpu_run()
    setups = {
        "cw3_cpu 3x128 plain": (cpu, False, 0.0),
        "cw3_cpu 3x128 rewired K=3": (cpu, True, 0.0),
        "cw3_cpu 3x128 rewired K=3, Gumbel 0.1 instead of Dropout": (
            _permutation(cpu, dropout=0.0, noise_scale=0.1),
            True,
            0.0,
        ),
        "cw3_cpu 3x128 rewired K=3, no Dropout, no noise": (
            _permutation(cpu, dropout=0.0, noise_scale=0.0),
            True,
            0.0,
        ),
        "cw3_cpu 3x128 rewired K=3, alignment 10": (cpu, True, 10.0),
        "cw3_cpu 3x128 rewired K=3, alignment not computed": (cpu, True, None),
        "cw3_cpu 3x128 rewired K=3, masks from 16-bit draws (candidate)": (cpu, True, 0.0),
        "cw10 3x256 plain": (cw_run("cw10"), False, 0.0),
        "cw10 3x256 rewired K=3": (cw_run("cw10"), True, 0.0),
    }
    unknown = sorted(set(args.setups or ()) - set(setups))
    if unknown:
        parser.error(f"--setups: unknown {unknown}; valid: {list(setups)}")
    if args.setups:
        setups = {name: setups[name] for name in args.setups}
    trainers = {}
    for name, (spec, rewired, beta) in setups.items():
        learner, state, regulariser = _training(spec, rewired, beta)
        trainers[name] = trainer = {
            "learner": learner,
            "state": state,
            "regulariser": regulariser,
            "chunk": eqx.filter_jit(lambda *args: sac._train_chunk(*args)),
        }
        with _candidate_change(name):  # traced and compiled here, at the windows' length
            _train_window(trainer, args.rounds)
    samples: dict[str, list[float]] = {"host loop": [], "HostVecEnv scan": []}
    samples |= {name: [] for name in setups}
    for _ in range(args.repeats):  # interleaved, so drifts of the machine hit all alike
        samples["host loop"].append(_host_loop(args.rounds))
        rate, env_state = _callback_loop(args.rounds, env, env_state)
        samples["HostVecEnv scan"].append(rate)
        for name, trainer in trainers.items():
            samples[name].append(_train_window(trainer, args.rounds))
    rows = {
        name: {
            "median": statistics.median(v),
            "min": min(v),
            "max": max(v),
            "samples": v,
        }
        for name, v in samples.items()
    }
    host, scan = rows["host loop"]["median"], rows["HostVecEnv scan"]["median"]
    result = {
        "command": f"python -m bench.cw --repeats {args.repeats} --rounds {args.rounds}"
        + (
            " --setups " + " ".join(f'"{name}"' for name in args.setups)
            if args.setups
            else ""
        ),
        "machine": {"platform": platform.platform(), "devices": str(jax.devices())},
        "task": TASK,
        "rounds_per_window": args.rounds,
        "env_steps_per_s": rows,
        "callback_overhead_per_step_ms": 1e3 * (1 / scan - 1 / host),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, row in rows.items():
        print(
            f"{name:58s} {row['median']:8.1f} env steps/s  "
            f"[{row['min']:.1f}, {row['max']:.1f}]"
        )
    print(f"callback overhead: {result['callback_overhead_per_step_ms']:.3f} ms per step")


if __name__ == "__main__":
    main()
