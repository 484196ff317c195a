"""Where a training round's time goes: each part of the learner timed alone, in its own
compiled loop, beside the whole round (issue: learner speed).

    python -m bench.profile                          # cpu and paper set-ups
    python -m bench.profile --setups cpu --repeats 3 --window 5

Parts, each a `lax.scan` of `n` iterations on the set-up's real state (Brax
HalfCheetah, a replay buffer of `--buffer` transitions, batch 256):

- `round`: one whole collection round (`sac._round`: env step, act, buffer write, and
  the round's gradient updates), i.e. what `train_chunk` repeats;
- `collect`: env step + act + buffer write (`sac._collect`);
- `env step`: the Brax step alone (fixed actions);
- `critic update`, `actor update`: `sac._critic_update`, `sac._actor_update`
  (each with its own buffer sample, optimiser step and, for the critic, the target
  averaging);
- `buffer sample`: one batch gathered from the buffer;
- `actor forward`, `twin critic forward`: one forward pass on a batch (the target
  critics' pass in a critic update is one `twin critic forward`);
- for every other actor of `--actors`, the round, actor update and actor forward again,
  labelled with the actor: `rewired K=3` (the method: 3 modes, Gumbel noise 0.1, the
  distillation target's forward in every actor update), `rewired K=1` (one mode, noise:
  no distillation), `rewired K=1, no noise` (the permutations and their SoftSort
  backward alone). Timing these side by side splits the rewired learner's extra time.

Reported per part: microseconds per iteration (median and min-max over `--repeats`
windows, the parts taking turns) and, for the updates, the share of a round's time that
`updates per round x part` accounts for. The chunk-level copy of the replay buffer (the
compiled chunk does not donate its input) is timed as `buffer copy` (one copy of the
whole buffer, paid once per chunk).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from bench.common import SETUPS, matmul_peak, policy_spec, sac_spec
from rewire_eqx import losses, sac
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.specs import build

ACTORS: dict[str, tuple[int, float]] = {
    "plain": (1, 0.0),
    "rewired K=3": (3, 0.1),
    "rewired K=1": (1, 0.1),
    "rewired K=1, no noise": (1, 0.0),
}
"""Actor name -> (modes K, Gumbel noise scale); `plain` has no permutations."""


@dataclasses.dataclass
class Part:
    """One timed part: `step(arrays, key) -> arrays` looped `iterations` times."""

    name: str
    run: Callable  # (arrays, iterations) -> arrays, compiled
    arrays: object
    iterations: int = 0
    samples: list[float] = dataclasses.field(default_factory=list)

    def window(self, iterations: int) -> float:
        t = time.perf_counter()
        self.arrays = self.run(self.arrays, iterations)
        jax.block_until_ready(self.arrays)
        return time.perf_counter() - t

    def calibrate(self, window_s: float) -> None:
        probe = 4
        self.window(probe)
        seconds = min(self.window(probe) for _ in range(2))
        self.iterations = max(probe, round(probe * window_s / max(seconds, 1e-6)))
        self.window(self.iterations)

    def measure(self) -> None:
        self.samples.append(1e6 * self.window(self.iterations) / self.iterations)


def _looped(step: Callable, static) -> Callable:
    """A compiled loop of `step` over the array part of a PyTree (`iterations` static)."""

    def run(arrays, iterations):
        def body(carry, _):
            arrays, key = carry
            key, sub = jax.random.split(key)
            return (step(eqx.combine(arrays, static), sub), key), None

        (arrays, _), _ = jax.lax.scan(body, (arrays, jax.random.key(0)), length=iterations)
        return arrays

    return eqx.filter_jit(run)


def _arrays(tree):
    return eqx.filter(tree, eqx.is_array)


def parts_of(setup: str, actor_name: str, buffer: int, only=None) -> list[Part]:
    env = JaxVecEnv(
        brax_env("halfcheetah"), num_envs=SETUPS[setup]["num_envs"], episode_length=1000
    )
    learner = sac.Learner(dataclasses.replace(sac_spec(setup), buffer_size=buffer), env)
    num_modes, noise = ACTORS[actor_name]
    policy = policy_spec(learner, SETUPS[setup]["hidden"], num_modes)
    if actor_name != "plain":
        policy = dataclasses.replace(
            policy,
            rewire=True,
            permutation=dataclasses.replace(policy.permutation, noise_scale=noise),
        )
    actor = build(policy, key=jax.random.key(0))
    state = sac.init_state(learner, actor, key=jax.random.key(1))
    state = sac.warmup(learner, state, sac.warmup_rounds(learner))
    # fill the buffer with the warm-up's transitions so samples read real rows
    state = dataclasses.replace(
        state,
        buffer=dataclasses.replace(state.buffer, size=jnp.asarray(buffer, jnp.int32)),
    )
    arrays, static = eqx.partition(state, eqx.is_array)
    none = losses.NoRegulariser()
    batch = learner.spec.batch_size
    obs = jnp.zeros((batch, env.obs_size))
    label = "" if actor_name == "plain" else f"{actor_name}: "

    def with_state(update):
        return lambda s, key: _arrays(update(s, key))

    def round_(s, key):
        return _arrays(sac._round(learner, dataclasses.replace(s, key=key), none)[0])

    def collect(s, key):
        return _arrays(sac._collect(learner, dataclasses.replace(s, key=key))[0])

    def critic(s, key):
        return _arrays(sac._critic_update(learner, s, key)[0])

    def actor_update(s, key):
        return _arrays(sac._actor_update(learner, s, none, key)[0])

    # each forward's whole output feeds the state (scaled to nothing), so none is elided
    def sample(s, key):
        rows = s.buffer.sample(key, batch)
        total = sum(jnp.sum(x) for x in jax.tree.leaves(rows))
        return _arrays(dataclasses.replace(s, log_alpha=s.log_alpha + 1e-30 * total))

    def actor_forward(s, key):
        out = sac._policy_out(s.actor.with_mode(0, key=key), obs + s.log_alpha, s.head)
        return _arrays(dataclasses.replace(s, log_alpha=s.log_alpha + 1e-30 * jnp.sum(out)))

    def critic_forward(s, key):
        q = losses.twin_q(s.target_critic, obs + s.log_alpha, obs[:, : env.action_size])
        return _arrays(dataclasses.replace(s, log_alpha=s.log_alpha + 1e-30 * jnp.sum(q)))

    actions = jnp.zeros((env.num_envs, env.action_size))

    def env_step(s, key):
        env_state, _ = env.step(s.env, actions)
        return _arrays(dataclasses.replace(s, env=env_state))

    def buffer_copy(s, key):  # a new buffer from the old one: one full copy
        rows = s.buffer.rows + s.log_alpha
        return _arrays(
            dataclasses.replace(s, buffer=dataclasses.replace(s.buffer, rows=rows))
        )

    steps = {
        "round": round_,
        "collect": collect,
        "env step": env_step,
        "critic update": critic,
        "actor update": actor_update,
        "buffer sample": sample,
        "actor forward": actor_forward,
        "twin critic forward": critic_forward,
        "buffer copy": buffer_copy,
    }
    if actor_name != "plain":
        keep = ("round", "actor update", "actor forward")
        steps = {k: v for k, v in steps.items() if k in keep}
    if only:
        steps = {k: v for k, v in steps.items() if k in only}
    return [
        Part(name=label + name, run=_looped(step, static), arrays=arrays)
        for name, step in steps.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+", choices=tuple(SETUPS), default=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=float, default=5.0, help="seconds per window")
    parser.add_argument("--buffer", type=int, default=1_280_000)
    parser.add_argument("--parts", nargs="+", help="time only these parts (e.g. round)")
    parser.add_argument(
        "--actors",
        nargs="+",
        choices=tuple(ACTORS),
        default=["plain", "rewired K=3"],
        help="actors to time (plain: every part; the others: round and actor parts)",
    )
    parser.add_argument("--out", default="bench/results/profile.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.window <= 0:
        parser.error("--repeats must be >= 1 and --window > 0")
    results: dict = {
        "command": f"python -m bench.profile --setups {' '.join(args.setups)} "
        f"--repeats {args.repeats} --window {args.window:g} --buffer {args.buffer}"
        + (f" --parts {' '.join(args.parts)}" if args.parts else "")
        + " --actors "
        + " ".join(f'"{a}"' for a in args.actors),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax": jax.__version__,
        "matmul_peak_gflops": matmul_peak(),
        "setups": {},
    }
    for setup in args.setups:
        parts = [
            part
            for actor in args.actors
            for part in parts_of(setup, actor, args.buffer, args.parts)
        ]
        for part in parts:
            part.calibrate(args.window)
            print(f"{setup}/{part.name}: {part.iterations} iterations", flush=True)
        for _ in range(args.repeats):
            for part in parts:
                part.measure()
        rows = {
            p.name: {
                "median_us": statistics.median(p.samples),
                "min_us": min(p.samples),
                "max_us": max(p.samples),
                "iterations": p.iterations,
            }
            for p in parts
        }
        results["setups"][setup] = {"config": SETUPS[setup], "parts": rows}
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(results))


def format_table(results: dict) -> str:
    lines = [
        f"matmul peak {results['matmul_peak_gflops']:.1f} GFLOP/s",
        "",
        "| set-up | part | µs per iteration, median [min, max] | of a round |",
        "|---|---|---|---|",
    ]
    for setup, r in results["setups"].items():
        parts = r["parts"]
        per_round = SETUPS[setup]["updates_per_step"] * SETUPS[setup]["num_envs"]
        delay = 2  # the set-up's policy update delay: one actor update per 2 critic ones
        times = {"critic update": per_round, "actor update": per_round / delay}
        for name, row in parts.items():
            actor, _, plain_name = name.rpartition(": ")
            base = f"{actor}: round" if actor else "round"
            count = times.get(plain_name, 1 if plain_name in ("collect", "env step") else 0)
            share = ""
            if base in parts and count:
                share = f"{100 * count * row['median_us'] / parts[base]['median_us']:.0f}%"
            lines.append(
                f"| {setup} | {name} | {row['median_us']:.0f} "
                f"[{row['min_us']:.0f}, {row['max_us']:.0f}] | {share} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
