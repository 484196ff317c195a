"""Wall time of one fixed comparison run sequentially and with `--jobs 2`.

    python -m bench.jobs                      # writes bench/results/jobs.json

Runs `compare SPEC --variants ... --seeds ...` twice from empty output folders, once
with `--jobs 1` (every job in the compare process, which has both cores) and once with
`--jobs 2` (two worker processes, one core each), one after the other, and records both
wall times (compilations included: each worker compiles its own programs) and their
ratio, and each job's own training time in both. It also compares every job's R and
curves between the two: whether a job's metrics depend on the process and thread count
it ran with. Run nothing else beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rewire_eqx.provenance import code_version

DEFAULT_ARGS = [
    "specs/cw3_cpu.py",
    "--variants",
    "ft1",
    "rewire",
    "--seeds",
    "1",
    "--scenario.budget-scale",
    "0.05",
    "--scenario.evals-per-task",
    "2",
]


def _compare(args: list[str], jobs: int, root: Path) -> float:
    out = root / f"jobs{jobs}"
    command = [
        sys.executable,
        "-m",
        "rewire_eqx",
        "compare",
        *args,
        "--jobs",
        str(jobs),
        "--output-dir",
        str(out / "runs"),
        "--out",
        str(out / "report"),
    ]
    started = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(command, check=True, stdout=log)
    return time.perf_counter() - started


def _starts(log: Path) -> list[str]:
    """`<job> on cores [c]` for every worker start, in order (the `--jobs 2` log)."""
    marker = ": started on cores "
    return [
        line.removeprefix("compare: ").split(" (log")[0].replace(marker, " on cores ")
        for line in log.read_text().splitlines()
        if marker in line
    ]


def _metrics(root: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(root.glob("runs/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        found[f"{path.parent.parent.name}/{path.parent.name}"] = m
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/jobs.json")
    parser.add_argument("args", nargs="*", help="compare arguments (default: %(default)s)")
    options = parser.parse_args()
    args = options.args or DEFAULT_ARGS
    root = Path(tempfile.mkdtemp(prefix="bench_jobs_"))
    try:
        sequential = _compare(args, 1, root)
        print(f"sequential: {sequential:.1f} s", flush=True)
        parallel = _compare(args, 2, root)
        starts = _starts(root / "jobs2.log")
        one, two = _metrics(root / "jobs1"), _metrics(root / "jobs2")
        same = {
            name: one[name]["R"] == two[name]["R"]
            and one[name]["curves"] == two[name]["curves"]
            for name in one
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "command": "python -m rewire_eqx compare " + " ".join(args) + " --jobs {1,2}",
        "code": code_version(),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
        },
        "sequential_seconds": sequential,
        "jobs2_seconds": parallel,
        "speedup": sequential / parallel,
        "jobs": len(one),
        # which worker started which job, in order (jobs.next_job picks them)
        "jobs2_starts": starts,
        "metrics_identical_per_job": same,
        # each job's own training time (compilation and evaluation excluded) in both
        # modes: whether the --jobs 2 wall time is bound by one long job (imbalance) or
        # by what a job loses on one core against two (the sequential jobs have both)
        "train_seconds_per_job": {
            name: {"jobs1": one[name]["train_seconds"], "jobs2": two[name]["train_seconds"]}
            for name in one
        },
    }
    Path(options.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
