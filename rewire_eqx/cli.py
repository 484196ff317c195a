"""Command line: `python -m rewire_eqx {run,...}`.

`run PATH [--field value ...]` loads the module-level `SPEC` of a spec file and lets
tyro override any of its fields. User errors (a missing file, a file without `SPEC`, an
invalid override or value) print one line to stderr and exit with status 2, before
anything is compiled.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import tyro

__all__ = ["SpecError", "load_spec", "main", "parse_spec"]


class SpecError(Exception):
    """A user error in a spec file or an override; reported in one line, exit code 2."""


def load_spec(path: str | Path) -> object:
    """Import a spec file and return its module-level `SPEC` (a frozen dataclass)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    module_spec = importlib.util.spec_from_file_location(f"_rewire_spec_{path.stem}", path)
    if module_spec is None or module_spec.loader is None:
        raise SpecError(f"spec file {str(path)!r} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # the user's file: report, do not crash
        raise SpecError(
            f"spec file {str(path)!r} failed to load: {type(error).__name__}: {error}"
        ) from error
    if not hasattr(module, "SPEC"):
        raise SpecError(f"spec file {str(path)!r} defines no module-level SPEC")
    spec = module.SPEC
    if not dataclasses.is_dataclass(spec) or isinstance(spec, type):
        raise SpecError(
            f"SPEC in {str(path)!r} is a {type(spec).__name__}, expected a spec dataclass "
            "instance such as rewire_eqx.specs.RunSpec()"
        )
    return spec


def _one_line(text: str) -> str:
    """Collapse tyro's error message (a title, then paragraphs) to one line."""
    blocks: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip().strip("│|╭╮╰╯+").strip()
        title = re.fullmatch(r"[─-]+\s*(.*?)\s*[─-]+", line)
        if title and title.group(1):  # a box's top border carries its title
            blocks += [[title.group(1)], []]
        elif re.fullmatch(r"[─\-\s]*", line):  # a rule ends a paragraph
            blocks.append([])
        else:
            blocks[-1].append(line)
    blocks = [block for block in blocks if block]
    if not blocks:
        return text.strip()
    if len(blocks) > 1 and len(blocks[0]) == 1:
        return f"{blocks[0][0]}: {' '.join(blocks[1])}"
    return " ".join(blocks[0])


def parse_spec(spec: object, args: Sequence[str], *, prog: str) -> object:
    """Apply command-line overrides to a loaded spec with tyro.

    `--help` prints tyro's help and exits 0; a bad override raises `SpecError`.
    """
    if any(a in ("-h", "--help") for a in args):
        return tyro.cli(type(spec), default=spec, args=list(args), prog=prog)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            return tyro.cli(type(spec), default=spec, args=list(args), prog=prog)
    except SystemExit as exit_:
        if exit_.code in (0, None):
            raise
        raise SpecError(_one_line(captured.getvalue())) from None
    except ValueError as error:  # a spec's own validation on the overridden values
        raise SpecError(str(error)) from None


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    from rewire_eqx import runner  # imported late: keeps `--help` and errors fast

    if args.resume is not None:
        if rest or args.spec is not None or args.seeds is not None:
            raise SpecError(
                "--resume RUN_DIR takes the spec and seed from the run folder: give no "
                "PATH, --seeds or overrides"
            )
        for folder in args.resume:
            try:
                resumed, _ = runner.load_resume(folder)
            except runner.ResumeError as error:
                raise SpecError(str(error)) from None
            _compilation_cache(args, resumed.output_dir)
        specs, resumes, run_dirs = [None] * len(args.resume), args.resume, None
    else:
        if args.spec is None:
            raise SpecError("run needs a spec file PATH (or --resume RUN_DIR)")
        spec = parse_spec(load_spec(args.spec), rest, prog=f"rewire_eqx run {args.spec}")
        try:
            runner.check_output_dir(spec.output_dir)
        except runner.OutputDirError as error:
            raise SpecError(str(error)) from None
        resumes, run_dirs = None, None
        specs = [spec]
        if args.seeds is not None:
            if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
                raise SpecError(
                    f"--seeds {args.seeds}: give distinct seeds >= 0 (e.g. --seeds 0 1 2 3)"
                )
            specs = [dataclasses.replace(spec, seed=seed) for seed in args.seeds]
            run_dirs = runner.new_seed_dirs(spec, args.seeds)
        _compilation_cache(args, spec.output_dir)
    try:
        folders = runner.run_seeds(specs, resumes=resumes, run_dirs=run_dirs)
    except runner.TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from rewire_eqx.report import report

    for folder in folders:
        print(f"run folder: {folder}")
    print(report([str(folder) for folder in folders]))
    return 0


def _compilation_cache(args: argparse.Namespace, output_dir: str) -> None:
    """With `main(compilation_cache=True)`, this process's persistent compilation cache
    is `<output_dir>/.xla_cache`, the folder comparison workers share
    (`jobs.use_compilation_cache`)."""
    if args.compilation_cache:
        from rewire_eqx.comparison import XLA_CACHE
        from rewire_eqx.jobs import use_compilation_cache

        use_compilation_cache(Path(output_dir) / XLA_CACHE)


def _ray_options(args: argparse.Namespace):
    """`--ray [ADDRESS]` and its options, checked before anything compiles; None
    without `--ray`."""
    given = [
        flag
        for flag, value in (
            ("--ray-cpus-per-job", args.ray_cpus_per_job),
            ("--ray-gpus-per-job", args.ray_gpus_per_job),
            ("--ray-retries", args.ray_retries),
        )
        if value is not None
    ]
    if args.ray is None:
        if given:
            raise SpecError(f"compare: {given[0]} needs --ray")
        return None
    if args.together or args.jobs not in (None, 1):
        raise SpecError("compare: --ray excludes --together and --jobs")
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise SpecError(
            'compare: --ray needs Ray, an optional dependency: pip install -e ".[ray]"'
        )
    from rewire_eqx.ray_jobs import RayOptions

    options = {
        "cpus_per_job": args.ray_cpus_per_job,
        "gpus_per_job": args.ray_gpus_per_job,
        "retries": args.ray_retries,
    }
    try:
        return RayOptions(
            address=args.ray or None, **{k: v for k, v in options.items() if v is not None}
        )
    except ValueError as error:
        raise SpecError(f"compare: {error}") from None


def _compare(args: argparse.Namespace, rest: list[str]) -> int:
    from rewire_eqx.comparison import VARIANTS, compare

    if any(word == "--seed" or word.startswith("--seed=") for word in rest):
        raise SpecError("compare: --seed is not used; --seeds N runs seeds 0..N-1")
    spec = parse_spec(load_spec(args.spec), rest, prog=f"rewire_eqx compare {args.spec}")
    variants = args.variants or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SpecError(
            f"compare: unknown variants {unknown}; valid choices: {list(VARIANTS)}"
        )
    if args.seeds < 1:
        raise SpecError(f"compare: --seeds={args.seeds} must be >= 1")
    from rewire_eqx.runner import OutputDirError, check_output_dir

    try:
        check_output_dir(spec.output_dir)
        check_output_dir(args.out, field="--out")
    except OutputDirError as error:
        raise SpecError(str(error)) from None
    if args.jobs is not None and args.jobs < 1:
        raise SpecError(f"compare: --jobs={args.jobs} must be >= 1")
    from rewire_eqx.jobs import default_workers

    jobs = default_workers() if args.jobs is None else args.jobs
    if args.together:
        if args.jobs not in (None, 1):
            raise SpecError("compare: --together and --jobs > 1 exclude each other")
        jobs = 1
    ray = _ray_options(args)
    if ray is not None:
        jobs = 1  # Ray places the jobs
    from rewire_eqx.comparison import CompareFailures, MixedCodeError

    if jobs == 1 and ray is None:  # jobs in this process (workers get the cache anyway)
        _compilation_cache(args, spec.output_dir)
    try:
        report = compare(
            spec,
            variants=variants,
            seeds=args.seeds,
            out=Path(args.out),
            against_paper=args.against == "paper",
            together=args.together,
            jobs=jobs,
            allow_mixed=args.allow_mixed,
            ray=ray,
        )
    except MixedCodeError as error:
        raise SpecError(str(error)) from None
    except CompareFailures as failures:
        print(failures.report)
        print(f"error: {failures}", file=sys.stderr)
        return 1
    print(report)
    return 0


def _references(args: argparse.Namespace, rest: list[str]) -> int:
    from rewire_eqx.references import ReferenceFailures, references
    from rewire_eqx.runner import OutputDirError, check_output_dir

    spec = parse_spec(load_spec(args.spec), rest, prog=f"rewire_eqx references {args.spec}")
    out = Path(args.out) if args.out else Path("runs/references") / f"{spec.name}.json"
    try:
        check_output_dir(spec.output_dir)
        check_output_dir(str(out.parent), field="--out")
    except OutputDirError as error:
        raise SpecError(str(error)) from None
    if args.seeds < 1:
        raise SpecError(f"references: --seeds={args.seeds} must be >= 1")
    if args.jobs is not None and args.jobs < 1:
        raise SpecError(f"references: --jobs={args.jobs} must be >= 1")
    from rewire_eqx.comparison import MixedCodeError
    from rewire_eqx.jobs import default_workers

    jobs = min(default_workers(), args.seeds) if args.jobs is None else args.jobs
    if jobs == 1:
        _compilation_cache(args, spec.output_dir)
    command = " ".join(["python -m rewire_eqx references", args.spec, *rest])
    for flag, value in (
        ("--out", args.out),
        ("--seeds", args.seeds if args.seeds > 1 else None),
    ):
        if value:
            command += f" {flag} {value}"
    try:
        table = references(
            spec,
            out=out,
            command=command,
            seeds=args.seeds,
            jobs=jobs,
            allow_mixed=args.allow_mixed,
        )
    except (MixedCodeError, ReferenceFailures) as error:
        raise SpecError(str(error)) from None
    over = f" (mean of seeds {table['seeds']})" if len(table["seeds"]) > 1 else ""
    for task, final, auc in zip(table["tasks"], table["final"], table["auc"]):
        print(f"{task}: final {final:.4g}, AUC {auc:.4g}{over}")
    print(f"written: {out}\noverrides: {table['overrides']}")
    return 0


def _report(args: argparse.Namespace, rest: list[str]) -> int:
    from rewire_eqx.report import ReportError, report

    if rest:
        raise SpecError(f"report: unexpected arguments {rest}")
    try:
        print(report(args.runs, plots=not args.no_plots))
    except ReportError as error:
        raise SpecError(str(error)) from None
    return 0


def _heads(args: argparse.Namespace, rest: list[str]) -> int:
    from rewire_eqx import run_folder
    from rewire_eqx.heads import HeadProbeError, format_probes, head_probes

    if rest:
        raise SpecError(f"heads: unexpected arguments {rest}")
    probes = []
    try:
        for run_dir in args.runs:
            probes += head_probes(run_dir)
    except HeadProbeError as error:
        raise SpecError(str(error)) from None
    table = format_probes(probes)
    print(table)
    if args.out:
        run_folder.write_atomic(Path(args.out), (table + "\n").encode())
        print(f"written: {args.out}")
    return 0


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="python -m rewire_eqx",
        description="Continual reinforcement learning by rewiring neurons (JAX + Equinox).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="train and evaluate the scenario of a spec file",
        description="Load SPEC from a spec file, apply overrides (--field value), run it. "
        "Pass --help after PATH to list every overridable field.",
        add_help=False,
        allow_abbrev=False,  # `--seed` is a spec field, not short for `--seeds`
    )
    run.add_argument("spec", metavar="PATH", nargs="?", help="a spec file defining SPEC")
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        nargs="+",
        help="continue killed runs from their folders (several: trained together)",
    )
    run.add_argument(
        "--seeds",
        metavar="SEED",
        nargs="+",
        type=int,
        help="train these seeds together, as one program with a seed axis (sharded "
        "across devices when there are several); one run folder each",
    )
    report = commands.add_parser(
        "report",
        help="print the R matrix and metrics of finished runs, write plots",
        description="Print each run's R matrix, a metrics table (mean ± std over runs of the "
        "same spec and method) and write reward-curve and R-heatmap PNGs into each run folder.",
    )
    report.add_argument("runs", metavar="RUN_DIR", nargs="+")
    report.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    compare = commands.add_parser(
        "compare",
        help="run every method and Rewire ablation over seeds on one scenario, report",
        description="Run methods (default: all, and Rewire without caching / multi-mode / "
        "alignment) for several seeds on the spec's scenario; write table.md, runs.json and "
        "plots under --out. Overrides after PATH apply to every run.",
        allow_abbrev=False,  # `--seed` is a spec field, not short for `--seeds`
    )
    compare.add_argument("spec", metavar="PATH")
    compare.add_argument("--seeds", type=int, default=3)
    compare.add_argument("--variants", nargs="*", metavar="NAME")
    compare.add_argument(
        "--together",
        action="store_true",
        help="train each variant's seeds as one program with a seed axis (sharded "
        "across devices when there are several; no faster on a 2-core CPU)",
    )
    compare.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="run the (variant, seed) jobs in N worker processes, each confined to its "
        "share of the cores (default: one per usable core; 1 runs them in this process)",
    )
    compare.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run every (variant, seed) job as a task of a Ray cluster: ADDRESS (e.g. "
        "'auto' or 'ray://head:10001'), else RAY_ADDRESS or a new local cluster; job "
        'folders must be on a file system all nodes share (pip install -e ".[ray]")',
    )
    compare.add_argument(
        "--ray-cpus-per-job",
        type=int,
        default=None,
        metavar="N",
        help="CPU cores a Ray job asks for and is confined to (default 1)",
    )
    compare.add_argument(
        "--ray-gpus-per-job",
        type=float,
        default=None,
        metavar="G",
        help="GPUs a Ray job asks for (default 0)",
    )
    compare.add_argument(
        "--ray-retries",
        type=int,
        default=None,
        metavar="R",
        help="times Ray reruns a job lost with its node or worker process, resuming it "
        "from its checkpoint (default 3)",
    )
    compare.add_argument(
        "--allow-mixed",
        action="store_true",
        help="use job folders trained by other learner code (another commit); the report "
        "names every commit",
    )
    compare.add_argument("--out", default="runs/comparison")
    compare.add_argument(
        "--against",
        choices=["paper"],
        help="also write against_paper.md: our table beside the paper's Tables 1 and 3",
    )
    heads = commands.add_parser(
        "heads",
        help="head-swap probe of finished runs with a head per task slot",
        description="For every finished task t >= 1 of each run, evaluate on task t the "
        "networks of tasks t-1 and t, each with the head of task t-1 and of task t (the "
        "pair of task t reproduces R[t, t]): how much of a task's learning sits in its "
        "head.",
    )
    heads.add_argument("runs", metavar="RUN_DIR", nargs="+")
    heads.add_argument("--out", default=None, help="also write the table to this file")
    refs = commands.add_parser(
        "references",
        help="single-task SAC on each task of a scenario: reference scores and AUCs",
        description="Train a fresh SAC on each task of the spec's scenario (SAC-N) at its "
        "budget and write the final score and training-curve AUC of every task, with the "
        "command, to --out (default runs/references/<spec name>.json). Overrides after "
        "PATH apply; a stopped computation resumes when the same command runs again.",
        allow_abbrev=False,  # `--seed` is a spec field, not short for `--seeds`
    )
    refs.add_argument("spec", metavar="PATH")
    refs.add_argument("--out", default=None)
    refs.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="SAC-N at seeds SEED..SEED+N-1 (the spec's --seed, default 0); the references "
        "are their mean, and every seed's values are kept in the table",
    )
    refs.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="run the seeds' jobs in N worker processes, each confined to its share of the "
        "cores (default: one per usable core, at most one per seed)",
    )
    refs.add_argument(
        "--allow-mixed",
        action="store_true",
        help="use SAC-N job folders trained by other learner code (another commit)",
    )
    return parser, run


