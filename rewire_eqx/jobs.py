"""Independent training jobs behind one small interface: `submit`, `poll`, `collect`.

A *job* is one (variant, seed) run of a comparison, or one single-task reference run,
with a fixed run folder; running it means "read it if finished, resume it if started,
start it otherwise" (`comparison.run_job`), so any backend can stop and the same command
resumes every job. Two backends:

* `InProcess`: every job in this process, one after another (the default with one job).
* `LocalWorkers(n)`: `n` worker processes (`python -m rewire_eqx.worker JOB_FILE CORES`), each
  confined to its share of the machine's cores before JAX starts (CPU affinity, which
  also sizes XLA's thread pool), at most `n` at a time. A worker that dies (SIGKILL, a
  non-finite loss, a full disk) fails its own job, with the end of its log as the
  message; the other jobs go on. `stop()` (and Ctrl-C inside `collect`) interrupts every
  worker, which writes a checkpoint of its last finished chunk first. A free worker
  takes the longest-running kind of the lowest queued seed (`next_job`), and workers
  share a persistent compilation cache (`worker_environment`); the command-line process
  that runs jobs itself uses the same one (`use_compilation_cache`).

`ray_jobs.RayJobs` runs the same worker processes as tasks of a Ray cluster.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path

from rewire_eqx.specs import RunSpec, spec_from_dict, spec_to_dict

__all__ = [
    "Job",
    "Outcome",
    "AbstractJobs",
    "InProcess",
    "LocalWorkers",
    "PollingJobs",
    "next_job",
    "local_jobs",
    "default_workers",
    "core_shares",
    "ended_line",
    "progress_line",
    "spawn_worker",
    "use_compilation_cache",
    "worker_environment",
    "worker_outcome",
]

LOG_TAIL_LINES = 6


@dataclasses.dataclass(frozen=True)
class Job:
    """One run with a fixed folder; `name` labels it in progress lines and reports."""

    name: str
    spec: RunSpec
    folder: Path
    allow_mixed: bool = False  # use a folder trained by other code (compare's check)
    kind: str = ""  # jobs of one kind (a comparison's variant) take about as long
    batch: int = 0  # queued jobs of a lower batch (a comparison's seed) start first

    @property
    def log(self) -> Path:
        """Where a worker writes the job's output: beside its folder, kept when the
        folder is cleared."""
        return self.folder.parent / f"{self.folder.name}.log"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a job ended: `status` is "finished", "resumed", "ran" (what
    `comparison.run_job` did) or "failed" (then `message` says why)."""

    job: Job
    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class AbstractJobs(abc.ABC):
    """Runs submitted jobs; `collect` returns their outcomes in submission order."""

    @abc.abstractmethod
    def submit(self, job: Job) -> None:
        """Queue a job (it may start at once)."""

    @abc.abstractmethod
    def poll(self) -> list[str]:
        """Advance: start queued jobs on free workers, notice ended ones. Returns one
        progress line per running job."""

    @abc.abstractmethod
    def collect(self) -> list[Outcome]:
        """Wait for every submitted job; their outcomes, in submission order."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Interrupt every running job (each keeps its last checkpoint)."""


def _run_one(job: Job) -> str:
    from rewire_eqx.comparison import run_job

    return run_job(job.spec, job.folder, allow_mixed=job.allow_mixed)


class InProcess(AbstractJobs):
    """Every job in this process, one after another, when `collect` is called."""

    def __init__(self, run: Callable[[Job], str] = _run_one):
        self._run, self._queue = run, []

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def poll(self) -> list[str]:
        return []

    def stop(self) -> None:
        """Nothing runs between calls: a Ctrl-C inside `collect` stops the job itself."""
        self._queue = []

    def collect(self) -> list[Outcome]:
        outcomes = []
        for job in self._queue:
            status = self._run(job)
            print(f"compare: {job.name}: {status} ({job.folder})", flush=True)
            outcomes.append(Outcome(job, status))
        self._queue = []
        return outcomes


def _usable_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def default_workers() -> int:
    """One worker per usable core: a second core speeds one job by only 1.22x here,
    while two single-core jobs side by side do 1.87x the work (docs/benchmarks.md)."""
    return max(1, len(_usable_cores()))


def core_shares(workers: int, cores: list[int] | None = None) -> list[list[int]]:
    """The cores of each of `workers` workers: an even split of the usable cores (a
    worker gets at least one; with more workers than cores, cores are shared)."""
    cores = _usable_cores() if cores is None else list(cores)
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    size = len(cores) // workers
    return [cores[i * size : (i + 1) * size] for i in range(workers)]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


