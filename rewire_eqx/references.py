"""`python -m rewire_eqx references PATH`: single-task reference values of a scenario.

Trains a fresh SAC on each task of the spec's scenario at the spec's budget (the SAC-N
method, whose every task starts from scratch) and writes a JSON table with, per task,
the final score (return, or success rate on Meta-World) and the AUC of its training
curve (the mean of its evaluations), for each seed and their mean, with the command that
made them. The means are the `--scenario.reference-rewards` (Brax: normalise average
performance) and `--scenario.reference-aucs` (forward transfer) of the scenario;
published numbers are not comparable here (Continual World's were measured on
Meta-World v1).

Each seed's SAC-N run is one job with the fixed folder `compare` gives it
(`<output_dir>/<spec name>_sacn/seed<k>`), run through the same job backends
(`jobs.InProcess`, or `jobs.LocalWorkers` with `jobs > 1`): a stopped computation
resumes when the same command runs again, and a comparison's SAC-N run of that seed is
reused (and the other way round).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from rewire_eqx.specs import RunSpec

__all__ = ["references", "ReferenceFailures"]


class ReferenceFailures(RuntimeError):
    """Some seeds' SAC-N jobs failed (in worker processes); the others are kept."""


def references(
    spec: RunSpec,
    *,
    out: Path,
    command: str,
    seeds: int = 1,
    jobs: int = 1,
    allow_mixed: bool = False,
) -> dict:
    """Run (or resume, or read) the SAC-N jobs of `spec` at seeds `spec.seed`, ...,
    `spec.seed + seeds - 1` (with `jobs > 1` in that many worker processes); write and
    return the table: per seed and, as `final` / `auc`, their mean over seeds."""
    from rewire_eqx import jobs as backends
    from rewire_eqx.comparison import XLA_CACHE, job_folder, prepare_job, variant_spec

    if seeds < 1:
        raise ValueError(f"references: seeds={seeds} must be >= 1")
    if jobs < 1:
        raise ValueError(f"references: jobs={jobs} must be >= 1")
    pool = backends.local_jobs(jobs, Path(spec.output_dir) / XLA_CACHE)
    folders = []
    for seed in range(spec.seed, spec.seed + seeds):
        # the job and folder `compare` gives SAC-N: either command reuses the other's run
        job = dataclasses.replace(
            variant_spec(spec, "sacn"), name=f"{spec.name}_sacn", seed=seed
        )
        folder = job_folder(spec, "sacn", seed)
        # refuse a mixed or foreign folder before training; read a finished one here
        if prepare_job(job, folder, allow_mixed=allow_mixed) == "finished":
            print(f"references: sacn seed {seed}: finished ({folder})", flush=True)
        else:
            pool.submit(backends.Job(f"sacn seed {seed}", job, folder, allow_mixed))
        folders.append(folder)
    failed = [outcome for outcome in pool.collect() if not outcome.ok]
    if failed:
        why = "; ".join(f"{o.job.name} ({o.job.folder}): {o.message}" for o in failed)
        raise ReferenceFailures(f"references: {len(failed)} job(s) failed: {why}")
    per_seed = [_seed_references(spec, folder) for folder in folders]
    finals = np.mean([row["final"] for row in per_seed], axis=0).tolist()
    aucs = np.mean([row["auc"] for row in per_seed], axis=0).tolist()
    table = {
        "spec": spec.name,
        "tasks": per_seed[0]["tasks"],
        "seeds": [row["seed"] for row in per_seed],
        "score": spec.scenario.score,
        "steps_per_task": per_seed[0]["steps_per_task"],
        "final": finals,
        "auc": aucs,
        "per_seed": [
            {key: row[key] for key in ("seed", "final", "auc", "run_folder")}
            for row in per_seed
        ],
        "command": command,
        "overrides": _overrides(spec, finals, aucs),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2) + "\n")
    return table


def _seed_references(spec: RunSpec, folder: Path) -> dict:
    """One finished SAC-N run's final score and curve AUC per task."""
    metrics = json.loads((folder / "metrics.json").read_text())
    R = np.asarray(metrics["R"], np.float64)
    finals = [float(R[i, i]) for i in range(len(metrics["tasks"]))]
    aucs = [float(np.mean([score for _, score in curve])) for curve in metrics["curves"]]
    if spec.scenario.score == "return":  # AUCs of normalised curves, as metrics uses
        aucs = [auc / final for auc, final in zip(aucs, finals)]
    return {
        "seed": metrics["seed"],
        "tasks": metrics["tasks"],
        "steps_per_task": metrics["steps_per_task"],
        "final": finals,
        "auc": aucs,
        "run_folder": str(folder),
    }


def _overrides(spec: RunSpec, finals: list[float], aucs: list[float]) -> str:
    """The command-line overrides that give a run of this scenario these references."""
    words = ["--scenario.reference-aucs", *(f"{a:.4g}" for a in aucs)]
    if spec.scenario.score == "return":  # success rates are not normalised
        words = ["--scenario.reference-rewards", *(f"{f:.4g}" for f in finals), *words]
    return " ".join(words)
