"""Several seeds in one program (`runner.run_seeds`, `rewire_eqx.seeds`): each seed's
results against its own single-seed run, the grouping of what can share a program, a
stop and resume of seeds trained together, and the seed axis sharded over two forced
host devices."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_runner import _TINY_SPEC, _same_results, _tiny

from rewire_eqx import cli, run_folder, runner, sac
from rewire_eqx import seeds as seed_batch
from rewire_eqx.envs.base import JaxVecEnv
from rewire_eqx.envs.host import HostVecEnv
from rewire_eqx.envs.probes import SignProbe
from rewire_eqx.methods.csp import SubspaceVecEnv
from rewire_eqx.specs import SACSpec

ROOT = Path(__file__).resolve().parents[1]


def _metrics(folder) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


def _close_to_single_runs(together: list[Path], alone: list[Path]) -> None:
    """Batched kernels round float32 differently from unbatched ones (module docstring
    of `rewire_eqx.seeds`): equal to a relative 5e-3 on these short runs, and the same
    per-seed decisions. (1e-4 held on the machines of November 2026; on the AMD EPYC
    machine of 2026-12-06 one CSP curve point differed by a relative 1.4e-3, at the
    same commit: the kernels XLA picks depend on the CPU.)"""
    for t, a in zip(together, alone):
        mt, ma = _metrics(t), _metrics(a)
        assert mt["seed"] == ma["seed"]
        for row_t, row_a in zip(mt["R"], ma["R"]):
            got = [np.nan if x is None else x for x in row_t]
            want = [np.nan if x is None else x for x in row_a]
            np.testing.assert_allclose(got, want, rtol=5e-3, atol=1e-3)
        for curve_t, curve_a in zip(mt["curves"], ma["curves"]):
            np.testing.assert_allclose(curve_t, curve_a, rtol=5e-3, atol=1e-3)
        for facts_t, facts_a in zip(mt["task_facts"], ma["task_facts"]):
            for key in ("kept_mode", "rolled_back", "grew", "kept"):
                assert facts_t.get(key) == facts_a.get(key), key
    assert _metrics(together[0])["R"] != _metrics(together[1])["R"]  # seeds differ


@pytest.mark.parametrize("method", ["rewire", "csp"])
def test_seeds_trained_together_match_their_single_seed_runs(tmp_path, method):
    spec = _tiny(tmp_path, method=method)
    specs = [dataclasses.replace(spec, seed=seed) for seed in (0, 1)]
    together = runner.run_seeds(
        specs, run_dirs=[tmp_path / "t0", tmp_path / "t1"], progress=False
    )
    alone = [runner.run(s, run_dir=tmp_path / f"a{s.seed}", progress=False) for s in specs]
    _close_to_single_runs(together, alone)
    if method == "rewire":  # one program for both seeds and both tasks
        assert _metrics(together[0])["train_chunk_compilations"] == 1


def test_run_seeds_refuses_runs_that_differ_beyond_the_seed(tmp_path):
    spec = _tiny(tmp_path)
    other = dataclasses.replace(_tiny(tmp_path, method="ft1"), seed=1)
    with pytest.raises(ValueError, match=r"differ in \['method'\]"):
        runner.run_seeds([spec, other], progress=False)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def _learner(env) -> sac.Learner:
    spec = SACSpec(num_envs=env.num_envs, episode_length=env.episode_length)
    return sac.Learner(spec, env)


def test_group_seeds_keeps_apart_what_cannot_share_a_program():
    probe = JaxVecEnv(SignProbe(), num_envs=4, episode_length=5)
    state = {"w": jnp.zeros((3, 2)), "steps": jnp.zeros((), jnp.int32)}
    wider = {"w": jnp.zeros((3, 4)), "steps": jnp.zeros((), jnp.int32)}
    reg = {"coefficient": 0.5}
    one_anchor = SubspaceVecEnv(env=probe, active=jnp.array([1.0, 0.0]))
    two_anchors = SubspaceVecEnv(env=probe, active=jnp.array([1.0, 1.0]))
    items = [
        (_learner(probe), state, reg),
        (_learner(probe), wider, reg),  # other shapes
        (_learner(probe), state, reg),
        (_learner(one_anchor), state, reg),
        (_learner(two_anchors), state, reg),  # CSP: another active subspace
        (_learner(probe), state, {"coefficient": 0.7}),  # another static value
        (_learner(one_anchor), state, reg),
    ]
    assert seed_batch.group_seeds(items) == [[0, 2], [1], [3, 6], [4], [5]]


def test_host_stepped_environments_never_share_a_program():
    class FakeHost(HostVecEnv):
        def __init__(self):  # no engine: only the learner's structure matters here
            self.handle = jnp.asarray(0, jnp.int32)
            self._num_envs, self._episode_length = 4, 5
            self._obs_size, self._action_size = 1, 1

    state = {"w": jnp.zeros((3, 2))}
    items = [(_learner(FakeHost()), state, None), (_learner(FakeHost()), state, None)]
    assert seed_batch.group_seeds(items) == [[0], [1]]


def test_stack_and_unstack_round_trip_keys_and_arrays():
    trees = [
        {"key": jax.random.key(seed), "x": jnp.full((2,), float(seed)), "n": 3}
        for seed in range(3)
    ]
    stacked = seed_batch.stack(trees)
    assert stacked["x"].shape == (3, 2) and stacked["n"] == 3
    for i, tree in enumerate(trees):
        back = seed_batch.unstack(stacked, i)
        np.testing.assert_array_equal(back["x"], tree["x"])
        np.testing.assert_array_equal(
            jax.random.key_data(back["key"]), jax.random.key_data(tree["key"])
        )


def test_seeds_stopped_together_resume_together_to_identical_metrics(
    tmp_path, monkeypatch, capsys
):
    """`run --seeds 0 1`, stopped by Ctrl-C in the middle of task 1, then
    `run --resume DIR0 DIR1`: both seeds' metrics equal an uninterrupted `--seeds` run."""
    spec_file = tmp_path / "seeds_spec.py"
    spec_file.write_text(_TINY_SPEC)
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert (
        cli.main(
            ["run", str(spec_file), "--seeds", "0", "1", "--output-dir", str(straight)]
        )
        == 0
    )
    real, calls = seed_batch.train_chunks, []

    def stop_in_task_1(items, num_rounds):
        calls.append(num_rounds)
        if len(calls) == 6:  # the second chunk of task 1 (four chunks per task)
            raise KeyboardInterrupt
        return real(items, num_rounds)

    monkeypatch.setattr(seed_batch, "train_chunks", stop_in_task_1)
    assert (
        cli.main(["run", str(spec_file), "--seeds", "0", "1", "--output-dir", str(stopped)])
        == 130
    )
    monkeypatch.setattr(seed_batch, "train_chunks", real)
    killed = sorted((stopped / "killed").iterdir())
    assert [d.name[-5:] for d in killed] == ["seed0", "seed1"]
    for folder in killed:
        assert json.loads((folder / "progress.json").read_text())["last_task"] == 0
        assert run_folder.in_task_path(folder, 1).is_file()
    capsys.readouterr()
    assert cli.main(["run", "--resume", *map(str, killed)]) == 0
    for done, folder in zip(sorted((straight / "killed").iterdir()), killed):
        _same_results(_metrics(folder), _metrics(done))
        assert _metrics(folder)["seed"] == int(folder.name[-1])


