"""`python -m rewire_eqx report RUN_DIR...`: the R matrix, a metrics table (mean +- std
over runs) and PNG plots (reward curves per task, R heatmap)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["ReportError", "load_metrics", "report"]

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
        "R[i, j] = reward on task j after training task i",
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
                    j, i, f"{R[i, j]:.0f}", ha="center", va="center", color="w", fontsize=7
                )
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    paths.append(out_dir / "R_heatmap.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


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
