"""Hard orders by pairwise comparisons against XLA's sort (issue: learner speed).

    python -m bench.orders                           # defaults below
    python -m bench.orders --sizes 128 256 --repeats 5 --window 10

`permutation.order_and_ranks` computes `argsort(v)` and its inverse by comparisons up to
`permutation._RANK_BY_COMPARISON_MAX` neurons and by `jnp.argsort` above it; both give
the same order, element for element. Setting that threshold to 0 before a function is
traced makes it sort instead, so the two ways can be compiled side by side in one
process and timed in turns:

- `order`: one order (and its inverse) of `n` random scores, in a `lax.scan` loop;
- `round`: one CPU-scale training round (`sac.train_chunk`, Brax HalfCheetah, 16 envs,
  one update per env step, 3x128, batch 256, a 200k-transition buffer) of the rewired
  K=3 learner sorting, the same learner comparing, and the plain learner (no
  permutations) for the rewired / plain ratio of each. The two rewired learners start
  from the same state and stay bit-identical, which the run checks at the end.

Reported: microseconds per iteration, median [min, max] over `--repeats` windows of
about `--window` seconds, the cases taking turns.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from bench.run import _policy_spec, sac_spec, summary
from rewire_eqx import losses, sac
from rewire_eqx import permutation as perm
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.specs import build

WAYS = {"sort": 0, "comparisons": perm._RANK_BY_COMPARISON_MAX}
"""Name -> the threshold the function is traced with."""


def traced_with(threshold: int, trace: Callable[[], None]) -> None:
    """Run `trace` (which compiles) with orders computed the given way."""
    saved = perm._RANK_BY_COMPARISON_MAX
    perm._RANK_BY_COMPARISON_MAX = threshold
    try:
        trace()
    finally:
        perm._RANK_BY_COMPARISON_MAX = saved


@dataclasses.dataclass
class Case:
    """A compiled loop: `step(carry, iterations) -> carry`, timed in windows."""

    name: str
    step: Callable
    carry: object
    iterations: int = 1
    samples: list[float] = dataclasses.field(default_factory=list)

    def window(self, iterations: int) -> float:
        t = time.perf_counter()
        self.carry = jax.block_until_ready(self.step(self.carry, iterations))
        return time.perf_counter() - t

    def calibrate(self, window_s: float, probe: int, iterations: int | None = None) -> None:
        """Choose the window length (or take `iterations`: the same windows as another
        case, so that two learners from one state run the same rounds)."""
        self.window(probe)  # compiles
        seconds = self.window(probe)
        self.iterations = iterations or max(probe, round(probe * window_s / seconds))
        self.window(self.iterations)  # compiles the window length

    def measure(self) -> None:
        self.samples.append(self.window(self.iterations) / self.iterations * 1e6)


def order_cases(n: int, window_s: float) -> list[Case]:
    cases = []
    for way, threshold in WAYS.items():

        def loop(scores, iterations):
            def body(s, _):
                order, ranks = perm.order_and_ranks(s)
                # the next scores depend on this order: nothing can be hoisted
                return s.at[order[0]].add(1e-3 * ranks[0].astype(s.dtype)), None

            return jax.lax.scan(body, scores, length=iterations)[0]

        case = Case(
            f"order, n={n}, {way}",
            jax.jit(loop, static_argnums=1),
            jax.random.uniform(jax.random.key(0), (n,)),
        )
        traced_with(threshold, lambda case=case: case.calibrate(window_s, 200))
        cases.append(case)
    return cases


def round_cases(window_s: float) -> list[Case]:
    env = JaxVecEnv(brax_env("halfcheetah"), num_envs=16, episode_length=1000)
    learner = sac.Learner(dataclasses.replace(sac_spec("cpu"), buffer_size=200_000), env)
    regulariser = losses.NoRegulariser()
    cases = []
    for name, modes, threshold in (
        ("round, rewired K=3, sort", 3, WAYS["sort"]),
        ("round, rewired K=3, comparisons", 3, WAYS["comparisons"]),
        ("round, plain", 1, WAYS["comparisons"]),
    ):
        actor = build(_policy_spec(learner, (128, 128, 128), modes), key=jax.random.key(0))
        state = sac.init_state(learner, actor, key=jax.random.key(1))
        state = sac.warmup(learner, state, sac.warmup_rounds(learner))
        chunk = eqx.filter_jit(
            lambda state, rounds: sac._train_chunk(learner, state, regulariser, rounds)[0]
        )
        case = Case(name, chunk, state)
        same_rounds = cases[0].iterations if name.endswith("comparisons") else None
        traced_with(threshold, lambda c=case, r=same_rounds: c.calibrate(window_s, 8, r))
        cases.append(case)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256, 1024])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--no-round", action="store_true", help="orders alone only")
    parser.add_argument("--out", default="bench/orders_results.json")
    args = parser.parse_args()
    if args.repeats < 1 or args.window <= 0 or min(args.sizes) < 1:
        parser.error(
            f"--repeats {args.repeats} / --window {args.window} / --sizes {args.sizes}: "
            "expected >= 1 / > 0 / >= 1"
        )
    cases = [c for n in args.sizes for c in order_cases(n, args.window / 4)]
    if not args.no_round:
        cases += round_cases(args.window)
    for _ in range(args.repeats):
        for case in cases:
            case.measure()
    rows = {case.name: summary(case.samples) for case in cases}
    results: dict = {
        "command": f"python -m bench.orders --sizes {' '.join(map(str, args.sizes))} "
        f"--repeats {args.repeats} --window {args.window:g}"
        + (" --no-round" if args.no_round else ""),
        "jax": jax.__version__,
        "us_per_iteration": rows,
    }
    if not args.no_round:
        sort, compare, plain = cases[-3:]
        results["rewired_over_plain"] = {
            way: rows[plain.name]["median"] / rows[case.name]["median"]
            for way, case in (("sort", sort), ("comparisons", compare))
        }
        same = jax.tree.map(
            lambda a, b: bool(jnp.all(a == b)),
            eqx.filter(sort.carry, eqx.is_inexact_array),
            eqx.filter(compare.carry, eqx.is_inexact_array),
        )
        results["rewired_states_identical"] = all(jax.tree.leaves(same))
    Path(args.out).write_text(json.dumps(results, indent=2))
    print("| case | µs per iteration, median [min, max] |\n|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['median']:.1f} [{row['min']:.1f}, {row['max']:.1f}] |")
    for key in ("rewired_over_plain", "rewired_states_identical"):
        if key in results:
            print(f"{key}: {results[key]}")


if __name__ == "__main__":
    main()
