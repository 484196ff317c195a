"""Confidence intervals for comparisons: the stratified percentile bootstrap.

A method's scores form a `runs x tasks` matrix (one row per seed). The stratified
bootstrap (Agarwal et al. 2021, as in the rliable library) resamples the runs with
replacement independently within each task and recomputes the aggregate, here the mean
over tasks of the mean over runs; the interval is the percentile interval of those
replicates. With one task it is the ordinary bootstrap of the mean over runs.

Two methods compare by the difference of their means (`bootstrap_difference`) and by the
probability of improvement (`probability_of_improvement`, rliable's definition): the
mean over tasks of P(X > Y) + P(X = Y) / 2 for a run X of one method and a run Y of the
other on that task. Their runs are independent, so each method is resampled on its own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Float

__all__ = [
    "Interval",
    "bootstrap_difference",
    "probability_of_improvement",
    "stratified_bootstrap",
]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{_num(self.point)} [{_num(self.low)}, {_num(self.high)}]"


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"


def stratified_bootstrap(
    scores: Float[np.ndarray, "runs tasks"],
    *,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of `scores` over tasks (of the mean over runs) with a stratified percentile
    bootstrap interval: each replicate draws, for every task separately, `runs` rows
    with replacement."""
    scores = _checked(scores, confidence)
    rng = np.random.default_rng(seed)
    replicates = _resampled(scores, reps, rng).mean(axis=(1, 2))
    return _percentile_interval(float(scores.mean()), replicates, confidence)


def bootstrap_difference(
    first: Float[np.ndarray, "runs tasks"],
    second: Float[np.ndarray, "other_runs tasks"],
    *,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of `first` minus mean of `second` (each over tasks of the mean over runs),
    with a percentile interval from stratified bootstrap replicates of each, drawn
    independently (`first`'s from the generator first)."""
    first, second = _checked(first, confidence), _checked(second, confidence)
    rng = np.random.default_rng(seed)
    replicates = _resampled(first, reps, rng).mean(axis=(1, 2))
    replicates = replicates - _resampled(second, reps, rng).mean(axis=(1, 2))
    return _percentile_interval(float(first.mean() - second.mean()), replicates, confidence)


def probability_of_improvement(
    first: Float[np.ndarray, "runs tasks"],
    second: Float[np.ndarray, "other_runs tasks"],
    *,
    reps: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """P(first > second): on each task, the share of (run of `first`, run of `second`)
    pairs where the first scores higher, ties counting one half (the Mann-Whitney U
    statistic over the number of pairs); averaged over tasks. The interval comes from
    stratified bootstrap replicates of both, drawn independently."""
    first, second = _checked(first, confidence), _checked(second, confidence)
    rng = np.random.default_rng(seed)
    replicates = _improvement(_resampled(first, reps, rng), _resampled(second, reps, rng))
    point = _improvement(first[None], second[None])[0]
    return _percentile_interval(float(point), replicates, confidence)


def _improvement(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per replicate (leading axis), the mean over tasks of P(X > Y) + P(X = Y) / 2."""
    x, y = first[:, :, None, :], second[:, None, :, :]
    wins = (x > y).astype(np.float64) + 0.5 * (x == y)
    return wins.mean(axis=(1, 2, 3))


def _checked(scores, confidence: float) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(
            f"scores: expected a non-empty runs x tasks matrix, got {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores: every entry must be finite")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: expected a number in (0, 1)")
    return scores


def _resampled(scores: np.ndarray, reps: int, rng) -> np.ndarray:
    """`reps` stratified resamples, `reps x runs x tasks`: for every task separately,
    `runs` rows drawn with replacement."""
    runs, tasks = scores.shape
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    return np.take_along_axis(scores[None], rows, axis=1)


def _percentile_interval(point: float, replicates: np.ndarray, confidence: float):
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(point, float(low), float(high))
