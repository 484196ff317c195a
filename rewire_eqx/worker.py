"""`python -m rewire_eqx.worker JOB_FILE CORES`: one job of `jobs.LocalWorkers`.

The process first confines itself to CORES (comma-separated CPU ids) and only then
imports JAX, so that XLA sizes its thread pool to those cores."""

import os
import sys


def interruptible() -> None:
    """Let SIGINT raise KeyboardInterrupt in this process (the main thread), even when
    it was started with SIGINT ignored, as a shell's background job is: then `compare`
    stopping its workers, or `kill -INT`, still ends a run with its checkpoint."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str]) -> int:
    interruptible()
    job_file, cores = argv
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    from rewire_eqx.jobs import run_worker

    return run_worker(job_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