@dataclasses.dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    cores: list[int]
    started: float


class PollingJobs(AbstractJobs):
    """A backend whose jobs run elsewhere (processes, a cluster): `collect` polls until
    every job has ended, printing each running job's progress line every `print_every`
    seconds; Ctrl-C inside it stops every job. Subclasses keep `_order` (job names in
    submission order) and `_outcomes` (name -> outcome) and say when they are `_busy`."""

    poll_seconds: float
    print_every: float
    _order: list[str]
    _outcomes: dict[str, Outcome]

    @abc.abstractmethod
    def _busy(self) -> bool:
        """Whether a submitted job has not ended yet."""

    def collect(self) -> list[Outcome]:
        last_print = 0.0
        try:
            while self._busy():
                lines = self.poll()
                now = time.monotonic()
                if lines and now - last_print >= self.print_every:
                    for line in lines:
                        print(line, flush=True)
                    last_print = now
                if self._busy():
                    time.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            self.stop()
            raise
        outcomes = [self._outcomes[name] for name in self._order]
        self._order, self._outcomes = [], {}
        return outcomes


class LocalWorkers(PollingJobs):
    """Up to `workers` jobs at once, each in its own process confined to its cores; a
    free worker takes the queued job `next_job` picks (lowest batch, longest kind)."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        cores: list[int] | None = None,
        poll_seconds: float = 2.0,
        print_every: float = 60.0,
        xla_cache: Path | None = None,
    ):
        self.workers = default_workers() if workers is None else workers
        self.xla_cache = xla_cache
        self.shares = core_shares(self.workers, cores)
        self.poll_seconds, self.print_every = poll_seconds, print_every
        self._queue: list[Job] = []
        self._order: list[str] = []
        self._running: dict[int, _Running] = {}  # slot -> running job
        self._outcomes: dict[str, Outcome] = {}
        self._seconds: dict[str, float] = {}  # kind -> longest time a job of it ran

    # -- the interface

    def submit(self, job: Job) -> None:
        if job.name in self._order:
            raise ValueError(f"a job named {job.name!r} was already submitted")
        self._order.append(job.name)
        self._queue.append(job)

    def poll(self) -> list[str]:
        now = time.monotonic()  # one clock reading: jobs started together tie
        for slot, running in list(self._running.items()):
            code = running.process.poll()
            kind, took = running.job.kind, now - running.started
            self._seconds[kind] = max(self._seconds.get(kind, 0.0), took)
            if code is not None:
                del self._running[slot]
                self._outcomes[running.job.name] = worker_outcome(running.job, code)
                print(ended_line(self._outcomes[running.job.name]), flush=True)
        for slot in range(self.workers):
            if slot not in self._running and self._queue:
                still_running = {r.job.kind for r in self._running.values()}
                pick = next_job(self._queue, self._seconds, still_running)
                self._start(slot, self._queue.pop(pick), now)
        return [self._progress_line(r) for _, r in sorted(self._running.items())]

    def _busy(self) -> bool:
        return bool(self._queue or self._running)

    def stop(self) -> None:
        """SIGINT to every worker (each writes its in-task checkpoint and exits), then
        wait; a worker still alive after 120 s is killed."""
        for running in self._running.values():
            if running.process.poll() is None:
                running.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 120
        for running in self._running.values():
            try:
                running.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait()
        self._running, self._queue = {}, []

    # -- workers

    def _start(self, slot: int, job: Job, now: float) -> None:
        cores = self.shares[slot]
        process = spawn_worker(job, cores, xla_cache=self.xla_cache)
        self._running[slot] = _Running(job, process, cores, now)
        print(f"compare: {job.name}: started on cores {cores} (log {job.log})", flush=True)

    def _progress_line(self, running: _Running) -> str:
        return progress_line(running.job, f"cores {running.cores}", running.started)


def next_job(
    queue: list[Job], seconds: dict[str, float], running: AbstractSet[str] = frozenset()
) -> int:
    """The index in `queue` of the job to start next: of the lowest batch still queued
    (a comparison starts seed by seed, so that a stopped one holds whole seeds), the
    job whose kind has run longest so far (`seconds`: finished jobs' durations and
    running jobs' elapsed times), so that the short jobs come last and the workers end
    close together (longest processing time first). A tie goes to a kind in `running`,
    whose jobs take longer than their elapsed time, then to submission order; kinds
    never seen count 0, so with nothing known the queue runs in submission order."""
    batch = min(job.batch for job in queue)
    candidates = [i for i, job in enumerate(queue) if job.batch == batch]
    return max(
        candidates,
        key=lambda i: (seconds.get(queue[i].kind, 0.0), queue[i].kind in running, -i),
    )


def local_jobs(workers: int, xla_cache: Path | None = None) -> AbstractJobs:
    """The backend for `workers` jobs at a time on this machine: `LocalWorkers` sharing
    `xla_cache` with more than one, `InProcess` with one."""
    return LocalWorkers(workers, xla_cache=xla_cache) if workers > 1 else InProcess()


def worker_environment(xla_cache: Path | None = None) -> dict[str, str]:
    """A worker's environment: this process's, unbuffered, and with `xla_cache` as
    JAX's persistent compilation cache (unless JAX_COMPILATION_CACHE_DIR is set
    already): a worker then loads the programs another worker compiled for a job of
    the same shapes (another seed of a variant) instead of compiling them again, as
    one process running the jobs one after another reuses its own."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    if xla_cache is not None:
        env.setdefault("JAX_COMPILATION_CACHE_DIR", str(xla_cache))
    return env


