"""Confidence intervals for comparisons: the stratified percentile bootstrap.

A method's scores form a `runs x tasks` matrix (one row per seed). The stratified
bootstrap (Agarwal et al. 2021, as in the rliable library) resamples the runs with
replacement independently within each task and recomputes the aggregate, here the mean
over tasks of the mean over runs; the interval is the percentile interval of those
replicates. With one task it is the ordinary bootstrap of the mean over runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Float

__all__ = ["Interval", "stratified_bootstrap"]


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
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(
            f"scores: expected a non-empty runs x tasks matrix, got {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores: every entry must be finite")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: expected a number in (0, 1)")
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    replicates = np.take_along_axis(scores[None], rows, axis=1).mean(axis=(1, 2))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(float(scores.mean()), float(low), float(high))
