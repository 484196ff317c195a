"""The paper's published results, as data, and our comparison beside them.

Numbers from the paper's Table 1 (Brax average performance and model size, mean ± std),
its Continual World success rates and its Table 3 (ablations on HalfCheetah forgetting),
as listed in `../shared/reference/paper-setup.md`.
"""

from __future__ import annotations

import numpy as np

from rewire_eqx.specs import RunSpec

__all__ = ["PAPER_CW", "PAPER_TABLE1", "PAPER_TABLE3", "against_paper"]

PAPER_TABLE1: dict[str, dict[str, tuple[float, float, float]]] = {
    # method: {domain: (average performance, std, model size)}
    "ft1": {
        "halfcheetah": (0.62, 0.29, 1.0),
        "ant": (0.52, 0.26, 1.0),
        "humanoid": (0.71, 0.07, 1.0),
    },
    "ft_l2": {
        "halfcheetah": (0.38, 0.15, 2.0),
        "ant": (0.78, 0.20, 2.0),
        "humanoid": (0.68, 0.28, 2.0),
    },
    "packnet": {
        "halfcheetah": (0.85, 0.14, 2.0),
        "ant": (1.08, 0.21, 2.0),
        "humanoid": (0.96, 0.21, 2.0),
    },
    "ewc": {
        "halfcheetah": (0.43, 0.24, 3.0),
        "ant": (0.55, 0.24, 3.0),
        "humanoid": (0.94, 0.01, 3.0),
    },
    "pnn": {
        "halfcheetah": (1.03, 0.14, 8.0),
        "ant": (0.98, 0.31, 8.0),
        "humanoid": (0.98, 0.26, 4.0),
    },
    "sacn": {
        "halfcheetah": (1.00, 0.15, 8.0),
        "ant": (1.00, 0.38, 8.0),
        "humanoid": (1.00, 0.29, 4.0),
    },
    "ftn": {
        "halfcheetah": (1.16, 0.20, 8.0),
        "ant": (0.97, 0.20, 8.0),
        "humanoid": (0.65, 0.46, 4.0),
    },
    "csp": {
        "halfcheetah": (1.27, 0.27, 5.4),
        "ant": (1.11, 0.17, 3.9),
        "humanoid": (1.76, 0.19, 3.4),
    },
    "rewire": {
        "halfcheetah": (1.17, 0.15, 2.1),
        "ant": (1.22, 0.11, 2.1),
        "humanoid": (1.78, 0.22, 2.0),
    },
}
"""Table 1: Brax average performance (normalised by SAC-N) and model size."""

PAPER_CW: dict[str, tuple[float, float]] = {
    "ft1": (0.29, 0.10),
    "ft_l2": (0.22, 0.48),
    "packnet": (0.49, 0.83),
    "ewc": (0.32, 0.66),
    "pnn": (0.56, 0.63),
    "sacn": (0.60, 0.73),
    "ftn": (0.65, 0.77),
    "csp": (0.65, 0.81),
    "rewire": (0.67, 0.84),
}
"""Continual World success rates: (CW3, CW10)."""

PAPER_TABLE3: tuple[tuple[str, float, str | None], ...] = (
    ("FT-L2", 0.67, "ft_l2"),
    (
        "+ rewiring without caching (one mode, no alignment)",
        0.76,
        "rewire_single_no_caching",
    ),
    ("+ rewiring (one mode, no alignment)", 0.95, "rewire_single"),
    ("+ rewiring + multi-mode (no alignment)", 1.14, "rewire_no_alignment"),
    ("+ rewiring + alignment (one mode)", 1.15, "rewire_no_multi_mode"),
    ("full", 1.31, "rewire"),
)
"""Table 3 (HalfCheetah forgetting): FT-L2, then Rewire with parts switched on (the
Rewire rows keep FT-L2's weight regulariser where alignment is off); the last column
names our variant with exactly those parts."""

_PAPER_SETUP = {
    "steps_per_task": 1_000_000,
    "num_envs": 128,
    "hidden_sizes": (256, 256, 256),
    "updates_per_step": 0.5,
}


def _differences(spec: RunSpec, column: str, seeds: int) -> list[str]:
    scenario, sac = spec.scenario, spec.sac
    lines = []
    if scenario.domain != column:
        lines.append(
            f"domain: ours {scenario.domain} ({', '.join(scenario.tasks)}), the paper's "
            f"{column} scenarios (no {scenario.domain} in the paper)"
        )
    else:
        lines.append(
            f"tasks: ours {', '.join(scenario.tasks)} ({scenario.num_tasks} tasks); the "
            f"paper's Table 1 averages its {column} scenarios and its Table 3 is "
            "HalfCheetah forgetting (8 tasks each outside Humanoid)"
        )
    paper_steps = 2_000_000 if column == "humanoid" else _PAPER_SETUP["steps_per_task"]
    if scenario.task_steps != paper_steps:
        lines.append(f"steps per task: ours {scenario.task_steps:,}, paper {paper_steps:,}")
    if spec.network.hidden_sizes != _PAPER_SETUP["hidden_sizes"]:
        lines.append(
            f"networks: ours {'x'.join(map(str, spec.network.hidden_sizes))}, paper 256x256x256"
        )
    if sac.num_envs != _PAPER_SETUP["num_envs"]:
        lines.append(f"training envs: ours {sac.num_envs}, paper 128")
    if sac.updates_per_step != _PAPER_SETUP["updates_per_step"]:
        lines.append(f"updates per env step: ours {sac.updates_per_step:g}, paper 0.5")
    heads = "a head per slot" if spec.task_heads else "one shared head"
    lines.append(
        f"heads: ours {heads}, and one shared head in the `<method>_shared_head` "
        "variants; paper: Rewire a head per slot, the baselines one shared head"
    )
    lines.append(f"seeds: ours {seeds}; the paper's mean ± std over its own seeds")
    return lines