_SHARDED_DRIVER = """
import dataclasses, json, sys
from pathlib import Path
import jax
sys.path.insert(0, {tests!r})
from rewire_eqx import runner, seeds
from test_runner import _tiny
assert len(jax.devices()) == 2, jax.devices()
sharding = seeds.seed_sharding(2)
assert sharding is not None and sharding.mesh.devices.size == 2
assert seeds.seed_sharding(3) is None  # 3 seeds do not divide over 2 devices
real, spans = seeds.sac.train_chunk_seeds, []


def spy(learner, states, regularisers, num_rounds):  # where the outputs live
    out = real(learner, states, regularisers, num_rounds)
    spans.append(len(out[0].log_alpha.sharding.device_set))
    return out


seeds.sac.train_chunk_seeds = spy
out = Path(sys.argv[1])
spec = _tiny(out, method="ft1")
folders = runner.run_seeds(
    [dataclasses.replace(spec, seed=s) for s in (0, 1)],
    run_dirs=[out / "s0", out / "s1"],
    progress=False,
)
assert spans and set(spans) == {{2}}, spans  # every chunk ran on both devices
print(json.dumps([str(f) for f in folders]))
"""


def test_the_seed_axis_is_sharded_over_two_forced_host_devices(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(_SHARDED_DRIVER.format(tests=str(ROOT / "tests"))))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, str(driver), str(tmp_path / "sharded")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sharded = [Path(f) for f in json.loads(result.stdout.strip().splitlines()[-1])]
    spec = _tiny(tmp_path / "plain", method="ft1")
    alone = [
        runner.run(
            dataclasses.replace(spec, seed=s), run_dir=tmp_path / f"a{s}", progress=False
        )
        for s in (0, 1)
    ]
    _close_to_single_runs(sharded, alone)


