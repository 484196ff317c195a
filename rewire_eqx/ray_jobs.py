"""Comparison jobs on a Ray cluster (`compare --ray [ADDRESS]`), behind `jobs.AbstractJobs`.

Each (variant, seed) job is one Ray task with its resource request (`cpus_per_job` CPU
cores, `gpus_per_job` GPUs). The task runs the job exactly as `jobs.LocalWorkers` does:
a worker process (`python -m rewire_eqx.worker`) confined to cores of its node before
JAX starts, writing the job's fixed folder and log. The folders must therefore lie on a
file system every node mounts at the same path (on one machine, any folder). So:

* the same command resumes a stopped comparison and rebuilds the report (the folders
  hold the state, as with local workers);
* a task lost with its node, or whose worker process is killed (SIGKILL, out of memory),
  is retried by Ray up to `retries` times, and the new attempt resumes the job from its
  last checkpoint (exactly: `runner`'s mid-task checkpoints);
* a job that fails by itself (a non-finite loss, a damaged folder) is not retried: its
  outcome is "failed" with the end of its log, and the other jobs go on;
* Ctrl-C cancels every task; each interrupts its worker, which keeps its checkpoint.

A worker's cores: the task claims `cpus_per_job` of its node's cores that no other
running task holds (a lock file per core in the node's temporary folder, released when
the task's process ends however it ends), so that jobs on one node do not share cores;
the worker process dies with the task's process (`PR_SET_PDEATHSIG`), so a retried job is
never written by two processes.

Ray is an optional dependency: `pip install -e ".[ray]"`.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import os
import signal
import tempfile
import time
from pathlib import Path

from rewire_eqx.jobs import (
    Job,
    Outcome,
    PollingJobs,
    ended_line,
    progress_line,
    spawn_worker,
    worker_outcome,
)

__all__ = ["JobProcessDied", "RayJobs", "RayOptions", "claim_cores"]

_CORE_LOCKS = Path(tempfile.gettempdir()) / "rewire_eqx_cores"


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where and how `compare --ray` runs its jobs (`RayJobs`' arguments)."""

    address: str | None = None  # None: RAY_ADDRESS or a new local cluster; "auto"
    cpus_per_job: int = 1
    gpus_per_job: float = 0.0
    retries: int = 3  # Ray's retries of a job lost with its node or its worker process

    def __post_init__(self):
        if self.cpus_per_job < 1:
            raise ValueError(f"--ray-cpus-per-job={self.cpus_per_job} must be >= 1")
        if self.gpus_per_job < 0:
            raise ValueError(f"--ray-gpus-per-job={self.gpus_per_job} must be >= 0")
        if self.retries < 0:
            raise ValueError(f"--ray-retries={self.retries} must be >= 0")


class JobProcessDied(RuntimeError):
    """A job's worker process was killed by a signal: Ray retries the task."""


class JobFailed(RuntimeError):
    """A job failed by itself (its worker exited with an error): not retried."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError(
            'compare --ray needs Ray, an optional dependency: pip install -e ".[ray]"'
        ) from None
    return ray


def claim_cores(count: int) -> tuple[list[int], list[int]]:
    """`count` of this node's usable cores held by no other claim (a lock file per core,
    held until the returned file descriptors close, which the process's end does too).
    With fewer free cores than `count`, the rest are shared. Returns (cores, fds)."""
    _CORE_LOCKS.mkdir(parents=True, exist_ok=True)
    usable = sorted(os.sched_getaffinity(0))
    cores, fds = [], []
    for core in usable:
        if len(cores) == count:
            break
        fd = os.open(_CORE_LOCKS / f"core{core}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        cores.append(core)
        fds.append(fd)
    for core in usable:  # not enough free cores: share
        if len(cores) == count:
            break
        if core not in cores:
            cores.append(core)
    return cores, fds


def _die_with_parent() -> None:
    """In the worker process, before exec: SIGKILL it when its parent (the Ray task's
    process) ends, so that a retried job never has two writers."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def run_on_node(job: Job, cpus: int) -> str:
    """The body of a job's Ray task: its worker process on `cpus` claimed cores of this
    node; the job's status, `JobProcessDied` (retried) or `JobFailed`."""
    cores, fds = claim_cores(cpus)
    try:
        process = spawn_worker(job, cores, preexec_fn=_die_with_parent)
        try:
            code = process.wait()
        except KeyboardInterrupt:  # ray.cancel: the worker writes its checkpoint
            process.send_signal(signal.SIGINT)
            process.wait()
            raise
    finally:
        for fd in fds:
            os.close(fd)
    outcome = worker_outcome(job, code)
    if outcome.ok:
        return outcome.status
    if code < 0:
        raise JobProcessDied(outcome.message)
    raise JobFailed(outcome.message)


class RayJobs(PollingJobs):
    """Every submitted job as a task of a Ray cluster (`RayOptions.address`: None for
    the one `RAY_ADDRESS` names or a new local one, "auto" for the running local one);
    a cluster already initialised in this process (`ray.init`) is used as it is."""

    def __init__(
        self,
        options: RayOptions = RayOptions(),
        *,
        poll_seconds: float = 2.0,
        print_every: float = 60.0,
    ):
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=options.address, log_to_driver=False)
        self._task = ray.remote(run_on_node).options(
            num_cpus=options.cpus_per_job,
            num_gpus=options.gpus_per_job,
            max_retries=options.retries,
            retry_exceptions=[JobProcessDied],
        )
        self.cpus_per_job = options.cpus_per_job
        self.poll_seconds, self.print_every = poll_seconds, print_every
        self._pending: dict[object, tuple[Job, float]] = {}  # task ref -> (job, start)
        self._order: list[str] = []
        self._outcomes: dict[str, Outcome] = {}

    def submit(self, job: Job) -> None:
        if job.name in self._order:
            raise ValueError(f"a job named {job.name!r} was already submitted")
        self._order.append(job.name)
        ref = self._task.remote(job, self.cpus_per_job)
        self._pending[ref] = (job, time.monotonic())
        print(f"compare: {job.name}: submitted to Ray (log {job.log})", flush=True)

    def poll(self) -> list[str]:
        if self._pending:
            done, _ = self._ray.wait(
                list(self._pending), num_returns=len(self._pending), timeout=0
            )
            for ref in done:
                job, _ = self._pending.pop(ref)
                self._outcomes[job.name] = self._outcome(job, ref)
                print(ended_line(self._outcomes[job.name]), flush=True)
        return [
            progress_line(job, "ray", started)
            for job, started in self._pending.values()
            if job.log.is_file()
        ]

    def _outcome(self, job: Job, ref) -> Outcome:
        try:
            return Outcome(job, self._ray.get(ref))
        except Exception as error:  # the task's own error, or Ray's (node lost, ...)
            cause = getattr(error, "cause", None) or error
            return Outcome(job, "failed", f"{type(cause).__name__}: {cause}")

    def _busy(self) -> bool:
        return bool(self._pending)

    def stop(self) -> None:
        """Cancel every task (each interrupts its worker, which keeps its checkpoint),
        then wait up to 120 s for them to end."""
        refs = list(self._pending)
        for ref in refs:
            self._ray.cancel(ref)
        if refs:
            self._ray.wait(refs, num_returns=len(refs), timeout=120)
        self._pending = {}