def main(argv: Sequence[str] | None = None, *, compilation_cache: bool = False) -> int:
    """Run one command; its exit status. `compilation_cache=True` (as `python -m
    rewire_eqx` calls it) gives a command that trains in this process the output
    folder's persistent compilation cache: a process-wide JAX option, left unset for
    calls from Python (the test suite, notebooks)."""
    from rewire_eqx.worker import interruptible

    interruptible()  # Ctrl-C or kill -INT stops a run with its checkpoint, even a background one
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, run_parser = _parser()
    asks_help = any(a in ("-h", "--help") for a in argv)
    if argv[:1] == ["run"] and (
        len(argv) == 1 or argv[1] in ("-h", "--help") or ("--resume" in argv and asks_help)
    ):
        run_parser.print_help()
        return 0 if len(argv) > 1 else 2
    args, rest = parser.parse_known_args(argv)
    args.compilation_cache = compilation_cache
    try:
        if args.command == "run":
            return _run(args, rest)
        if args.command == "report":
            return _report(args, rest)
        if args.command == "compare":
            return _compare(args, rest)
        if args.command == "references":
            return _references(args, rest)
        if args.command == "heads":
            return _heads(args, rest)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a folder made read-only during the run
        where = f" {error.filename!r}" if error.filename else ""
        print(
            f"error: cannot write{where}: {error.strerror or error}; the checkpoints "
            "already written are intact",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        what = (
            "the comparison continues where it stopped when the same command runs again"
            if args.command == "compare"
            else "the run folder keeps a checkpoint of the last finished chunk "
            "(continue with: run --resume RUN_DIR)"
        )
        print(f"error: interrupted; {what}", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2
