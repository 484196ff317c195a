"""Comparisons on a Ray cluster (`compare --ray`): a local cluster of 2 CPUs started by
the tests, the metrics of the sequential comparison, a killed worker retried, the claim
of cores, and the command line's checks."""

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest
from test_jobs import _job, _tiny

from rewire_eqx import cli
from rewire_eqx import ray_jobs as rj
from rewire_eqx.comparison import compare, job_folder
from rewire_eqx.provenance import code_version

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _worker_pid(job_file: Path) -> int | None:
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rewire_eqx.worker" in cmdline and str(job_file).encode() in cmdline:
            return int(proc.name)
    return None


def _checkpointing(tmp_path):
    spec = _tiny(tmp_path)
    scenario = dataclasses.replace(spec.scenario, evals_per_task=4)
    return dataclasses.replace(spec, scenario=scenario, checkpoint_every_steps=100)


@pytest.mark.slow
def test_ray_jobs_survive_a_killed_worker_and_give_the_sequential_metrics(
    tmp_path, cluster
):
    """Two jobs as Ray tasks on a local 2-CPU cluster; the worker of one is SIGKILLed
    mid-job, after a checkpoint: Ray retries its task, which resumes the job. Both end
    with the R and curves of the same jobs run in this process, and `compare --ray`
    then builds the report from them."""
    seq, par = _checkpointing(tmp_path / "seq"), _checkpointing(tmp_path / "ray")
    compare(seq, variants=["ft1"], seeds=2, out=tmp_path / "r1")
    pool = rj.RayJobs(poll_seconds=0.2, print_every=1e9)
    victim, other = _job(par, "ft1", 0), _job(par, "ft1", 1)
    pool.submit(victim)
    pool.submit(other)
    deadline = time.monotonic() + 300
    while not (victim.folder / "checkpoints").is_dir() or not any(
        (victim.folder / "checkpoints").iterdir()
    ):
        assert time.monotonic() < deadline, "the job never wrote a checkpoint"
        time.sleep(0.05)
    os.kill(_worker_pid(victim.folder.parent / "seed0.job.json"), signal.SIGKILL)
    outcomes = pool.collect()
    assert [o.status for o in outcomes] == ["resumed", "ran"], outcomes
    for seed in (0, 1):
        a = json.loads((job_folder(seq, "ft1", seed) / "metrics.json").read_text())
        b = json.loads((job_folder(par, "ft1", seed) / "metrics.json").read_text())
        assert a["R"] == b["R"] and a["curves"] == b["curves"], seed
        assert b["code"] == code_version()
    report = compare(
        par, variants=["ft1"], seeds=2, out=tmp_path / "r2", ray=rj.RayOptions()
    )
    assert "| tiny_ft1 | ft1 | 2 |" in report


def test_claimed_cores_are_held_until_released_then_shared_when_none_is_free(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(rj, "_CORE_LOCKS", tmp_path / "locks")
    monkeypatch.setattr(rj.os, "sched_getaffinity", lambda pid: {0, 1})
    first, fds1 = rj.claim_cores(1)
    second, fds2 = rj.claim_cores(1)
    assert first == [0] and second == [1]
    shared, fds3 = rj.claim_cores(1)  # every core held: shared, holding no lock
    assert shared == [0] and fds3 == []
    for fd in fds1:
        os.close(fd)
    again, fds4 = rj.claim_cores(2)
    assert again == [0, 1] and len(fds4) == 1  # core 0 claimed, core 1 shared
    for fd in fds2 + fds4:
        os.close(fd)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--ray-cpus-per-job", "2"], "--ray-cpus-per-job needs --ray"),
        (["--ray", "--jobs", "2"], "--ray excludes --together and --jobs"),
        (["--ray", "--ray-cpus-per-job", "0"], "--ray-cpus-per-job=0 must be >= 1"),
        (["--ray", "--ray-retries", "-1"], "--ray-retries=-1 must be >= 0"),
    ],
)
def test_bad_ray_options_fail_in_one_line_before_anything_runs(
    tmp_path, capsys, extra, needle
):
    args = ["compare", "specs/quick.py", "--out", str(tmp_path / "r"), *extra]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
