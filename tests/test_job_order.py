"""Which queued job a free local worker starts (`jobs.next_job`): seed by seed, and the
longest kind first within a seed, so that two workers end close together."""

import subprocess

from test_runner import _tiny

from rewire_eqx import jobs as backends


def _job(tmp_path, kind, seed):
    folder = tmp_path / kind / f"seed{seed}"
    spec = _tiny(tmp_path)  # never trained here
    return backends.Job(f"{kind} seed {seed}", spec, folder, kind=kind, batch=seed)


def test_with_nothing_known_the_queue_runs_in_submission_order(tmp_path):
    queue = [_job(tmp_path, k, s) for s in (0, 1) for k in ("a", "b", "c")]
    picked = []
    while queue:
        picked.append(queue.pop(backends.next_job(queue, {})).name)
    assert picked == [
        "a seed 0",
        "b seed 0",
        "c seed 0",
        "a seed 1",
        "b seed 1",
        "c seed 1",
    ]


def test_the_longest_kind_of_the_lowest_seed_goes_first(tmp_path):
    queue = [_job(tmp_path, k, s) for s in (1, 2) for k in ("a", "b", "c")]
    seconds = {"a": 10.0, "b": 30.0, "c": 20.0}
    picked = []
    while queue:
        picked.append(queue.pop(backends.next_job(queue, seconds)).name)
    # seed 2's longest kind waits for seed 1's shortest: a stopped run holds whole seeds
    assert picked == [
        "b seed 1",
        "c seed 1",
        "a seed 1",
        "b seed 2",
        "c seed 2",
        "a seed 2",
    ]
    # a kind never seen counts 0: it goes after the known ones of its seed
    queue = [_job(tmp_path, "new", 0), _job(tmp_path, "a", 0)]
    assert backends.next_job(queue, seconds) == 1


def test_a_tie_goes_to_the_kind_still_running_then_to_submission_order(tmp_path):
    queue = [_job(tmp_path, "short", 1), _job(tmp_path, "long", 1)]
    seconds = {"short": 5.0, "long": 5.0}  # started together; only "long" is running
    assert backends.next_job(queue, seconds, {"long"}) == 1
    assert backends.next_job(queue, seconds) == 0


def test_local_workers_give_the_second_seed_long_job_to_the_worker_that_ran_a_short_one(
    tmp_path, monkeypatch
):
    """Two workers, a short and a long kind, two seeds, submitted short before long.
    In submission order, the worker that ends the short seed-0 job first would take the
    short seed-1 job too and then wait for the other's two long ones; here it takes the
    long seed-1 job, and each worker runs one short and one long job."""
    started = []

    def fake_worker(job, cores, **_):
        started.append((job.name, tuple(cores)))
        return subprocess.Popen(["sleep", "0.3" if job.kind == "short" else "1.2"])

    monkeypatch.setattr(backends, "spawn_worker", fake_worker)
    pool = backends.LocalWorkers(2, cores=[0, 1], poll_seconds=0.02, print_every=1e9)
    jobs = [_job(tmp_path, k, s) for s in (0, 1) for k in ("short", "long")]
    for job in jobs:
        pool.submit(job)
    outcomes = pool.collect()
    assert [o.job.name for o in outcomes] == [j.name for j in jobs]
    assert all(o.status == "ran" for o in outcomes)
    assert started == [
        ("short seed 0", (0,)),
        ("long seed 0", (1,)),
        ("long seed 1", (0,)),
        ("short seed 1", (1,)),
    ]
