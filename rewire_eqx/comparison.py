"""`python -m rewire_eqx compare PATH`: every method (and Rewire's ablations) on one
scenario over several seeds, then one report in an output folder: `table.md` (mean ± std
over seeds), `intervals.md` / `intervals.json` (means with stratified bootstrap 95%
intervals, normalised by the comparison's own SAC-N runs when it has them),
`rewire_diagnostics.md` (per Rewire run and task: r0, mode rewards, kept mode,
roll-back, adapter moves, alignment residual, weight drift), `differences.md` (Rewire
minus every other variant, and the probability that Rewire scores higher, with
intervals), `runs.json` (the run folders), `metrics/<variant>_seed<k>.json` (copies of
each run's metrics) and `<variant>/` plots of its first seed.

Each (variant, seed) job has a fixed run folder, `<output_dir>/<spec name>_<variant>/
seed<k>`, so a comparison can be stopped at any point and started again with the same
command: finished jobs (a `metrics.json`) are read, unfinished ones resume after their
last finished task, missing ones run, and the report is rebuilt from what exists. A
folder that holds a different spec is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from rewire_eqx.metrics import score_description
from rewire_eqx.provenance import code_version, describe_code, same_code
from rewire_eqx.ray_jobs import RayOptions
from rewire_eqx.specs import METHODS, RunSpec, spec_from_dict

__all__ = [
    "CompareFailures",
    "HEAD_SENSITIVE",
    "MixedCodeError",
    "VARIANTS",
    "compare",
    "job_folder",
    "prepare_job",
    "run_job",
    "run_jobs",
    "variant_spec",
]

HEAD_SENSITIVE = ("ft1", "ft_l2", "ewc", "packnet", "csp")
"""Baselines whose one network serves every task, so that a head per slot or one shared
head changes what they can keep (SAC-N, FT-N and PNN keep a network per task)."""

VARIANTS: dict[str, dict] = {
    **{name: {"name": name} for name in METHODS},
    "rewire_no_caching": {"name": "rewire", "caching": False},
    "rewire_no_multi_mode": {"name": "rewire", "multi_mode": False},
    "rewire_no_alignment": {"name": "rewire", "alignment": False},
    "rewire_single": {"name": "rewire", "multi_mode": False, "alignment": False},
    "rewire_single_no_caching": {
        "name": "rewire",
        "caching": False,
        "multi_mode": False,
        "alignment": False,
    },
    "rewire_code_adapters": {"name": "rewire", "permutation": {"adapter_form": "code"}},
    "packnet_retrain_half": {"name": "packnet", "packnet_retrain_share": 0.5},
    **{
        f"{name}_shared_head": {"name": name, "task_heads": False}
        for name in HEAD_SENSITIVE
    },
}
"""Compared configurations, as changes to the spec's `MethodSpec` (so a scenario's
baseline settings, e.g. PNN's width, carry over), under "permutation" to its
`PermutationSpec`, and under "task_heads" to `RunSpec.task_heads`: every method; Rewire
without each of its parts; the rungs of the paper's Table 3 that are not one of those
(one mode without alignment, with and without caching: with alignment off Rewire keeps
FT-L2's pull to the previous weights, Eq. 7); Rewire with the published code's adapter
form; PackNet with half of each task's budget spent retraining after pruning (instead of
10%); and the one-network baselines with one head shared by all tasks, as the published
code runs them (`<method>_shared_head`), beside a head per slot as Rewire has."""


def variant_spec(spec: RunSpec, variant: str) -> RunSpec:
    """The spec with a variant's changes applied."""
    changes = dict(VARIANTS[variant])
    permutation = dataclasses.replace(spec.permutation, **changes.pop("permutation", {}))
    task_heads = changes.pop("task_heads", spec.task_heads)
    method = dataclasses.replace(spec.method, **changes)
    return dataclasses.replace(
        spec, method=method, permutation=permutation, task_heads=task_heads
    )


XLA_CACHE = ".xla_cache"  # in the output folder: the workers' compiled programs


def job_folder(spec: RunSpec, variant: str, seed: int) -> Path:
    """The fixed run folder of one (variant, seed) job of a comparison."""
    return Path(spec.output_dir) / f"{spec.name}_{variant}" / f"seed{seed}"


class MixedCodeError(ValueError):
    """A job's folder was trained by other learner code than the code running now."""


