"""`python -m rewire_eqx.worker JOB_FILE CORES`: one job of `jobs.LocalWorkers`.

The process first confines itself to CORES (comma-separated CPU ids) and only then
imports JAX, so that XLA sizes its thread pool to those cores."""

import os
import sys


def main(argv: list[str]) -> int:
    job_file, cores = argv
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    from rewire_eqx.jobs import run_worker

    return run_worker(job_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
