"""Continual-learning metrics from the reward matrix and the training curves.

`R[i, j]` is the reward on task j after training task i (NaN where not evaluated).
Definitions follow the paper's Appendix A.3 and Continual World:

* average performance: `mean_j R[T-1, j] / ref_j` (raw rewards when no reference);
* forgetting: `(R[j, j] - R[T-1, j]) / ref_j` per task;
* forward transfer: `(AUC_j - AUC_ref_j) / (1 - AUC_ref_j)`, with `AUC_j` the mean of
  task j's (normalised) evaluation curve during its own training;
* model size: the maximum policy parameters over the run over one plain policy's.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "SCORE_DESCRIPTIONS",
    "average_performance",
    "curve_auc",
    "forgetting",
    "forward_transfer",
    "score_description",
    "score_of",
    "steps_to",
    "summarise",
    "trace_column",
]


SCORE_DESCRIPTIONS = {
    "return": "mean episode return",
    "success_any_step": "success rate (an episode succeeds if info['success'] is "
    "raised at any step: Continual World)",
    "success_last_step": "success rate (an episode succeeds if info['success'] is "
    "raised at its last step: the published Rewire/CSP code)",
}
"""What `R`, the curves and the references hold, per `ScenarioSpec.score`."""


def score_of(metrics: dict) -> str:
    """The score a run's `metrics.json` holds (`metrics["score"]`; runs written before
    it was recorded: success at any step on Meta-World, else the return)."""
    if "score" in metrics:
        return metrics["score"]
    return "success_any_step" if metrics.get("domain") == "metaworld" else "return"


def score_description(metrics: dict) -> str:
    """One line naming what a run's `R` holds."""
    return SCORE_DESCRIPTIONS[score_of(metrics)]


def _normaliser(references, num_tasks: int) -> np.ndarray:
    if references:
        return np.asarray(references, np.float64)
    return np.ones(num_tasks)


def average_performance(R: np.ndarray, references=()) -> float:
    """Mean over tasks of the final reward, divided by each task's reference reward."""
    final = np.asarray(R, np.float64)[-1]
    return float(np.mean(final / _normaliser(references, final.shape[0])))


def forgetting(R: np.ndarray, references=()) -> list[float]:
    """Per task: performance right after training it minus performance at the end."""
    R = np.asarray(R, np.float64)
    norm = _normaliser(references, R.shape[1])
    return [float((R[j, j] - R[-1, j]) / norm[j]) for j in range(R.shape[1])]


def forward_transfer(curves, references=(), reference_aucs=()) -> list[float | None]:
    """Per task `(AUC - AUC_ref) / (1 - AUC_ref)`; None without a reference AUC."""
    if not reference_aucs:
        return [None] * len(curves)
    norm = _normaliser(references, len(curves))
    out: list[float | None] = []
    for j, curve in enumerate(curves):
        rewards = np.asarray([reward for _, reward in curve], np.float64) / norm[j]
        auc = float(np.mean(rewards)) if rewards.size else math.nan
        ref = float(reference_aucs[j])
        out.append((auc - ref) / (1.0 - ref) if ref != 1.0 else None)
    return out


def steps_to(curve, threshold: float) -> int | None:
    """The env step (within the task) of the first evaluation scoring at least
    `threshold`; None if none did. Learning speed, e.g. steps to a success of 0.7."""
    for step, score in curve:
        if score >= threshold:
            return int(step)
    return None


def curve_auc(curve) -> float:
    """The mean of a task's evaluation curve (the AUC forward transfer uses)."""
    scores = [score for _, score in curve]
    return float(np.mean(scores)) if scores else math.nan


def trace_column(metrics: dict, task: int, field: str) -> np.ndarray:
    """One column of a task's training trace (`metrics["train_trace"]`, columns
    `metrics["train_trace_fields"]`); "episode_return" gives the mean return of the
    episodes that ended in each span (NaN where none did)."""
    fields = metrics["train_trace_fields"]
    rows = np.asarray(metrics["train_trace"][task], np.float64).reshape(-1, len(fields))
    if field == "episode_return":
        episodes = rows[:, fields.index("episodes")]
        sums = rows[:, fields.index("episode_return_sum")]
        return np.where(episodes > 0, sums / np.maximum(episodes, 1), np.nan)
    return rows[:, fields.index(field)]


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def summarise(record: dict, scenario) -> dict:
    """The metrics of a finished run (schema: docs/cli.md)."""
    R = np.asarray(record["R"], np.float64)
    refs, ref_aucs = scenario.reference_rewards, scenario.reference_aucs
    forget = forgetting(R, refs)
    transfer = forward_transfer(record["curves"], refs, ref_aucs)
    return {
        "average_performance": average_performance(R, refs),
        "normalised": bool(refs),
        "forgetting": forget,
        "forgetting_mean": _mean(forget[:-1]) if len(forget) > 1 else 0.0,
        "forward_transfer": transfer,
        "forward_transfer_mean": _mean(transfer),
        "model_size": record["policy_params_max"] / record["policy_params_unit"],
    }
