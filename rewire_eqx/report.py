"""`python -m rewire_eqx report RUN_DIR...`: the R matrix, a metrics table (mean +- std
over runs) and PNG plots (reward curves per task, R heatmap)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from rewire_eqx.metrics import score_description, trace_column

__all__ = [
    "TRACE_PANELS",
    "format_score",
    "ReportError",
    "interval_table",
    "load_metrics",
    "report",
    "rewire_diagnostics",
    "task_scores",
    "trace_series",
]

_TABLE_FIELDS = (
    "average_performance",
    "forgetting_mean",
    "forward_transfer_mean",
    "model_size",
    "env_steps_per_s",
)


class ReportError(Exception):
    """A folder given to `report` holds no finished run."""


def load_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise ReportError(
            f"{str(run_dir)!r} has no metrics.json (not a finished rewire_eqx run)"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ReportError(f"{str(path)!r} is not valid JSON: {error}") from None


def _fmt(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{np.mean(values):.3g} ± {np.std(values):.2g}"


def format_matrix(metrics: dict) -> str:
    tasks = metrics["tasks"]
    width = max(10, *(len(t) for t in tasks)) + 1
    lines = [
        f"R[i, j] = score on task j after training task i; score: "
        f"{score_description(metrics)}",
        " " * width + "".join(f"{t:>{width}}" for t in tasks),
    ]
    for i, row in enumerate(metrics["R"]):
        cells = "".join(f"{'' if v is None else f'{v:.1f}':>{width}}" for v in row)
        lines.append(f"{tasks[i]:<{width}}" + cells)
    return "\n".join(lines)


def format_table(runs: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for m in runs:
        groups.setdefault((m["spec"], m["method"]), []).append(m)
    header = "| spec | method | runs | " + " | ".join(_TABLE_FIELDS) + " |"
    lines = [header, "|" + "---|" * (len(_TABLE_FIELDS) + 3)]
    for (spec, method), members in groups.items():
        cells = [_fmt([m.get(f) for m in members]) for f in _TABLE_FIELDS]
        lines.append(f"| {spec} | {method} | {len(members)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(metrics: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = metrics["tasks"]
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    offset = 0
    for j, curve in enumerate(metrics["curves"]):
        if curve:
            steps = [offset + s for s, _ in curve]
            ax.plot(
                steps, [r for _, r in curve], marker="o", ms=3, label=f"{j}: {tasks[j]}"
            )
        offset += metrics["steps_per_task"]
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation reward (training task)")
    ax.set_title(f"{metrics['spec']} / {metrics['method']} (seed {metrics['seed']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out_dir / "reward_curves.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    R = np.array([[np.nan if v is None else v for v in row] for row in metrics["R"]], float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(tasks), 1.0 + 0.8 * len(tasks)))
    image = ax.imshow(R, cmap="viridis")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
    ax.set_xlabel("evaluated task j")
    ax.set_ylabel("after training task i")
    for i in range(len(tasks)):
        for j in range(len(tasks)):
            if np.isfinite(R[i, j]):
                ax.text(
                    j,
                    i,
                    format_score(R[i, j]),
                    ha="center",
                    va="center",
                    color="w",
                    fontsize=7,
                )
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    paths.append(out_dir / "R_heatmap.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    if any(metrics.get("train_trace") or []):
        paths.append(_plot_trace(metrics, out_dir / "training_trace.png", plt))
    return paths


TRACE_PANELS = (
    ("episode_return", "training episode return"),
    ("entropy", "policy entropy"),
    ("temperature", "temperature"),
    ("mode_divergence", "distillation between modes (Eq. 5-6)"),
    ("regulariser", "regulariser (alignment Eq. 11 as published: may be < 0; L2; EWC)"),
    ("critic_loss", "critic loss"),
)
"""The training-trace fields `plot` draws through training, with their titles."""


def trace_series(metrics: dict, field: str) -> tuple[np.ndarray, np.ndarray]:
    """`(steps, values)` of one training-trace field over the whole run: each task's
    spans at their env step, offset by the steps of the tasks before it."""
    steps, values = [], []
    for task, rows in enumerate(metrics["train_trace"]):
        if rows:
            offset = task * metrics["steps_per_task"]
            steps.append(offset + trace_column(metrics, task, "env_steps"))
            values.append(trace_column(metrics, task, field))
    if not steps:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(steps), np.concatenate(values)


def _plot_trace(metrics: dict, path: Path, plt) -> Path:
    """What holds learning back, through training: `TRACE_PANELS` against env steps,
    a dotted line at every task boundary."""
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharex=True)
    for ax, (field, title) in zip(axes.flat, TRACE_PANELS):
        steps, values = trace_series(metrics, field)
        ax.plot(steps, values, lw=1)
        for task in range(1, len(metrics["tasks"])):
            ax.axvline(task * metrics["steps_per_task"], color="grey", ls=":", lw=0.8)
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("environment steps", fontsize=8)
    fig.suptitle(
        f"{metrics['spec']} / {metrics['method']} (seed {metrics['seed']}): training trace",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _reference(runs: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per task: SAC-N's mean final score (over its runs) and the mean AUC of its
    training curves divided by that score (Brax); success rates are not divided."""
    finals = np.mean([np.diag(np.asarray(m["R"], np.float64)) for m in runs], axis=0)
    aucs = np.mean(
        [[np.mean([v for _, v in curve]) for curve in m["curves"]] for m in runs], axis=0
    )
    if _success_rates(runs):
        return np.ones_like(finals), aucs
    return finals, aucs / finals


