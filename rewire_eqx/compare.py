"""`python -m rewire_eqx compare PATH`: every method (and Rewire's ablations) on one
scenario over several seeds, then one report in an output folder: `table.md` (mean ± std
over seeds), `runs.json` (the run folders), `metrics/<variant>_seed<k>.json` (copies of
each run's metrics) and `<variant>/` plots of its first seed."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from rewire_eqx.specs import METHODS, RunSpec

__all__ = ["VARIANTS", "compare", "variant_spec"]

VARIANTS: dict[str, dict] = {
    **{name: {"name": name} for name in METHODS},
    "rewire_no_caching": {"name": "rewire", "caching": False},
    "rewire_no_multi_mode": {"name": "rewire", "multi_mode": False},
    "rewire_no_alignment": {"name": "rewire", "alignment": False},
    "rewire_code_adapters": {"name": "rewire", "permutation": {"adapter_form": "code"}},
    "packnet_retrain_half": {"name": "packnet", "packnet_retrain_share": 0.5},
}
"""Compared configurations, as changes to the spec's `MethodSpec` (so a scenario's
baseline settings, e.g. PNN's width, carry over) and, under "permutation", to its
`PermutationSpec`: every method, Rewire without each of its parts, Rewire with the
published code's adapter form, and PackNet with half of each task's budget spent
retraining after pruning (instead of 10%)."""


def variant_spec(spec: RunSpec, variant: str) -> RunSpec:
    """The spec with a variant's changes applied."""
    changes = dict(VARIANTS[variant])
    permutation = dataclasses.replace(spec.permutation, **changes.pop("permutation", {}))
    method = dataclasses.replace(spec.method, **changes)
    return dataclasses.replace(spec, method=method, permutation=permutation)


def compare(spec: RunSpec, *, variants: list[str], seeds: int, out: Path) -> str:
    """Run every variant for `seeds` seeds (sequentially); write and return a report."""
    from rewire_eqx.report import format_table, load_metrics, plot
    from rewire_eqx.runner import run

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[str]] = {}
    for variant in variants:
        for seed in range(seeds):
            run_spec = dataclasses.replace(
                variant_spec(spec, variant), name=f"{spec.name}_{variant}", seed=seed
            )
            run_dir = run(run_spec, progress=False)
            runs.setdefault(variant, []).append(str(run_dir))
    metrics = []
    (out / "metrics").mkdir(exist_ok=True)
    for variant, dirs in runs.items():
        for seed, d in enumerate(dirs):
            m = load_metrics(d)
            metrics.append(m)
            shutil.copyfile(
                Path(d) / "metrics.json", out / "metrics" / f"{variant}_seed{seed}.json"
            )
        plot(load_metrics(dirs[0]), out / variant)
    table = format_table(metrics)
    (out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    (out / "table.md").write_text(table + "\n")
    return table