def use_compilation_cache(xla_cache: Path) -> bool:
    """Make `xla_cache` this process's persistent compilation cache, unless one is named
    already (JAX_COMPILATION_CACHE_DIR or `jax_compilation_cache_dir`); True if it did.

    The cache is a process-wide JAX option, so only a command-line process sets it
    (`cli.main(compilation_cache=True)`, which `python -m rewire_eqx` calls), before
    its first compilation: JAX decides once per process whether a cache is used. A
    second `run` of a spec, or the next seed of a sequential `compare`, then loads the
    programs that took JAX longer than its threshold (1 s by default) to compile, as the
    workers of `LocalWorkers` do from the same folder."""
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return False
    jax.config.update("jax_compilation_cache_dir", str(xla_cache))
    return True


def spawn_worker(
    job: Job, cores: list[int], xla_cache: Path | None = None, **popen
) -> subprocess.Popen:
    """Start `python -m rewire_eqx.worker` on `job` (written beside its folder as
    `<seed>.job.json`), confined to `cores`, its output in `job.log`, with the
    environment of `worker_environment(xla_cache)`."""
    job.folder.parent.mkdir(parents=True, exist_ok=True)
    job_file = job.folder.parent / f"{job.folder.name}.job.json"
    job_file.write_text(
        json.dumps(
            {
                "name": job.name,
                "folder": str(job.folder),
                "spec": spec_to_dict(job.spec),
                "allow_mixed": job.allow_mixed,
            }
        )
    )
    env = worker_environment(xla_cache)
    argv = [sys.executable, "-m", "rewire_eqx.worker", str(job_file)]
    with open(job.log, "w") as log:
        return subprocess.Popen(
            [*argv, ",".join(map(str, cores))],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the parent, which relays it
            **popen,
        )


def worker_outcome(job: Job, code: int) -> Outcome:
    """How a worker that exited with `code` ended its job (from the end of its log)."""
    tail = _tail(job.log)
    if code == 0:
        last = tail.splitlines()[-1] if tail else ""
        status = last.rsplit(":", 1)[-1].strip() if last.startswith("job ") else "ran"
        return Outcome(job, status)
    why = f"killed by {_signal_name(code)}" if code < 0 else f"exit status {code}"
    lines = [line for line in tail.splitlines() if not line.startswith("job ")]
    message = f"{why}; last output: {' | '.join(lines[-3:])}" if lines else why
    return Outcome(job, "failed", message)


def progress_line(job: Job, where: str, started: float) -> str:
    """`  [<job>, <where>, <minutes> min] <the last line of its log>`."""
    minutes = (time.monotonic() - started) / 60
    last = _tail(job.log, 1) or "compiling"
    return f"  [{job.name}, {where}, {minutes:.1f} min] {last}"


def ended_line(outcome: Outcome) -> str:
    if outcome.ok:
        return f"compare: {outcome.job.name}: {outcome.status} ({outcome.job.folder})"
    return f"compare: {outcome.job.name}: FAILED ({outcome.message})"


def run_worker(job_file: str) -> int:
    """The body of a worker process (`rewire_eqx.worker`, which confines the process
    to its cores before JAX is imported): run one job file; exit status 0 when the job
    finished, 130 when interrupted (its folder keeps its checkpoints)."""
    data = json.loads(Path(job_file).read_text())
    spec = spec_from_dict(RunSpec, data["spec"])
    job = Job(data["name"], spec, Path(data["folder"]), data["allow_mixed"])
    try:
        status = _run_one(job)
    except KeyboardInterrupt:
        print("job interrupted: its folder keeps the last checkpoint", flush=True)
        return 130
    print(f"job {job.name}: {status}", flush=True)
    return 0
