"""`python -m rewire_eqx references PATH`: single-task reference values of a scenario.

Trains a fresh SAC on each task of the spec's scenario at the spec's budget (the SAC-N
method, whose every task starts from scratch) and writes `references.json` with, per
task, the final score (return, or success rate on Meta-World) and the AUC of its
training curve (the mean of its evaluations), the seed and the command that made them.
These are the `--scenario.reference-rewards` (Brax: normalise average performance) and
`--scenario.reference-aucs` (forward transfer) of the scenario; published numbers are not
comparable here (Continual World's were measured on Meta-World v1).

The SAC-N run has the fixed folder `compare` gives it (`<output_dir>/<spec name>_sacn/
seed<k>`), so a stopped computation resumes when the same command runs again, and a
comparison's SAC-N run of that seed is reused (and the other way round).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from rewire_eqx.specs import RunSpec

__all__ = ["references"]


def references(spec: RunSpec, *, out: Path, command: str) -> dict:
    """Run (or resume, or read) the SAC-N job of `spec`; write and return the table."""
    from rewire_eqx.comparison import job_folder, run_job, variant_spec

    # the job and folder `compare` gives SAC-N: either command reuses the other's run
    job = dataclasses.replace(variant_spec(spec, "sacn"), name=f"{spec.name}_sacn")
    folder = job_folder(spec, "sacn", spec.seed)
    run_job(job, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    R = np.asarray(metrics["R"], np.float64)
    finals = [float(R[i, i]) for i in range(len(metrics["tasks"]))]
    aucs = [float(np.mean([score for _, score in curve])) for curve in metrics["curves"]]
    if spec.scenario.score == "return":  # AUCs of normalised curves, as metrics uses
        aucs = [auc / final for auc, final in zip(aucs, finals)]
    table = {
        "spec": spec.name,
        "tasks": metrics["tasks"],
        "seed": spec.seed,
        "score": spec.scenario.score,
        "steps_per_task": metrics["steps_per_task"],
        "final": finals,
        "auc": aucs,
        "run_folder": str(folder),
        "command": command,
        "overrides": _overrides(spec, finals, aucs),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2) + "\n")
    return table


def _overrides(spec: RunSpec, finals: list[float], aucs: list[float]) -> str:
    """The command-line overrides that give a run of this scenario these references."""
    words = ["--scenario.reference-aucs", *(f"{a:.4g}" for a in aucs)]
    if spec.scenario.score == "return":  # success rates are not normalised
        words = ["--scenario.reference-rewards", *(f"{f:.4g}" for f in finals), *words]
    return " ".join(words)
