"""Where the rewired learner's extra time goes: whole rounds with one of the method's
parts switched off, timed in turns with the plain and the full rewired learner.

    python -m bench.ablate                           # 7 interleaved windows of ~10 s
    python -m bench.ablate --repeats 3 --window 5

Set-up: `bench.run`'s `cpu` one (Brax HalfCheetah, 16 envs, one gradient update per env
step, 3x128 networks, batch 256; critic updates per actor update 2). Cases:

- `plain`: no permutations;
- `rewired K=3`: the method as `bench.run` times it (Gumbel noise 0.1);
- `no Gumbel noise`: noise scale 0, so no noise is drawn and the scores stay nearly in
  order (cheaper sorts);
- `identity orders`: `permutation.order_from_scores` returns `0..n-1`: no sort, and the
  permutations' gathers become gathers by an iota (XLA may simplify them);
- `no SoftSort backward`: `permutation._softsort` returns the identity matrix, so the
  scores get no gradient and XLA drops the SoftSort products;
- `counting orders`: not an ablation but an alternative with the same results: each
  order from pairwise comparisons (`order_by_counting`) instead of XLA's sort.

`no Gumbel noise`, `identity orders` and `no SoftSort backward` are ablations for
attribution only: they change results. Each case is
traced under its own change, through its own `eqx.filter_jit` wrapper (two wrappers of
one function would share one trace), and the report says for each whether one round
from the same state gives a different result from `rewired K=3`.

Timing: each case runs windows of a fixed number of rounds (about `--window` seconds,
chosen after compilation), every window from the same state; the cases take turns, the
first case rotating every repeat. Reported: microseconds per round, median and min-max.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from bench.common import SETUPS, matmul_peak, sac_spec, warm_state
from rewire_eqx import losses, sac
from rewire_eqx import permutation as perm
from rewire_eqx.envs import JaxVecEnv
from rewire_eqx.envs.base import AbstractVecEnv
from rewire_eqx.envs.brax_env import brax_env
from rewire_eqx.run_folder import keys_as_data


def _identity_orders(scores):
    return jnp.arange(scores.shape[0], dtype=jnp.int32)


def _identity_softsort(sorted_scores, scores, tau):
    return jnp.eye(scores.shape[0], dtype=scores.dtype)


def order_by_counting(scores: Float[Array, " n"]) -> Int[Array, " n"]:
    """`jnp.argsort(scores)` (stable; `-0. == 0.`, NaN last) from pairwise comparisons:
    the rank of score `i` is the number of scores before it (smaller, or equal with a
    lower index), and the order is the inverse of the ranks. Floats are compared as
    integers whose order is the floats' total order, after `-0.` is made `0.` and every
    NaN the same NaN (as `jnp.argsort` does)."""
    canonical = jnp.where(scores == 0, jnp.zeros_like(scores), scores)
    canonical = jnp.where(jnp.isnan(canonical), jnp.nan, canonical)
    bits = jax.lax.bitcast_convert_type(canonical, jnp.int32)
    keys = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats: flip all but the sign
    index = jnp.arange(scores.shape[0])
    before = (keys[None, :] < keys[:, None]) | (
        (keys[None, :] == keys[:, None]) & (index[None, :] < index[:, None])
    )
    return perm.invert(jnp.sum(before, axis=1, dtype=jnp.int32))


@dataclasses.dataclass(frozen=True)
class Ablation:
    """A learner of the benchmark: its modes, Gumbel scale, and the function of
    `rewire_eqx.permutation` replaced while it is traced (if any)."""

    num_modes: int
    noise_scale: float = 0.1
    replace: tuple[str, Callable] | None = None


CASES: dict[str, Ablation] = {
    "plain": Ablation(num_modes=1, noise_scale=0.0),
    "rewired K=3": Ablation(num_modes=3),
    "no Gumbel noise": Ablation(num_modes=3, noise_scale=0.0),
    "identity orders": Ablation(
        num_modes=3, replace=("order_from_scores", _identity_orders)
    ),
    "no SoftSort backward": Ablation(
        num_modes=3, replace=("_softsort", _identity_softsort)
    ),
    "counting orders": Ablation(
        num_modes=3, replace=("order_from_scores", order_by_counting)
    ),
}


@contextlib.contextmanager
def replaced(ablation: Ablation) -> Iterator[None]:
    """`rewire_eqx.permutation` with the ablation's function swapped in (and restored)."""
    if ablation.replace is None:
        yield
        return
    name, function = ablation.replace
    original = getattr(perm, name)
    setattr(perm, name, function)
    try:
        yield
    finally:
        setattr(perm, name, original)


PROBE_ROUNDS = 8
"""Rounds of the calibration window, and of the check that an ablation changes results."""


