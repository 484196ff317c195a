"""Build the diagnosis table of runs/cw3_cpu/diagnosis/README.md from the run folders
that `jobs.sh` wrote: `python runs/cw3_cpu/diagnosis/summarise.py /work/diag [PREFIX]`
(PREFIX, e.g. `r3_`, is put before every setting name found, so that a later round's
runs do not replace an earlier round's runs of the same name).

Writes `table.md`, `summary.json` (every number of the table, per run) and `curves.png`
(`curves_<PREFIX>.png` with a PREFIX: evaluation success and the training traces of
entropy, distillation and regulariser of the runs found) beside this file. Runs
already in `summary.json` whose folders are gone (earlier rounds) are kept; a run found
again replaces its entry. Uses only the library's metric functions (`rewire_eqx.metrics`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rewire_eqx import metrics as M

HERE = Path(__file__).parent
THRESHOLD = 0.7


def _runs(root: Path, prefix: str = "") -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path in sorted(root.glob("*/seed*/*/*/metrics.json")):
        name = prefix + path.parts[len(root.parts)]
        found.setdefault(name, []).append(json.loads(path.read_text()))
    return found


def _row(m: dict) -> dict:
    tasks = []
    for t, curve in enumerate(m["curves"]):
        entropy = M.trace_column(m, t, "entropy")
        divergence = M.trace_column(m, t, "mode_divergence")
        regulariser = M.trace_column(m, t, "regulariser")
        tasks.append(
            {
                "task": m["tasks"][t],
                "steps_to_0.7": M.steps_to(curve, THRESHOLD),
                "auc": M.curve_auc(curve),
                "final": m["R"][t][t],
                "end": m["R"][-1][t],
                "entropy_mean": float(np.mean(entropy)),
                "distill_mean": float(np.mean(divergence)),
                "regulariser_first": float(regulariser[0]),
                "regulariser_last": float(regulariser[-1]),
                "facts": m["task_facts"][t],
            }
        )
    return {"seed": m["seed"], "steps_per_s": m["env_steps_per_s"], "tasks": tasks}


def _fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def main(root: Path, prefix: str = "") -> None:
    runs = _runs(root, prefix)
    stored = HERE / "summary.json"
    summary = json.loads(stored.read_text()) if stored.is_file() else {}
    for name, ms in runs.items():
        rows = {row["seed"]: row for row in summary.get(name, [])}
        rows.update({m["seed"]: _row(m) for m in ms})
        summary[name] = [rows[seed] for seed in sorted(rows)]
    summary = dict(sorted(summary.items()))
    (HERE / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "| setting | seed | task | steps to 0.7 | AUC | final | at the end | mean entropy "
        "| mean distill. | wiring moved | noise displaced | noise action shift |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in summary.items():
        for row in sorted(rows, key=lambda r: r["seed"]):
            for t in row["tasks"]:
                facts = t["facts"]
                moved = facts.get("wiring_moved")
                displaced = facts.get("noise_displaced")
                lines.append(
                    f"| {name} | {row['seed']} | {t['task']} "
                    f"| {_fmt(t['steps_to_0.7'], ',d')} | {t['auc']:.2f} "
                    f"| {_fmt(t['final'], '.1f')} | {_fmt(t.get('end'), '.1f')} "
                    f"| {t['entropy_mean']:.2f} "
                    f"| {t['distill_mean']:.3g} "
                    f"| {'-' if moved is None else ' / '.join(f'{x:.2f}' for x in moved)} "
                    f"| {'-' if displaced is None else ' / '.join(f'{x:.2f}' for x in displaced)} "
                    f"| {_fmt(facts.get('noise_action_shift'), '.3f')} |"
                )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    settings = _settings_table(summary)
    (HERE / "settings.md").write_text(settings)
    print(settings)
    _plot(runs, f"curves_{prefix.rstrip('_')}.png" if prefix else "curves.png")


def _settings_table(summary: dict) -> str:
    """One row per setting of the pair runs: the seeds and, per task, the mean over
    them of the final success `R[t, t]`, the curve AUC and the success at the end."""
    lines = [
        "| setting | seeds | window-close `R[0, 0]` | its AUC | faucet-close `R[1, 1]` "
        "| its AUC | window-close at the end |",
        "|---|---|---|---|---|---|---|",
    ]

    def mean(values):
        values = [v for v in values if v is not None]
        return f"{np.mean(values):.2f}" if values else "-"

    for name, rows in summary.items():
        rows = [r for r in rows if len(r["tasks"]) == 2]
        if not rows:
            continue
        first = [r["tasks"][0] for r in rows]
        second = [r["tasks"][1] for r in rows]
        seeds = ", ".join(str(r["seed"]) for r in rows)
        lines.append(
            f"| {name} | {seeds} | {mean(t['final'] for t in first)} "
            f"| {mean(t['auc'] for t in first)} | {mean(t['final'] for t in second)} "
            f"| {mean(t['auc'] for t in second)} | {mean(t.get('end') for t in first)} |"
        )
    return "\n".join(lines) + "\n"


def _plot(runs: dict[str, list[dict]], filename: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = ("success", "entropy", "mode_divergence", "episode_return")
    fig, axes = plt.subplots(len(fields), 2, figsize=(12, 11), squeeze=False)
    for name, ms in sorted(runs.items()):
        for m in ms:
            label = f"{name} s{m['seed']}"
            for t in range(min(2, len(m["curves"]))):
                column = t if len(m["curves"]) > 1 or "faucet" not in m["tasks"][0] else 1
                for row, field in enumerate(fields):
                    ax = axes[row, column]
                    if field == "success":
                        steps, values = zip(*m["curves"][t])
                    else:
                        steps = M.trace_column(m, t, "env_steps")
                        values = M.trace_column(m, t, field)
                    ax.plot(steps, values, label=label, lw=1)
                    ax.set_title(f"task {column + 1}: {field}")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(HERE / filename, dpi=80)


if __name__ == "__main__":
    main(
        Path(sys.argv[1] if len(sys.argv) > 1 else "/work/diag"),
        sys.argv[2] if len(sys.argv) > 2 else "",
    )