def stored_code(folder: Path) -> dict | None:
    """The `code` record of a job's folder (metrics.json, else progress.json)."""
    for name in ("metrics.json", "progress.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text()).get("code")
    return None


def _check_code(folder: Path, allow_mixed: bool) -> None:
    stored = stored_code(folder)
    if allow_mixed or same_code(stored, code_version()):
        return
    raise MixedCodeError(
        f"compare: {str(folder)!r} was trained by {describe_code(stored)}, but this is "
        f"{describe_code(code_version())}; pass --allow-mixed to use it anyway (the "
        "report then names every commit), or move it away"
    )


def trains_alike(stored: RunSpec, job: RunSpec) -> bool:
    """Whether a job folder's stored spec trains exactly as `job` does: equal, up to
    how often a run saves (resume is exact) and, for every method but Rewire, the
    permutation spec (only Rewire's network reads it)."""
    stored = dataclasses.replace(stored, checkpoint_every_steps=job.checkpoint_every_steps)
    if not job.method.rewires:
        stored = dataclasses.replace(stored, permutation=job.permutation)
    return stored == job


def prepare_job(job: RunSpec, folder: Path, *, allow_mixed: bool = False) -> str:
    """What a (variant, seed) job's folder holds: "finished", "resume" (a record to
    continue) or "new" (a folder stopped before its first record is cleared). A job
    trained by other learner code is refused unless `allow_mixed`."""
    if (folder / "spec.json").is_file():
        stored = spec_from_dict(RunSpec, json.loads((folder / "spec.json").read_text()))
        if not trains_alike(stored, job):
            raise ValueError(
                f"compare: {str(folder)!r} holds a run of a different spec; move it away "
                "or choose another --output-dir"
            )
    if (folder / "metrics.json").is_file():
        _check_code(folder, allow_mixed)
        return "finished"
    if (folder / "progress.json").is_file():
        _check_code(folder, allow_mixed)
        return "resume"
    if folder.exists():  # stopped before its first record: nothing to keep
        shutil.rmtree(folder)
    return "new"


_DONE = {"finished": "finished", "resume": "resumed", "new": "ran"}


def run_job(job: RunSpec, folder: Path, *, allow_mixed: bool = False) -> str:
    """Read, resume or start one job; returns what was done."""
    return run_jobs([job], [folder], allow_mixed=allow_mixed)[0]


def run_jobs(
    jobs: list[RunSpec], folders: list[Path], *, allow_mixed: bool = False
) -> list[str]:
    """Read, resume or start the jobs of one variant (seeds of one spec); the
    unfinished ones train together (`runner.run_seeds`). Returns what was done."""
    from rewire_eqx.runner import run_seeds

    plans = [
        prepare_job(job, folder, allow_mixed=allow_mixed)
        for job, folder in zip(jobs, folders)
    ]
    todo = [i for i, plan in enumerate(plans) if plan != "finished"]
    if todo:
        run_seeds(
            [None if plans[i] == "resume" else jobs[i] for i in todo],
            resumes=[folders[i] if plans[i] == "resume" else None for i in todo],
            run_dirs=[None if plans[i] == "resume" else folders[i] for i in todo],
            progress=False,
        )
    return [_DONE[plan] for plan in plans]


def compare(
    spec: RunSpec,
    *,
    variants: list[str],
    seeds: int,
    out: Path,
    against_paper: bool = False,
    together: bool = False,
    jobs: int = 1,
    allow_mixed: bool = False,
    ray: RayOptions | None = None,
) -> str:
    """Run every variant for `seeds` seeds (one after another; with `together` as one
    program with a seed axis: `runner.run_seeds`; with `jobs > 1` in that many worker
    processes, each on its share of the cores: `jobs.LocalWorkers`; with `ray`, as
    tasks of a Ray cluster: `ray_jobs.RayJobs`), skipping finished
    jobs and resuming unfinished ones; write and return a report (with `against_paper`,
    also `against_paper.md`: our table beside the paper's Table 1 and Table 3).

    Every job's folder must have been trained by the code running now
    (`provenance.code_version`) unless `allow_mixed`; the report names the commits. A
    job that fails in a worker is listed in `failed.md` and left out of the report; the
    others go on, and `CompareFailures` is raised after the report is written."""
    from rewire_eqx.report import (
        difference_table,
        format_table,
        interval_table,
        load_metrics,
        per_task_table,
        plot,
        rewire_diagnostics,
    )

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    if jobs < 1:
        raise ValueError(f"compare: jobs={jobs} must be >= 1")
    if together and jobs > 1:
        raise ValueError("compare: --together and --jobs > 1 exclude each other")
    if ray is not None and (together or jobs > 1):
        raise ValueError("compare: --ray excludes --together and --jobs > 1")
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[str]] = {}
    planned: list[tuple[str, int, RunSpec, Path]] = []
    finished: set[Path] = set()
    for variant in variants:
        for seed in range(seeds):
            job = dataclasses.replace(
                variant_spec(spec, variant), name=f"{spec.name}_{variant}", seed=seed
            )
            folder = job_folder(spec, variant, seed)
            # refuse a mixed or foreign folder before anything trains
            if prepare_job(job, folder, allow_mixed=allow_mixed) == "finished":
                finished.add(folder)
            planned.append((variant, seed, job, folder))
        runs[variant] = [str(job_folder(spec, variant, seed)) for seed in range(seeds)]
    xla_cache = Path(spec.output_dir) / XLA_CACHE
    failed = _run_planned(planned, finished, together, jobs, allow_mixed, ray, xla_cache)
    metrics, labelled = [], []
    (out / "metrics").mkdir(exist_ok=True)
    (out / "failed.md").unlink(missing_ok=True)
    if failed:
        lines = ["| job | folder | why |", "|---|---|---|"]
        lines += [f"| {o.job.name} | {o.job.folder} | {o.message} |" for o in failed]
        (out / "failed.md").write_text("\n".join(lines) + "\n")
    failed_dirs = {str(o.job.folder) for o in failed}
    runs = {
        variant: [d for d in dirs if d not in failed_dirs] for variant, dirs in runs.items()
    }
    runs = {variant: dirs for variant, dirs in runs.items() if dirs}
    for variant, dirs in runs.items():
        for d in dirs:
            seed = int(Path(d).name.removeprefix("seed"))
            m = load_metrics(d)
            metrics.append(m)
            labelled.append({**m, "variant": variant})
            shutil.copyfile(
                Path(d) / "metrics.json", out / "metrics" / f"{variant}_seed{seed}.json"
            )
        plot(load_metrics(dirs[0]), out / variant)
    scores = sorted({score_description(m) for m in labelled})
    header = _code_line(labelled) + "\n\nScores: " + "; ".join(scores)
    table = header + "\n\n" + format_table(metrics)
    (out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    (out / "table.md").write_text(table + "\n")
    intervals, interval_json = interval_table(labelled)
    (out / "intervals.md").write_text(intervals + "\n")
    (out / "intervals.json").write_text(json.dumps(interval_json, indent=2) + "\n")
    (out / "per_task.md").write_text(per_task_table(labelled) + "\n")
    table = table + "\n\n" + intervals
    if any(m["method"] == "rewire" for m in labelled):
        (out / "rewire_diagnostics.md").write_text(rewire_diagnostics(labelled) + "\n")
    if "rewire" in runs and len(runs) > 1:
        (out / "differences.md").write_text(difference_table(labelled) + "\n")
    if against_paper:
        from rewire_eqx.paper import against_paper as beside_paper

        paper = beside_paper(spec, labelled, seeds, intervals=interval_json)
        (out / "against_paper.md").write_text(paper + "\n")
        table = table + "\n\n" + paper
    if failed:
        raise CompareFailures(table, failed)
    return table


class CompareFailures(RuntimeError):
    """Some jobs failed; the report of the others was written (`report`), and
    `failed.md` lists the failed ones."""

    def __init__(self, report: str, failed: list):
        self.report, self.failed = report, failed
        names = ", ".join(o.job.name for o in failed)
        super().__init__(f"compare: {len(failed)} job(s) failed: {names} (see failed.md)")


def _code_line(labelled: list[dict]) -> str:
    """Which code trained the runs of the report, with how many runs each."""
    counts: dict[str, int] = {}
    for m in labelled:
        label = describe_code(m.get("code"))
        for other in m.get("code_resumed_with", []):
            label += f", resumed with {describe_code(other)}"
        counts[label] = counts.get(label, 0) + 1
    parts = [f"{label} ({n} run{'s' if n > 1 else ''})" for label, n in counts.items()]
    return "Trained by: " + "; ".join(parts)


def _run_planned(
    planned,
    finished: set[Path],
    together: bool,
    jobs: int,
    allow_mixed: bool,
    ray=None,
    xla_cache: Path | None = None,
):
    """Run the planned (variant, seed, spec, folder) jobs; returns the failed outcomes
    (only worker processes can fail a job alone). Jobs whose folders are in `finished`
    are only announced: no worker is started to read them. Local workers share
    `xla_cache` as their persistent compilation cache."""
    from rewire_eqx import jobs as backends

    if not together:
        if ray is not None:
            from rewire_eqx.ray_jobs import RayJobs

            pool = RayJobs(ray)
        else:
            pool = backends.local_jobs(jobs, xla_cache)
        # seed by seed (every variant of seed 0 first): a comparison stopped part-way
        # holds whole seeds, and a report can be built from them; within a seed, local
        # workers start the variant that has run longest first (`jobs.next_job`)
        for variant, seed, job, folder in sorted(planned, key=lambda item: item[1]):
            if folder in finished:
                print(f"compare: {variant} seed {seed}: finished ({folder})", flush=True)
            else:
                name = f"{variant} seed {seed}"
                pool.submit(
                    backends.Job(name, job, folder, allow_mixed, kind=variant, batch=seed)
                )
        return [outcome for outcome in pool.collect() if not outcome.ok]
    by_variant: dict[str, list] = {}
    for item in planned:
        by_variant.setdefault(item[0], []).append(item)
    for variant, items in by_variant.items():  # each variant's seeds as one program
        done = run_jobs(
            [job for _, _, job, _ in items],
            [folder for _, _, _, folder in items],
            allow_mixed=allow_mixed,
        )
        for (_, seed, _, folder), what in zip(items, done):
            print(f"compare: {variant} seed {seed}: {what} ({folder})", flush=True)
    return []