def _ours(
    metrics: list[dict], variant: str | None, intervals: dict | None = None
) -> tuple[str, str]:
    runs = [m for m in metrics if m.get("variant") == variant]
    if not runs:
        return "-", "-"
    size = f"{np.mean([m['model_size'] for m in runs]):.2f}"  # CSP's varies by run
    row = (intervals or {}).get("variants", {}).get(variant)
    if row and row.get("performance"):
        p = row["performance"]
        return f"{p['point']:.2f} [{p['low']:.2f}, {p['high']:.2f}] ({len(runs)})", size
    values = [m["average_performance"] for m in runs]
    return f"{np.mean(values):.2f} ± {np.std(values):.2f} ({len(values)})", size


def against_paper(
    spec: RunSpec, metrics: list[dict], seeds: int, *, intervals: dict | None = None
) -> str:
    """A markdown report of our comparison beside the paper's Table 1 and Table 3.

    **Arguments:**

    - `spec`: the compared scenario's spec.
    - `metrics`: each run's `metrics.json`, with a `variant` key added.
    - `seeds`: the seeds per variant.
    - `intervals`: `report.interval_table`'s JSON; when given, our average performance
      is its mean [stratified bootstrap 95% interval] (normalised by the comparison's
      SAC-N), else the mean ± std of each run's own `average_performance`.

    **Returns:** the report (header of differences, then the two tables).
    """
    domain = spec.scenario.domain
    if domain == "metaworld":
        return _against_paper_cw(spec, metrics, seeds, intervals)
    column = domain if domain in ("halfcheetah", "ant", "humanoid") else "halfcheetah"
    lines = [
        f"# {spec.name} beside the paper ({column} column of Table 1; Table 3)",
        "",
        "Differences from the paper's set-up:",
        "",
        *[f"- {d}" for d in _differences(spec, column, seeds)],
        "",
        "| method | ours: average performance (runs) | ours, one shared head | ours: model size | paper: average performance | paper: model size |",
        "|---|---|---|---|---|---|",
    ]
    for method, row in PAPER_TABLE1.items():
        mean, std, size = row[column]
        ap, our_size = _ours(metrics, method, intervals)
        shared = _ours(metrics, f"{method}_shared_head", intervals)[0]
        lines.append(
            f"| {method} | {ap} | {shared} | {our_size} | {mean:.2f} ± {std:.2f} | {size:g} |"
        )
    lines += [
        "",
        "Table 3 (HalfCheetah forgetting in the paper): FT-L2, then Rewire with the",
        "listed parts; ours are the variants with exactly those parts.",
        "",
        "| rung | paper | ours |",
        "|---|---|---|",
    ]
    for rung, value, variant in PAPER_TABLE3:
        ours = _ours(metrics, variant, intervals)[0]
        lines.append(f"| {rung} | {value:.2f} | {ours} ({variant}) |")
    if any(m.get("variant") == "rewire_no_caching" for m in metrics):
        ours = _ours(metrics, "rewire_no_caching", intervals)[0]
        lines += ["", f"Also: the full method without caching (rewire_no_caching): {ours}"]
    return "\n".join(lines)


def _against_paper_cw(
    spec: RunSpec, metrics: list[dict], seeds: int, intervals: dict | None
) -> str:
    """Continual World: our mean final success rate beside the paper's CW3 and CW10."""
    scenario, sac = spec.scenario, spec.sac
    differences = [
        "Meta-World v3 (metaworld 3.1.1); the paper used v1: tasks differ in details",
        f"tasks: ours {', '.join(scenario.tasks)}",
        f"steps per task: ours {scenario.task_steps:,}, paper 1,000,000",
        f"networks: ours {'x'.join(map(str, spec.network.hidden_sizes))}, paper 256x256x256",
        f"success: ours at {scenario.success.replace('_', ' ')}; the published code scores "
        "the last step",
        f"seeds: ours {seeds}; the paper's mean over its own seeds",
    ]
    if sac.updates_per_step != 1:
        differences.insert(
            -1, f"updates per env step: ours {sac.updates_per_step:g}, paper 1"
        )
    lines = [
        f"# {spec.name} beside the paper (Continual World success rates)",
        "",
        "Differences from the paper's set-up:",
        "",
        *[f"- {d}" for d in differences],
        "",
        "| method | ours: success rate (runs) | ours: model size | paper: CW3 | paper: CW10 |",
        "|---|---|---|---|---|",
    ]
    for method, (cw3, cw10) in PAPER_CW.items():
        ap, size = _ours(metrics, method, intervals)
        lines.append(f"| {method} | {ap} | {size} | {cw3:.2f} | {cw10:.2f} |")
    return "\n".join(lines)
