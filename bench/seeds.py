"""Seeds in one program: throughput of 1, 4 and 8 seeds trained together on Brax
HalfCheetah, through the path the runner takes (`rewire_eqx.seeds.train_chunks`: stack
the seeds' states, one vmapped and, with several devices, sharded call, unstack).

    python -m bench.seeds                                   # cpu set-up, 1/4/8 seeds
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m bench.seeds \\
        --out bench/results/seeds_2dev.json                 # the seed axis over 2 devices

Each seed count runs windows of a fixed number of collection rounds (chosen after
compilation so that a window takes about `--window` seconds); the counts take turns,
window by window, for `--repeats` rounds, so all share the machine's state. Reported:
env steps per second summed over the seeds (median and min-max), and the wall time of
n seeds trained together over that of one seed for the same steps per seed ("time vs
one seed": n means no gain over running them one after another, 1 that seeds are free).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import jax

from bench.common import SETUPS, matmul_peak, policy_spec, sac_spec, summary
from rewire_eqx import losses, sac
from rewire_eqx import seeds as seed_batch
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.specs import build


@dataclasses.dataclass
class SeedGroup:
    """`count` seeds of one learner, trained together window by window."""

    count: int
    items: list
    rounds: int = 0
    samples: list[float] = dataclasses.field(default_factory=list)

    def window(self, rounds: int) -> float:
        t = time.perf_counter()
        results = seed_batch.train_chunks(self.items, rounds)
        jax.block_until_ready([metrics for _, metrics in results])
        seconds = time.perf_counter() - t
        self.items = [
            (learner, state, reg)
            for (learner, _, reg), (state, _) in zip(self.items, results)
        ]
        return seconds

    def measure(self, num_envs: int) -> None:
        seconds = self.window(self.rounds)
        self.samples.append(self.count * self.rounds * num_envs / seconds)


def make_group(setup: str, env: JaxVecEnv, count: int, window_s: float, buffer: int):
    spec = dataclasses.replace(sac_spec(setup), buffer_size=buffer)
    learner = sac.Learner(spec, env)
    items = []
    for seed in range(count):
        actor = build(
            policy_spec(learner, SETUPS[setup]["hidden"], 1), key=jax.random.key(seed)
        )
        state = sac.init_state(learner, actor, key=jax.random.key(1000 + seed))
        state = sac.warmup(learner, state, sac.warmup_rounds(learner))
        items.append((learner, state, losses.NoRegulariser()))
    group = SeedGroup(count=count, items=items)
    probe = 4
    group.window(probe)  # compiles
    seconds = min(group.window(probe) for _ in range(2))
    group.rounds = max(probe, round(probe * window_s / seconds))
    group.window(group.rounds)  # compiles the window length
    print(f"{count} seed(s): window of {group.rounds} rounds", flush=True)
    return group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=tuple(SETUPS), default="cpu")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per window")
    parser.add_argument(
        "--buffer", type=int, default=200_000, help="replay capacity per seed"
    )
    parser.add_argument("--out", default="bench/results/seeds.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.window <= 0 or min(args.counts) < 1:
        parser.error("--repeats and --counts must be >= 1, --window > 0")
    env = JaxVecEnv(
        brax_env("halfcheetah"),
        num_envs=SETUPS[args.setup]["num_envs"],
        episode_length=1000,
    )
    peak = matmul_peak()
    groups = [make_group(args.setup, env, n, args.window, args.buffer) for n in args.counts]
    for _ in range(args.repeats):
        for group in groups:
            group.measure(env.num_envs)
    rows = {str(g.count): summary(g.samples) for g in groups}
    base = rows[str(min(args.counts))]["median"] / min(args.counts)
    for n, row in rows.items():
        row["time_vs_one_seed"] = base * int(n) / row["median"]
        row["window_rounds"] = next(g.rounds for g in groups if str(g.count) == n)
    results = {
        "command": "python -m bench.seeds "
        + f"--setup {args.setup} --counts {' '.join(map(str, args.counts))} "
        + f"--repeats {args.repeats} --window {args.window:g} --buffer {args.buffer}",
        "devices": jax.device_count(),
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "matmul_peak_gflops": peak,
        "config": SETUPS[args.setup],
        "seeds": rows,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"{jax.device_count()} device(s), matmul peak {peak:.1f} GFLOP/s")
    print("| seeds | env steps/s (all seeds), median [min, max] | time vs one seed |")
    print("|---|---|---|")
    for n, row in rows.items():
        print(
            f"| {n} | {row['median']:.0f} [{row['min']:.0f}, {row['max']:.0f}] "
            f"| {row['time_vs_one_seed']:.2f} |"
        )


if __name__ == "__main__":
    main()
