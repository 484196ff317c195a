"""Comparisons in worker processes (`compare --jobs`), their faults, and provenance."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runner import _TINY_SPEC, _same_results
from test_runner import _tiny as _runner_tiny

from rewire_eqx import jobs as backends
from rewire_eqx.comparison import (
    XLA_CACHE,
    CompareFailures,
    MixedCodeError,
    compare,
    job_folder,
    variant_spec,
)
from rewire_eqx.provenance import code_version
from rewire_eqx.specs import NetworkSpec

pytestmark = pytest.mark.slow


def _tiny(tmp_path, method="ft1"):
    """test_runner's tiny pendulum spec with other network shapes, so that the jobs run
    in this process do not fill the compilation cache that test's count reads."""
    spec = _runner_tiny(tmp_path, method=method)
    small = NetworkSpec(hidden_sizes=(12, 12))
    return dataclasses.replace(
        spec, network=small, sac=dataclasses.replace(spec.sac, critic=small)
    )


def _job(spec, variant, seed):
    job = dataclasses.replace(
        variant_spec(spec, variant), name=f"{spec.name}_{variant}", seed=seed
    )
    return backends.Job(f"{variant} seed {seed}", job, job_folder(spec, variant, seed))


def test_core_shares_split_the_cores_evenly_and_never_leave_a_worker_without_one():
    assert backends.core_shares(2, [0, 1]) == [[0], [1]]
    assert backends.core_shares(2, [0, 1, 2, 3]) == [[0, 1], [2, 3]]
    assert backends.core_shares(1, [0, 1]) == [[0, 1]]
    assert backends.core_shares(3, [0, 1]) == [[0], [1], [0]]
    with pytest.raises(ValueError, match="workers=0"):
        backends.core_shares(0, [0, 1])


def test_workers_survive_a_killed_one_and_give_the_metrics_of_the_sequential_comparison(
    tmp_path, monkeypatch
):
    """Two workers, each on one core: the one running FT-1 is SIGKILLed and fails its
    job alone, Rewire's goes on; the comparison command then finds the finished job and
    runs the killed one again. Both end with the R and curves of the same jobs run in
    this process (a job's metrics do not depend on where it ran), and the comparison's
    workers shared their compiled programs in the output folder's cache."""
    # the tiny spec's programs compile in well under JAX's 1 s threshold for caching
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    seq, par = _tiny(tmp_path / "seq"), _tiny(tmp_path / "par")
    compare(seq, variants=["ft1", "rewire"], seeds=1, out=tmp_path / "r1")
    pool = backends.LocalWorkers(2, poll_seconds=0.2, print_every=1e9)
    victim, other = _job(par, "ft1", 0), _job(par, "rewire", 0)
    pool.submit(victim)
    pool.submit(other)
    pool.poll()  # both start
    pid = pool._running[0].process.pid
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    outcomes = pool.collect()
    assert [o.job.name for o in outcomes] == [victim.name, other.name]
    assert outcomes[0].status == "failed" and "SIGKILL" in outcomes[0].message
    assert outcomes[1].ok and (other.folder / "metrics.json").is_file()
    report = compare(par, variants=["ft1", "rewire"], seeds=1, out=tmp_path / "r2", jobs=2)
    assert "| tiny_ft1 | ft1 | 1 |" in report
    for variant in ("ft1", "rewire"):
        a = json.loads((job_folder(seq, variant, 0) / "metrics.json").read_text())
        b = json.loads((job_folder(par, variant, 0) / "metrics.json").read_text())
        assert a["R"] == b["R"] and a["curves"] == b["curves"], variant
        assert b["code"] == code_version()
    table = (tmp_path / "r2" / "table.md").read_text()
    assert table.startswith("Trained by: ") and code_version()["commit"] in table
    assert any((Path(par.output_dir) / XLA_CACHE).glob("jit_*"))