def _success_rates(labelled: list[dict]) -> bool:
    """Whether the runs are scored by success rates (Meta-World), which `_reference`
    does not divide by SAC-N's."""
    return labelled[0].get("domain") == "metaworld"


def _by_variant(labelled: list[dict]) -> dict[str, list[dict]]:
    """Runs grouped by their `variant` key, in first-seen order."""
    groups: dict[str, list[dict]] = {}
    for m in labelled:
        groups.setdefault(m["variant"], []).append(m)
    return groups


def task_scores(metrics: dict, finals: np.ndarray, aucs: np.ndarray | None) -> dict:
    """One run's per-task scores against per-task references: final performance
    `R[T-1, j] / ref_j`, forgetting `(R[j, j] - R[T-1, j]) / ref_j` (tasks before the
    last), forward transfer `(AUC_j - AUC_ref_j) / (1 - AUC_ref_j)` with `AUC_j` the mean
    of task j's curve divided by `ref_j` (None without reference AUCs) and model size."""
    R = np.asarray(metrics["R"], np.float64)
    last = R.shape[0] - 1
    transfer = None
    if aucs is not None:
        own = np.array([np.mean([v for _, v in c]) for c in metrics["curves"]]) / finals
        transfer = ((own - aucs) / (1.0 - aucs)).tolist()
    return {
        "performance": (R[last] / finals).tolist(),
        "forgetting": ((np.diag(R) - R[last]) / finals)[:last].tolist(),
        "forward_transfer": transfer,
        "model_size": [metrics["model_size"]],
    }