def test_compare_together_reads_finished_seeds_and_trains_the_rest_together(
    tmp_path, capsys
):
    from rewire_eqx.comparison import compare, job_folder

    spec = _tiny(tmp_path / "cmp", method="ft1")
    compare(spec, variants=["ft1"], seeds=1, out=tmp_path / "first")
    seed0 = job_folder(spec, "ft1", 0) / "metrics.json"
    written = seed0.stat().st_mtime_ns
    capsys.readouterr()
    compare(spec, variants=["ft1"], seeds=3, out=tmp_path / "report", together=True)
    printed = capsys.readouterr().out
    assert "ft1 seed 0: finished" in printed
    assert "ft1 seed 1: ran" in printed and "ft1 seed 2: ran" in printed
    assert seed0.stat().st_mtime_ns == written
    runs = json.loads((tmp_path / "report" / "runs.json").read_text())
    assert [Path(d).name for d in runs["ft1"]] == ["seed0", "seed1", "seed2"]
    assert len({str(_metrics(d)["R"]) for d in runs["ft1"]}) == 3


def test_host_stepped_seeds_train_alone_and_equal_their_single_seed_runs(
    tmp_path, monkeypatch
):
    """With environments stepped on the host (as Continual World's), every seed gets its
    own environments and trains in its own call: its results are its single-seed run's,
    bit for bit."""
    import gymnasium

    from rewire_eqx.envs.host import GymnasiumEngine

    def host_environments(spec):
        def make(num_envs):
            engine = GymnasiumEngine(
                lambda: gymnasium.make("Pendulum-v1"), num_envs=num_envs
            )
            return HostVecEnv(engine, episode_length=spec.sac.episode_length)

        sac_spec, tasks = spec.sac_for_run, spec.scenario.tasks
        learners = [sac.Learner(sac_spec, make(sac_spec.num_envs)) for _ in tasks]
        return learners, [make(spec.scenario.eval_envs) for _ in tasks]

    monkeypatch.setattr(runner, "environments", host_environments)
    spec = _tiny(tmp_path, method="ft1", tasks=("normal",))
    specs = [dataclasses.replace(spec, seed=seed) for seed in (0, 1)]
    together = runner.run_seeds(
        specs, run_dirs=[tmp_path / "t0", tmp_path / "t1"], progress=False
    )
    for s, folder in zip(specs, together):
        alone = runner.run(s, run_dir=tmp_path / f"a{s.seed}", progress=False)
        _same_results(_metrics(folder), _metrics(alone))
    assert _metrics(together[0])["R"] != _metrics(together[1])["R"]