@dataclasses.dataclass
class Case:
    """One learner, compiled for one window length, timed from one fixed state."""

    name: str
    ablation: Ablation
    learner: sac.Learner
    state: sac.TrainState
    rounds: int = 0
    samples: list[float] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        # a wrapper of its own: a second `filter_jit` of `sac._train_chunk` would reuse
        # the first one's trace, made without (or with another) ablation
        self._chunk = eqx.filter_jit(lambda *args: sac._train_chunk(*args))

    def run(self, rounds: int):
        """`rounds` rounds from the fixed state (traced under the ablation)."""
        with replaced(self.ablation):
            out = self._chunk(self.learner, self.state, losses.NoRegulariser(), rounds)
            return jax.block_until_ready(out)

    def seconds(self, rounds: int) -> float:
        start = time.perf_counter()
        self.run(rounds)
        return time.perf_counter() - start

    def calibrate(self, window_s: float, probe: int = PROBE_ROUNDS) -> None:
        self.seconds(probe)  # compiles
        per_round = min(self.seconds(probe) for _ in range(2)) / probe
        self.rounds = max(probe, round(window_s / per_round))
        self.seconds(self.rounds)  # compiles the window length

    def measure(self) -> None:
        self.samples.append(1e6 * self.seconds(self.rounds) / self.rounds)


def make_cases(env: AbstractVecEnv, names=tuple(CASES)) -> list[Case]:
    """The cases of `names` on `env` with the `cpu` set-up; the rewired ones share one
    initial state (same weights, scores and warm-up)."""
    learner = sac.Learner(sac_spec("cpu"), env)
    states: dict[tuple[int, float], sac.TrainState] = {}
    cases = []
    for name in names:
        ablation = CASES[name]
        key = (ablation.num_modes, ablation.noise_scale)
        if key not in states:
            states[key] = warm_state(
                learner,
                SETUPS["cpu"]["hidden"],
                ablation.num_modes,
                noise_scale=ablation.noise_scale,
            )
        cases.append(Case(name, ablation, learner, states[key]))
    return cases


def _leaves(tree) -> list[np.ndarray]:
    return [
        np.asarray(x) for x in jax.tree.leaves(keys_as_data(eqx.filter(tree, eqx.is_array)))
    ]


def differs(case: Case, reference: Case, rounds: int = PROBE_ROUNDS) -> bool:
    """Whether `rounds` rounds of `case` and `reference` from the same state disagree
    anywhere (state or metrics). The default is the calibration's length, which
    `calibrate` has already compiled."""
    a, b = _leaves(case.run(rounds)), _leaves(reference.run(rounds))
    return not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=tuple(CASES),
        default=[c for c in CASES if c != "counting orders"],
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--out", default="bench/results/ablate.json")
    args = parser.parse_args()
    if args.repeats < 1 or not args.window > 0:
        parser.error(f"--repeats {args.repeats} / --window {args.window}: expected > 0")
    if "rewired K=3" not in args.cases:
        parser.error("--cases must include 'rewired K=3', the reference of the ablations")
    peak_before = matmul_peak()
    env = JaxVecEnv(
        brax_env("halfcheetah"), num_envs=SETUPS["cpu"]["num_envs"], episode_length=1000
    )
    cases = make_cases(env, args.cases)
    for case in cases:
        case.calibrate(args.window)
        print(f"{case.name}: window of {case.rounds} rounds", flush=True)
    reference = next(c for c in cases if c.name == "rewired K=3")
    changed = {c.name: differs(c, reference) for c in cases if c.name != "plain"}
    for repeat in range(args.repeats):
        turn = repeat % len(cases)
        for case in cases[turn:] + cases[:turn]:
            case.measure()
        print(repeat, {c.name: round(c.samples[-1]) for c in cases}, flush=True)
    result = {
        "command": "python -m bench.ablate --cases "
        + " ".join(f'"{c}"' for c in args.cases)
        + f" --repeats {args.repeats} --window {args.window}",
        "jax": jax.__version__,
        "matmul_peak_gflops": {"before": peak_before, "after": matmul_peak()},
        "config": SETUPS["cpu"],
        "cases": {},
    }
    for case in cases:
        result["cases"][case.name] = {
            "median_us_per_round": statistics.median(case.samples),
            "min_us_per_round": min(case.samples),
            "max_us_per_round": max(case.samples),
            "window_rounds": case.rounds,
            "samples": case.samples,
            "differs_from_rewired": changed.get(case.name),
        }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for name, row in result["cases"].items():
        print(
            f"{name}: {row['median_us_per_round']:.0f} "
            f"[{row['min_us_per_round']:.0f}, {row['max_us_per_round']:.0f}] us per round"
        )


if __name__ == "__main__":
    main()