def test_a_worker_gets_the_compilation_cache_unless_one_is_set_already(monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    assert "JAX_COMPILATION_CACHE_DIR" not in backends.worker_environment()
    env = backends.worker_environment(Path("/runs/.xla_cache"))
    assert env["JAX_COMPILATION_CACHE_DIR"] == "/runs/.xla_cache"
    assert env["PYTHONUNBUFFERED"] == "1"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/mine")
    env = backends.worker_environment(Path("/runs/.xla_cache"))
    assert env["JAX_COMPILATION_CACHE_DIR"] == "/mine"


def test_a_command_line_run_uses_the_output_folders_compilation_cache_a_python_call_not(
    tmp_path, monkeypatch
):
    """`python -m rewire_eqx run` writes its programs to `<output-dir>/.xla_cache`; a
    second run of the spec loads them from there (JAX logs the hits) and ends with the
    same metrics. `cli.main` called from Python sets no process-wide cache."""
    from rewire_eqx import cli

    spec_file = tmp_path / "spec.py"
    spec_file.write_text(_TINY_SPEC)
    out = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    # the tiny spec's programs compile in well under JAX's 1 s threshold for caching
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_LOG_COMPILES"] = "1"  # logs the cache's hits
    command = [sys.executable, "-m", "rewire_eqx", "run", str(spec_file)]
    command += ["--output-dir", str(out)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert any((out / XLA_CACHE).glob("jit_*"))
    assert "Persistent compilation cache hit" not in first.stderr
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Persistent compilation cache hit for 'jit__train_chunk'" in second.stderr
    a, b = sorted((out / "killed").iterdir())
    _same_results(
        json.loads((a / "metrics.json").read_text()),
        json.loads((b / "metrics.json").read_text()),
    )
    # in this process: only `main(compilation_cache=True)` names a cache, and the same one
    from rewire_eqx import runner

    named = []
    monkeypatch.setattr(backends, "use_compilation_cache", named.append)
    monkeypatch.setattr(runner, "run_seeds", lambda specs, **_: [a])
    assert cli.main(["run", "--resume", str(a)]) == 0 and named == []
    assert cli.main(["run", "--resume", str(a)], compilation_cache=True) == 0
    assert named == [out / XLA_CACHE]


def test_a_worker_that_raises_reports_its_error_and_the_report_keeps_the_rest(tmp_path):
    spec = _tiny(tmp_path)
    compare(spec, variants=["ft1"], seeds=2, out=tmp_path / "first")
    # damage seed 1 so that only its worker can find out: a finished folder whose
    # metrics and last checkpoint are gone (a resume must load that checkpoint)
    broken = job_folder(spec, "ft1", 1)
    (broken / "metrics.json").unlink()
    (broken / "checkpoints" / "after_task_1.eqx").unlink()
    with pytest.raises(CompareFailures) as caught:
        compare(spec, variants=["ft1"], seeds=2, out=tmp_path / "report", jobs=2)
    (failed,) = caught.value.failed
    assert failed.job.name == "ft1 seed 1" and "exit status 1" in failed.message
    assert "Error" in failed.message  # the worker's exception, from its log
    assert "ft1 seed 1" in (tmp_path / "report" / "failed.md").read_text()
    runs = json.loads((tmp_path / "report" / "runs.json").read_text())
    assert runs == {"ft1": [str(job_folder(spec, "ft1", 0))]}
    assert "| tiny_ft1 | ft1 | 1 |" in caught.value.report
    # the finished seed was read here: no worker was started for it (none wrote a log)
    assert not _job(spec, "ft1", 0).log.exists() and _job(spec, "ft1", 1).log.is_file()


def test_stopped_workers_keep_their_checkpoints_and_the_same_command_finishes(tmp_path):
    """`stop()` (what Ctrl-C in `collect` does) interrupts every worker; each keeps its
    folder, and the comparison then resumes to the same metrics as a run never stopped."""

    def longer(spec):
        scenario = dataclasses.replace(
            spec.scenario, steps_per_task=16000, evals_per_task=10
        )
        return dataclasses.replace(spec, scenario=scenario, checkpoint_every_steps=100)

    spec = longer(_tiny(tmp_path / "stopped"))
    pool = backends.LocalWorkers(1, poll_seconds=0.2, print_every=1e9)
    job = _job(spec, "ft1", 0)
    pool.submit(job)
    pool.poll()
    deadline = time.monotonic() + 300
    while "task 1/2" not in (job.log.read_text() if job.log.is_file() else ""):
        assert time.monotonic() < deadline, "the worker never trained a chunk"
        time.sleep(0.1)
    pool.stop()
    assert not (job.folder / "metrics.json").exists()
    assert "interrupted" in job.log.read_text()
    compare(spec, variants=["ft1"], seeds=1, out=tmp_path / "r1", jobs=1)
    whole = longer(_tiny(tmp_path / "whole"))
    compare(whole, variants=["ft1"], seeds=1, out=tmp_path / "r2", jobs=1)
    a = json.loads((job.folder / "metrics.json").read_text())
    b = json.loads((job_folder(whole, "ft1", 0) / "metrics.json").read_text())
    assert a["R"] == b["R"] and a["curves"] == b["curves"]


def test_compare_refuses_a_job_trained_by_other_code_unless_allowed(tmp_path):
    spec = _tiny(tmp_path)
    out = tmp_path / "report"
    compare(spec, variants=["ft1"], seeds=1, out=out)
    metrics_path = job_folder(spec, "ft1", 0) / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["code"] = {"package": "0.0.9", "commit": "0" * 40}
    metrics_path.write_text(json.dumps(metrics))
    with pytest.raises(MixedCodeError, match="0000000000.*--allow-mixed"):
        compare(spec, variants=["ft1"], seeds=1, out=out)
    report = compare(spec, variants=["ft1"], seeds=1, out=out, allow_mixed=True)
    assert "0" * 40 in report.splitlines()[0]


def test_the_recorded_commit_is_the_last_one_that_changed_the_package():
    """Commits of docs, tests or reports leave the learner's identity alone."""
    import subprocess

    package = Path(__file__).resolve().parents[1] / "rewire_eqx"
    try:
        last = subprocess.run(
            ["git", "-C", str(package), "log", "-1", "--format=%H", "--", str(package)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    if not last:
        pytest.skip("the package has no commit")
    assert code_version()["commit"].split("+dirty.")[0] == last


def test_a_process_started_with_sigint_ignored_is_made_interruptible(monkeypatch):
    """A shell's background job starts with SIGINT ignored, and its children inherit
    that: `compare` could then never stop its workers (found on 2026-12-07)."""
    from rewire_eqx.worker import interruptible

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        interruptible()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