def interval_table(labelled: list[dict], *, reps: int = 10_000) -> tuple[str, dict]:
    """Markdown table and JSON of every variant's average performance, forgetting,
    forward transfer and model size, each a mean with a stratified bootstrap 95%
    interval over (runs x tasks) (`stats.stratified_bootstrap`).

    `labelled`: `metrics.json` contents with a `variant` key. With SAC-N among them
    (variant `sacn`), returns are normalised per task by SAC-N's mean final reward
    (success rates are not) and forward transfer uses SAC-N's curves as the single-task
    reference (the paper's definitions); otherwise raw scores and no forward transfer.
    """
    from rewire_eqx.stats import stratified_bootstrap

    groups = _by_variant(labelled)
    finals, aucs, basis = _scoring(labelled)
    basis += (
        "; no forward transfer"
        if aucs is None
        else "; forward transfer against SAC-N's training curves"
    )
    fields = ("performance", "forgetting", "forward_transfer", "model_size")
    table: dict = {"basis": basis, "reference_finals": finals.tolist(), "variants": {}}
    lines = [
        f"Mean [stratified bootstrap 95% interval over runs x tasks]; {basis}.",
        "",
        "| variant | runs | average performance | forgetting | forward transfer "
        "| model size |",
        "|---|---|---|---|---|---|",
    ]
    for variant, runs in groups.items():
        scores = [task_scores(m, finals, aucs) for m in runs]
        row: dict = {"seeds": [m["seed"] for m in runs]}
        cells = []
        for field in fields:
            matrix = [s[field] for s in scores]
            if matrix[0] is None or not matrix[0]:
                row[field] = None
                cells.append("-")
                continue
            interval = stratified_bootstrap(np.asarray(matrix), reps=reps)
            row[field] = dataclasses.asdict(interval)
            cells.append(str(interval))
        table["variants"][variant] = row
        lines.append(f"| {variant} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines), table


def _scoring(labelled: list[dict]) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Per-task reference finals and AUCs for `task_scores` (SAC-N's, when its runs are
    among `labelled`) and a phrase saying what the scores are."""
    groups = _by_variant(labelled)
    if "sacn" not in groups:
        basis = "raw scores (no SAC-N runs to normalise by)"
        return np.ones(len(labelled[0]["tasks"])), None, basis
    finals, aucs = _reference(groups["sacn"])
    basis = (
        "success rates, not divided (Continual World's convention)"
        if _success_rates(labelled)
        else "normalised per task by SAC-N's mean final score over its runs"
    )
    return finals, aucs, basis


def difference_table(
    labelled: list[dict], focal: str = "rewire", *, reps: int = 10_000
) -> str:
    """Markdown table of `focal` against every other variant: the difference of their
    average performances (scored as in `interval_table`) with a bootstrap 95% interval,
    and the probability that a run of `focal` scores above a run of the other on a task
    (rliable's probability of improvement) with its interval; each method's runs are
    resampled on their own (`stats.bootstrap_difference`,
    `stats.probability_of_improvement`)."""
    from rewire_eqx.stats import bootstrap_difference, probability_of_improvement

    groups = _by_variant(labelled)
    if focal not in groups:
        raise ValueError(f"difference_table: no runs of {focal!r}; have {list(groups)}")
    finals, aucs, basis = _scoring(labelled)

    def performance(runs):
        return np.asarray([task_scores(m, finals, aucs)["performance"] for m in runs])

    mine = performance(groups[focal])
    lines = [
        f"{focal} against each variant: difference of average performance and "
        f"P({focal} > other), each with a bootstrap 95% interval (each method's runs "
        f"resampled on their own, per task); {basis}.",
        "",
        f"| variant | runs | {focal} minus variant | P({focal} > variant) |",
        "|---|---|---|---|",
    ]
    for variant, runs in groups.items():
        if variant == focal:
            continue
        other = performance(runs)
        difference = bootstrap_difference(mine, other, reps=reps)
        improvement = probability_of_improvement(mine, other, reps=reps)
        lines.append(f"| {variant} | {len(runs)} | {difference} | {improvement} |")
    return "\n".join(lines)


def per_task_table(labelled: list[dict], *, reps: int = 10_000) -> str:
    """Markdown table of every variant's score on each task, separately: `R[j, j]`
    (just after training task j) and `R[T-1, j]` (at the end), normalised like
    `interval_table` (by SAC-N's mean final score when SAC-N is among the runs), each a
    mean over runs with a bootstrap 95% interval. It separates learning a task from
    keeping it, which the averages over tasks mix."""
    from rewire_eqx.stats import stratified_bootstrap

    groups = _by_variant(labelled)
    divided = "sacn" in groups and not _success_rates(labelled)
    finals = (
        _reference(groups["sacn"])[0] if divided else np.ones(len(labelled[0]["tasks"]))
    )
    tasks = labelled[0]["tasks"]
    lines = [
        "Per task: mean [bootstrap 95% interval over runs] of R[j, j] (just after "
        "training task j) and R[T-1, j] (at the end), "
        + ("each divided by SAC-N's mean R[j, j]." if divided else "raw."),
        "",
        "| variant | runs | "
        + " | ".join(
            f"{j}: {name}, R[j, j] | {j}: {name}, end" for j, name in enumerate(tasks)
        )
        + " |",
        "|---|---|" + "---|---|" * len(tasks),
    ]
    for variant, runs in groups.items():
        R = np.asarray([m["R"] for m in runs], np.float64) / finals  # runs x T x T
        cells = []
        for j in range(len(tasks)):
            for scores in (R[:, j, j], R[:, -1, j]):
                cells.append(str(stratified_bootstrap(scores[:, None], reps=reps)))
        lines.append(f"| {variant} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _or_dash(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_score(value: float) -> str:
    """A score at the precision its scale needs: success rates (and other scores below
    10 in size) with two decimals, returns to the unit."""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def _mean_or_dash(values) -> str:
    return f"{np.mean(values):.2f}" if values else "-"


def rewire_diagnostics(labelled: list[dict]) -> str:
    """Markdown table of what Rewire did at every task of every run: the reward before
    training (r0), each mode's reward, the kept mode, roll-back, and (mean over hidden
    layers) the share of neurons the kept mode's wiring moved from the task's start (runs
    before this fact was recorded show "-"), the share of neurons the adapters moved,
    the alignment residual
    `||W - Z^T W_old A|| / ||W_old||`, the weight drift `||W - W_old|| / ||W_old||`, and
    what the published Gumbel noise does to an update pass at the task's end (share of
    neurons displaced, mean change of the deterministic action)."""
    lines = [
        "| variant | seed | task | R[t, t] | r0 | mode rewards | kept | rolled back "
        "| wiring moved | adapters moved (out / in) | alignment residual "
        "| weight drift | noise displaced | noise action shift |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in labelled:
        if m.get("method") != "rewire":
            continue
        for t, facts in enumerate(m["task_facts"]):
            before = m["reward_before"][t]
            modes = (
                " / ".join(format_score(r) for r in facts.get("mode_rewards", [])) or "-"
            )
            moved = (
                f"{_mean_or_dash(facts.get('adapter_out_moved', []))} / "
                f"{_mean_or_dash(facts.get('adapter_in_moved', []))}"
            )
            lines.append(
                f"| {m['variant']} | {m['seed']} | {t}: {m['tasks'][t]} "
                f"| {format_score(m['R'][t][t])} | {'-' if before is None else format_score(before)} "
                f"| {modes} | {facts.get('kept_mode', '-')} "
                f"| {'yes' if facts.get('rolled_back') else 'no'} "
                f"| {_mean_or_dash(facts.get('wiring_moved', []))} | {moved} "
                f"| {_mean_or_dash(facts.get('alignment_residual', []))} "
                f"| {_mean_or_dash(facts.get('weight_drift', []))} "
                f"| {_mean_or_dash(facts.get('noise_displaced', []))} "
                f"| {_or_dash(facts.get('noise_action_shift'))} |"
            )
    return "\n".join(lines)


def report(run_dirs: list[str], *, plots: bool = True) -> str:
    """Text report of one or more finished runs; writes plots into each run folder."""
    runs = [load_metrics(d) for d in run_dirs]
    parts = []
    for run_dir, m in zip(run_dirs, runs):
        parts.append(f"## {run_dir}\n{format_matrix(m)}")
        if plots:
            written = plot(m, Path(run_dir))
            parts.append("plots: " + ", ".join(str(p) for p in written))
    parts.append(format_table(runs))
    return "\n\n".join(parts)
