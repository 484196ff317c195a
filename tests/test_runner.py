"""The continual runner end to end on the CPU-scale domain at a tiny budget."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from rewire_eqx import cli, run_folder, runner, sac
from rewire_eqx.scenarios import quick_run
from rewire_eqx.specs import MethodSpec, NetworkSpec, RunSpec, ScenarioSpec

pytestmark = pytest.mark.slow


def _tiny(tmp_path, method="rewire", tasks=("normal", "inverted_actions")) -> RunSpec:
    spec = quick_run()
    small = NetworkSpec(hidden_sizes=(16, 16))
    return dataclasses.replace(
        spec,
        name="tiny",
        output_dir=str(tmp_path),
        method=MethodSpec(name=method),
        network=small,
        sac=dataclasses.replace(
            spec.sac, critic=small, learning_starts=160, start_steps=160, batch_size=32
        ),
        scenario=dataclasses.replace(
            spec.scenario,
            tasks=tasks,
            steps_per_task=800,
            evals_per_task=2,
            eval_envs=4,
            eval_rollouts=1,
            reference_rewards=(),
        ),
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    spec = _tiny(tmp)
    return spec, runner.run(spec, progress=False)


def test_run_folder_holds_spec_metrics_checkpoints_and_events(finished):
    spec, run_dir = finished
    assert run_dir.parent.name == "tiny" and run_dir.parent.parent == __import__(
        "pathlib"
    ).Path(spec.output_dir)
    names = {p.name for p in run_dir.iterdir()}
    assert {"spec.json", "metrics.json", "progress.json", "checkpoints"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "after_task_0.eqx",
        "after_task_1.eqx",
    ]
    assert json.loads((run_dir / "spec.json").read_text())["scenario"]["tasks"] == [
        "normal",
        "inverted_actions",
    ]


def test_metric_shapes_and_definitions(finished):
    _, run_dir = finished
    m = json.loads((run_dir / "metrics.json").read_text())
    R = m["R"]
    assert (
        len(R) == 2
        and R[0][1] is None
        and all(v is not None for v in (R[0][0], R[1][0], R[1][1]))
    )
    assert m["average_performance"] == pytest.approx((R[1][0] + R[1][1]) / 2)
    assert m["forgetting"] == pytest.approx([R[0][0] - R[1][0], 0.0])
    assert len(m["curves"]) == 2 and all(len(c) == 2 for c in m["curves"])
    assert m["reward_before"][0] is None and isinstance(m["reward_before"][1], float)
    assert m["task_facts"][1]["kept_mode"] in (0, 1, 2)
    unit = (3 * 16 + 16) + (16 * 16 + 16) + (16 * 2 + 2)  # one plain policy, one head
    scores, adapters, wirings = 3 * (16 + 16), (16 + 16) + 16, 2 * (16 + 16)
    assert m["policy_params_unit"] == unit
    assert m["model_size"] == pytest.approx((2 * unit + scores + adapters + wirings) / unit)
    assert m["train_chunk_compilations"] == 1  # tasks share one compiled program
    assert m["env_steps"] == 2 * m["steps_per_task"]


def test_resume_after_an_interrupted_run_gives_identical_metrics(
    finished, tmp_path, monkeypatch
):
    spec, full_dir = finished
    spec = dataclasses.replace(spec, output_dir=str(tmp_path))
    original = runner._run_task

    def interrupted(*args, **kwargs):
        if args[1] == 1:  # the task index
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(spec, progress=False)
    monkeypatch.setattr(runner, "_run_task", original)
    (killed,) = (tmp_path / "tiny").iterdir()
    assert json.loads((killed / "progress.json").read_text())["last_task"] == 0
    assert not (killed / "metrics.json").exists()
    assert cli.main(["run", "--resume", str(killed)]) == 0
    full = json.loads((full_dir / "metrics.json").read_text())
    resumed = json.loads((killed / "metrics.json").read_text())
    for key in (
        "R",
        "curves",
        "average_performance",
        "forgetting",
        "model_size",
        "reward_before",
        "task_facts",
    ):
        assert resumed[key] == full[key], key


def test_nan_stops_the_run_naming_task_and_step_and_keeps_the_checkpoint(
    tmp_path, monkeypatch
):
    spec = _tiny(tmp_path)
    original = sac.train_chunk

    def poisoned(learner, state, regulariser, rounds):
        state, metrics = original(learner, state, regulariser, rounds)
        if int(state.head) == 1:
            metrics = dataclasses.replace(
                metrics, critic_loss=metrics.critic_loss * math.nan
            )
        return state, metrics

    monkeypatch.setattr(sac, "train_chunk", poisoned)
    with pytest.raises(
        runner.TrainingDiverged, match=r"task 1 \(inverted_actions\) at env step \d+"
    ):
        runner.run(spec, progress=False)
    (run_dir,) = (tmp_path / "tiny").iterdir()
    assert (run_dir / "checkpoints" / "after_task_0.eqx").is_file()
    assert json.loads((run_dir / "progress.json").read_text())["last_task"] == 0


@pytest.mark.parametrize("method", ["ft1", "ft_l2", "ftn", "sacn", "ewc", "packnet"])
def test_baseline_methods_run_and_report_their_sizes(tmp_path, method):
    run_dir = runner.run(_tiny(tmp_path, method=method), progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["model_size"] == pytest.approx(
        {"ft1": 1.0, "ft_l2": 2.0, "ftn": 2.0, "sacn": 2.0, "ewc": 3.0, "packnet": 2.0}[
            method
        ]
    )
    assert np.isfinite(m["average_performance"])


@pytest.mark.parametrize("method", ["packnet", "pnn", "csp"])
def test_growing_methods_keep_the_first_task_policy_bit_identical(tmp_path, method):
    import equinox as eqx
    import jax

    from rewire_eqx.methods import make_method

    spec = _tiny(tmp_path, method=method)
    run_dir = runner.run(spec, progress=False)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(m["average_performance"])
    unit = m["policy_params_unit"]
    if method == "pnn":  # two columns and the laterals from the first into the second
        assert m["model_size"] == pytest.approx(2 + (16 * 16 + 16 * 2) / unit)
    if method == "csp":
        anchors = m["task_facts"][1]["anchors"]
        assert m["model_size"] == pytest.approx(anchors * (unit + 2) / unit)
    method_ = make_method(spec, spec.policy_spec(3, 1))
    template = method_.init(key=jax.random.key(0))
    checkpoints = run_dir / "checkpoints"
    after = [
        eqx.tree_deserialise_leaves(checkpoints / f"after_task_{t}.eqx", template)
        for t in (0, 1)
    ]
    x = jax.random.normal(jax.random.key(0), (8, 3))
    if method == "csp":  # the subspace policy reads alpha after the observation
        x = jax.numpy.concatenate([x, jax.numpy.zeros((8, 2))], axis=1)
    outs = [
        np.asarray(jax.vmap(lambda o, s=s: method_.policy_for_task(s, 0)(o, head=0))(x))
        for s in after
    ]
    np.testing.assert_array_equal(outs[0], outs[1])


def test_bad_inputs_fail_before_compiling(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown task variant 'upside_down'.*valid"):
        ScenarioSpec(domain="pendulum", tasks=("upside_down",))
    with pytest.raises(ValueError, match="ScenarioSpec.steps_per_task=0"):
        ScenarioSpec(steps_per_task=0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    for args, message in [
        (["run", "--resume", str(foreign)], "not a rewire_eqx run folder"),
        (["run", "--resume", str(tmp_path / "missing")], "no such folder"),
        (
            ["run", "specs/quick.py", "--scenario.tasks", "normal", "upside_down"],
            "upside_down",
        ),
        (["run", "specs/quick.py", "--scenario.budget-scale", "0"], "budget_scale"),
        (["run", "specs/quick.py", "--permutation.num-modes", "0"], "num_modes"),
        (["run", "specs/quick.py", "--permutation.tau", "-1"], "tau"),
        (["run", "specs/quick.py", "--losses.align-beta", "-2"], "align_beta"),
        (["run", "specs/quick.py", "--method.name", "ewc2"], "ewc2"),
        (["report", str(foreign)], "no metrics.json"),
        (
            ["run", "specs/quick.py", "--output-dir", str(foreign / "notes.txt")],
            "is a file, not a folder",
        ),
        (
            ["run", "specs/quick.py", "--output-dir", str(foreign / "notes.txt" / "runs")],
            "is under the file",
        ),
        (
            ["compare", "specs/quick.py", "--out", str(foreign / "notes.txt")],
            "--out",
        ),
        (["run", "specs/quick.py", "--permutation.dropout", "1.5"], "dropout"),
        (["run", "specs/quick.py", "--scenario.cycle", "-1"], "cycle"),
    ] + (
        # permissions say yes to root under /proc, creating a folder there fails
        [(["run", "specs/quick.py", "--output-dir", "/proc/runs"], "cannot create")]
        if Path("/proc/self").is_dir()
        else []
    ):
        assert cli.main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert (
        not (foreign / "metrics.json").exists()
        and (foreign / "notes.txt").read_text() == "hello"
    )


def test_metrics_name_their_score_and_the_report_says_it(finished, capsys):
    from rewire_eqx import metrics as M

    _, run_dir = finished
    stored = json.loads((run_dir / "metrics.json").read_text())
    assert stored["score"] == "return"
    assert stored["score_description"] == "mean episode return"
    assert cli.main(["report", str(run_dir)]) == 0
    assert "score: mean episode return" in capsys.readouterr().out
    # a Continual World run names success rates; older files fall back on the domain
    success = M.score_description({"domain": "metaworld"})
    assert success.startswith("success rate") and "any step" in success
    assert M.score_of({"domain": "metaworld", "score": "success_last_step"}) == (
        "success_last_step"
    )


def test_report_prints_matrix_and_table_and_writes_plots(finished, capsys):
    _, run_dir = finished
    assert cli.main(["report", str(run_dir), str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "R[i, j]" in out and "average_performance" in out and "±" in out
    assert (run_dir / "reward_curves.png").stat().st_size > 0 and (
        run_dir / "R_heatmap.png"
    ).stat().st_size > 0


def test_compare_runs_every_variant_and_seed_and_writes_a_report(tmp_path):
    from rewire_eqx.comparison import compare

    out = tmp_path / "comparison"
    table = compare(
        _tiny(tmp_path), variants=["ft1", "rewire_no_caching"], seeds=2, out=out
    )
    runs = json.loads((out / "runs.json").read_text())
    assert {k: len(v) for k, v in runs.items()} == {"ft1": 2, "rewire_no_caching": 2}
    assert (
        "| tiny_ft1 | ft1 | 2 |" in table
        and "| tiny_rewire_no_caching | rewire | 2 |" in table
    )
    assert (out / "table.md").read_text().strip() in table
    intervals = (out / "intervals.md").read_text()
    assert "| ft1 | 2 |" in intervals and intervals.strip() in table
    assert set(json.loads((out / "intervals.json").read_text())["variants"]) == set(runs)
    assert (out / "ft1" / "R_heatmap.png").is_file()
    copied = json.loads((out / "metrics" / "ft1_seed1.json").read_text())
    assert runs["ft1"][1] == str(tmp_path / "tiny_ft1" / "seed1")
    assert copied == json.loads(
        (__import__("pathlib").Path(runs["ft1"][1]) / "metrics.json").read_text()
    )
    spec = json.loads(
        (__import__("pathlib").Path(runs["rewire_no_caching"][1]) / "spec.json").read_text()
    )
    assert spec["seed"] == 1 and spec["method"]["caching"] is False


def test_an_unwritable_output_dir_is_refused_in_one_line(tmp_path, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as a user that ignores permissions
            pytest.skip("this user can write to a read-only folder")
        assert cli.main(["run", "specs/quick.py", "--output-dir", str(locked / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "cannot create" in err and err.count("\n") == 1
    finally:
        locked.chmod(0o700)


def test_variants_switch_parts_and_heads_as_named(tmp_path):
    from rewire_eqx.comparison import HEAD_SENSITIVE, VARIANTS, variant_spec

    spec = _tiny(tmp_path)
    for name in HEAD_SENSITIVE:
        shared = variant_spec(spec, f"{name}_shared_head")
        assert shared.method.name == name and shared.task_heads is False
        assert variant_spec(spec, name).task_heads is True
    single = variant_spec(spec, "rewire_single").method
    assert (single.caching, single.multi_mode, single.alignment) == (True, False, False)
    bare = variant_spec(spec, "rewire_single_no_caching").method
    assert (bare.caching, bare.multi_mode, bare.alignment) == (False, False, False)
    assert "sacn_shared_head" not in VARIANTS and "pnn_shared_head" not in VARIANTS


def test_compare_stopped_midway_skips_finished_jobs_and_resumes_the_rest(
    tmp_path, monkeypatch
):
    """Stop a comparison during task 1 of seed 1; the same command then reads seed 0
    untouched, resumes seed 1 after task 0, and its metrics equal an uninterrupted run."""
    from rewire_eqx.comparison import compare, job_folder

    spec = _tiny(tmp_path / "cmp", method="ft1")
    out = tmp_path / "report"
    real = runner._run_task

    def stop_in_seed_1_task_1(seeds, task):
        if any(seed.ctx.spec.seed == 1 for seed in seeds) and task == 1:
            raise KeyboardInterrupt
        return real(seeds, task)

    monkeypatch.setattr(runner, "_run_task", stop_in_seed_1_task_1)
    with pytest.raises(KeyboardInterrupt):
        compare(spec, variants=["ft1"], seeds=2, out=out)
    seed0, seed1 = job_folder(spec, "ft1", 0), job_folder(spec, "ft1", 1)
    assert (seed0 / "metrics.json").is_file() and not (seed1 / "metrics.json").exists()
    assert json.loads((seed1 / "progress.json").read_text())["last_task"] == 0
    finished_at = (seed0 / "metrics.json").stat().st_mtime_ns
    monkeypatch.setattr(runner, "_run_task", real)
    compare(spec, variants=["ft1"], seeds=2, out=out)
    assert (seed0 / "metrics.json").stat().st_mtime_ns == finished_at  # not rerun
    resumed = json.loads((seed1 / "metrics.json").read_text())
    job = dataclasses.replace(
        spec,
        name="tiny_ft1",
        seed=1,
        method=MethodSpec(name="ft1"),
        output_dir=str(tmp_path / "reference"),
    )
    reference = json.loads((runner.run(job, progress=False) / "metrics.json").read_text())
    assert resumed["R"] == reference["R"] and resumed["curves"] == reference["curves"]
    # a folder holding another spec is refused, not overwritten
    other = dataclasses.replace(spec, losses=dataclasses.replace(spec.losses, l2_coef=3.0))
    with pytest.raises(ValueError, match="different spec"):
        compare(other, variants=["ft1"], seeds=1, out=out)
    # ... but one that only saves more or less often is the same job (resume is exact)
    saves_less = dataclasses.replace(spec, checkpoint_every_steps=0)
    assert compare(saves_less, variants=["ft1"], seeds=2, out=out) is not None
    assert (seed0 / "metrics.json").stat().st_mtime_ns == finished_at  # not rerun


def test_a_stored_job_trains_alike_up_to_saving_and_a_baselines_unread_permutation():
    """`compare` keeps a finished job whose stored spec differs from the new one only
    where training cannot differ: the checkpoint interval, and for a baseline the
    permutation spec, which only Rewire's network reads. Rewire's is compared."""
    from rewire_eqx.comparison import trains_alike, variant_spec
    from rewire_eqx.scenarios import cw_cpu_run
    from rewire_eqx.specs import PermutationSpec

    spec = cw_cpu_run()
    gumbel = dataclasses.replace(spec, permutation=PermutationSpec(noise_scale=0.1))
    for variant, alike in (("ft_l2", True), ("pnn", True), ("rewire", False)):
        job = variant_spec(spec, variant)
        stored = variant_spec(gumbel, variant)
        assert trains_alike(stored, job) is alike, variant
        saves_less = dataclasses.replace(job, checkpoint_every_steps=0)
        assert trains_alike(saves_less, job)
    ft_l2 = variant_spec(spec, "ft_l2")
    other_l2 = dataclasses.replace(
        ft_l2, losses=dataclasses.replace(spec.losses, l2_coef=1.0)
    )
    assert not trains_alike(other_l2, ft_l2)


def test_ctrl_c_ends_in_one_line_with_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_seeds", interrupted)
    args = ["run", "specs/quick.py", "--output-dir", str(tmp_path)]
    assert cli.main(args) == 130
    err = capsys.readouterr().err
    assert err.startswith("error: interrupted;") and "--resume" in err
    assert err.count("\n") == 1


_TINY_SPEC = """
import dataclasses
from rewire_eqx.scenarios import quick_run
from rewire_eqx.specs import MethodSpec, NetworkSpec

_spec = quick_run()
_small = NetworkSpec(hidden_sizes=(16, 16))
SPEC = dataclasses.replace(
    _spec,
    name="killed",
    method=MethodSpec(name="rewire"),
    network=_small,
    checkpoint_every_steps=320,
    sac=dataclasses.replace(
        _spec.sac, critic=_small, learning_starts=160, start_steps=160, batch_size=32
    ),
    scenario=dataclasses.replace(
        _spec.scenario,
        tasks=("normal", "inverted_actions"),
        steps_per_task=1600,
        evals_per_task=4,
        eval_envs=4,
        eval_rollouts=1,
        reference_rewards=(),
    ),
)
"""


def _same_results(a, b):
    for key in ("R", "curves", "reward_before", "env_steps", "steps_per_task"):
        assert a[key] == b[key], key
    for fa, fb in zip(a["task_facts"], b["task_facts"]):
        assert fa == fb


def test_a_run_killed_mid_task_resumes_from_its_checkpoint_to_identical_metrics(
    tmp_path, run_killed_mid_task
):
    spec_file = tmp_path / "killed_spec.py"
    spec_file.write_text(_TINY_SPEC)
    run_dir = run_killed_mid_task(spec_file, tmp_path / "runs")
    progress = json.loads((run_dir / "progress.json").read_text())
    assert progress["last_task"] == -1  # killed inside the first task
    assert (run_dir / "checkpoints" / "in_task_0.eqx").is_file()
    assert not (run_dir / "metrics.json").exists()
    resumed = json.loads(
        (runner.run(None, resume=run_dir, progress=False) / "metrics.json").read_text()
    )
    assert not (run_dir / "checkpoints" / "in_task_0.eqx").exists()
    spec = cli.load_spec(spec_file)
    straight = runner.run(
        dataclasses.replace(spec, output_dir=str(tmp_path / "straight")), progress=False
    )
    _same_results(resumed, json.loads((straight / "metrics.json").read_text()))
    # a damaged mid-task checkpoint is ignored: the task restarts, with the same result
    again = tmp_path / "again"
    first = runner.run(
        dataclasses.replace(spec, output_dir=str(again), checkpoint_every_steps=0),
        progress=False,
    )
    (first / "metrics.json").unlink()
    record = json.loads((first / "progress.json").read_text())
    record["last_task"] = 0  # as if stopped during task 1
    record["env_steps"] = record["steps_per_task"]
    (first / "progress.json").write_text(json.dumps(record))
    (first / "checkpoints" / "after_task_1.eqx").unlink()
    (first / "checkpoints" / "in_task_1.eqx").write_bytes(b"cut off halfway")
    repaired = json.loads(
        (runner.run(None, resume=first, progress=False) / "metrics.json").read_text()
    )
    _same_results(repaired, json.loads((straight / "metrics.json").read_text()))


def test_ctrl_c_writes_a_final_checkpoint_and_resume_gives_identical_metrics(
    tmp_path, monkeypatch
):
    spec = dataclasses.replace(
        _tiny(tmp_path / "stopped"),
        checkpoint_every_steps=0,
        scenario=dataclasses.replace(_tiny(tmp_path).scenario, evals_per_task=4),
    )
    real, calls = sac.train_chunk, []

    def interrupt_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sac, "train_chunk", interrupt_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        runner.run(spec, progress=False)
    monkeypatch.setattr(sac, "train_chunk", real)
    (run_dir,) = (tmp_path / "stopped" / "tiny").iterdir()
    checkpoint = run_dir / "checkpoints" / "in_task_0.eqx"
    assert checkpoint.is_file()  # no periodic checkpoints: this one is Ctrl-C's
    resumed = json.loads(
        (runner.run(None, resume=run_dir, progress=False) / "metrics.json").read_text()
    )
    straight = runner.run(
        dataclasses.replace(spec, output_dir=str(tmp_path / "straight")), progress=False
    )
    _same_results(resumed, json.loads((straight / "metrics.json").read_text()))


def test_a_full_disk_ends_in_one_line_and_keeps_the_written_checkpoints(
    tmp_path, monkeypatch, capsys
):
    import errno

    real = run_folder.save_state

    def full_after_the_first_task(path, state):
        if path.name == "after_task_1.eqx":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, state)

    monkeypatch.setattr(run_folder, "save_state", full_after_the_first_task)
    spec_file = tmp_path / "killed_spec.py"
    spec_file.write_text(_TINY_SPEC)
    out = tmp_path / "runs"
    assert cli.main(["run", str(spec_file), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write") and "No space left" in err
    assert err.count("\n") == 1
    (run_dir,) = (out / "killed").iterdir()
    assert json.loads((run_dir / "progress.json").read_text())["last_task"] == 0
    # with space again, the run resumes from the intact checkpoint of task 0
    monkeypatch.setattr(run_folder, "save_state", real)
    finished = runner.run(None, resume=run_dir, progress=False)
    assert json.loads((finished / "metrics.json").read_text())["R"][1][0] is not None


def test_against_paper_puts_our_committed_comparison_beside_table_1_and_3():
    from pathlib import Path

    from rewire_eqx.paper import PAPER_TABLE1, against_paper

    folder = Path("runs/comparison/metrics")
    labelled = []
    for path in sorted(folder.glob("*_seed*.json")):
        variant = path.name.rsplit("_seed", 1)[0]
        labelled.append({**json.loads(path.read_text()), "variant": variant})
    spec = quick_run()
    text = against_paper(spec, labelled, seeds=5)
    assert "domain: ours pendulum" in text and "steps per task: ours 24,000" in text
    assert "networks: ours 64x64, paper 256x256x256" in text
    ours = [m["average_performance"] for m in labelled if m["variant"] == "rewire"]
    expected = f"{np.mean(ours):.2f} ± {np.std(ours):.2f} ({len(ours)})"
    mean, std, size = PAPER_TABLE1["rewire"]["halfcheetah"]
    assert (
        f"| rewire | {expected} | - |" in text
        and f"{mean:.2f} ± {std:.2f} | {size:g} |" in text
    )
    assert "| full | 1.31 | " + expected + " (rewire) |" in text
    # the rung "+ multi-mode" is Rewire without alignment; the committed comparison
    # has no one-mode rungs
    mm = [
        m["average_performance"] for m in labelled if m["variant"] == "rewire_no_alignment"
    ]
    assert (
        f"| + rewiring + multi-mode (no alignment) | 1.14 | {np.mean(mm):.2f} ± "
        f"{np.std(mm):.2f} ({len(mm)}) (rewire_no_alignment) |" in text
    )
    assert "| + rewiring (one mode, no alignment) | 0.95 | - (rewire_single) |" in text
    # our model size is the mean over runs: CSP's subspace can grow by a different
    # number of anchors in each run (first run 2, the others 3: 2.80, not 2.00)
    grown = [
        {**m, "model_size": 2.0 if i == 0 else 3.0}
        for i, m in enumerate(m for m in labelled if m["variant"] == "csp")
    ]
    others = [m for m in labelled if m["variant"] != "csp"]
    (row,) = [
        line
        for line in against_paper(spec, others + grown, seeds=5).splitlines()
        if line.startswith("| csp |")
    ]
    assert " | 2.80 | " in row and " | 2.00 | " not in row
    # with the interval table, ours is its mean [interval] instead
    from rewire_eqx.report import interval_table

    _, intervals = interval_table(labelled, reps=200)
    p = intervals["variants"]["rewire"]["performance"]
    text = against_paper(spec, labelled, seeds=5, intervals=intervals)
    assert f"| full | 1.31 | {p['point']:.2f} [{p['low']:.2f}, {p['high']:.2f}] (5)" in text


def test_references_are_sac_n_finals_and_aucs_and_reuse_the_comparison_run(
    tmp_path, monkeypatch
):
    from rewire_eqx import jobs as backends
    from rewire_eqx.comparison import compare
    from rewire_eqx.references import references

    spec = _tiny(tmp_path)
    compare(spec, variants=["sacn"], seeds=2, out=tmp_path / "comparison")
    folders = [tmp_path / "tiny_sacn" / f"seed{seed}" for seed in (0, 1, 2)]
    written = [(f / "metrics.json").stat().st_mtime_ns for f in folders[:2]]
    pools = []

    class Workers(backends.InProcess):  # records what references asks the workers to do
        def __init__(self, workers, xla_cache=None):
            super().__init__()
            self.workers, self.jobs, self.xla_cache = workers, [], xla_cache
            pools.append(self)

        def submit(self, job):
            self.jobs.append(job)
            super().submit(job)

    monkeypatch.setattr(backends, "LocalWorkers", Workers)
    table = references(
        spec, out=tmp_path / "refs.json", command="the command", seeds=3, jobs=2
    )
    ((pool,),) = [pools]
    assert pool.workers == 2
    assert pool.xla_cache == Path(spec.output_dir) / ".xla_cache"
    # the comparison's seeds are read here, not handed to a worker; seed 2 is trained
    assert [(job.name, job.folder, job.spec.seed) for job in pool.jobs] == [
        ("sacn seed 2", folders[2], 2)
    ]
    assert [(f / "metrics.json").stat().st_mtime_ns for f in folders[:2]] == written
    finals, aucs = [], []
    for folder, row in zip(folders, table["per_seed"]):
        metrics = json.loads((folder / "metrics.json").read_text())
        R = np.asarray(metrics["R"], np.float64)
        assert row["seed"] == metrics["seed"] and row["run_folder"] == str(folder)
        np.testing.assert_allclose(row["final"], np.diag(R))
        # return-scored: each AUC is the curve's mean over the task's final reward
        expected = [
            np.mean([r for _, r in curve]) / R[i, i]
            for i, curve in enumerate(metrics["curves"])
        ]
        np.testing.assert_allclose(row["auc"], expected)
        finals.append(np.diag(R))
        aucs.append(expected)
    assert table["seeds"] == [0, 1, 2]
    assert not np.allclose(finals[0], finals[1])  # two seeds, two different runs
    np.testing.assert_allclose(table["final"], np.mean(finals, axis=0))
    np.testing.assert_allclose(table["auc"], np.mean(aucs, axis=0))
    assert json.loads((tmp_path / "refs.json").read_text()) == table
    assert table["command"] == "the command" and table["score"] == "return"
    assert table["overrides"].startswith(
        "--scenario.reference-rewards " + " ".join(f"{f:.4g}" for f in table["final"])
    )
    assert "--scenario.reference-aucs" in table["overrides"]
    # one seed from the spec's own seed: seed 1 alone, read from its folder
    one = references(
        dataclasses.replace(spec, seed=1), out=tmp_path / "one.json", command="c"
    )
    assert one["seeds"] == [1] and one["final"] == table["per_seed"][1]["final"]


def test_negating_the_previous_mean_undoes_inverted_actions_exactly(finished):
    """The probe's head-only oracle: on `inverted_actions`, task 0's policy with its
    Gaussian mean negated scores exactly what task 0's policy scores on `normal` under
    the same evaluation key, and the probe reports it only for a pure sign flip."""
    import jax

    from rewire_eqx.heads import (
        _inverts_previous,
        _mean_negated,
        _states_after_tasks,
        head_probes,
    )
    from rewire_eqx.runner import evaluator

    spec, run_dir = finished
    _, _, method, eval_envs, states = _states_after_tasks(run_dir)
    previous, h = method.policy_for_task(states[0], 0), method.policy.head_of_task(0)
    key = jax.random.key(7)

    def score(task, policy):
        env = method.wrap_env(eval_envs[task], states[0])
        return evaluator(spec, env, h, key)(policy)

    on_normal = score(0, previous)
    assert score(1, _mean_negated(previous, h)) == on_normal
    assert score(1, previous) != on_normal  # the inversion does change the score
    (probe,) = head_probes(run_dir)
    assert probe.previous_policy_negated is not None

    def inverts(*tasks):
        return _inverts_previous(
            dataclasses.replace(
                spec, scenario=dataclasses.replace(spec.scenario, tasks=tasks)
            ),
            1,
        )

    assert inverts("normal", "inverted_actions") and inverts("heavy_inverted", "heavy")
    assert not inverts("normal", "heavy_inverted") and not inverts("normal", "heavy")


def test_head_swap_probe_reproduces_r_and_puts_the_named_heads_in_place(
    finished, capsys, tmp_path
):
    import equinox as eqx
    import jax

    from rewire_eqx.heads import _head_into, head_probes
    from rewire_eqx.networks import PlainMLP

    spec, run_dir = finished
    out = tmp_path / "heads.md"
    assert cli.main(["heads", str(run_dir), "--out", str(out)]) == 0
    assert "network t-1, head t" in out.read_text()
    (probe,) = head_probes(run_dir)
    r = json.loads((run_dir / "metrics.json").read_text())["R"]
    # the unswapped pair is evaluated exactly as R[1, 1] was
    assert probe.task == 1 and probe.own_network_own_head == r[1][1] == probe.stored
    # the wiring re-placed on task 1, from the checkpoints, is the fact the run recorded
    # at the task's end (or 0 if it rolled back to the task's starting wiring)
    facts = json.loads((run_dir / "metrics.json").read_text())["task_facts"][1]
    recorded = 0.0 if facts["rolled_back"] else np.mean(facts["wiring_moved"])
    assert probe.wiring_moved == pytest.approx(recorded)
    if not facts["rolled_back"]:
        assert probe.wiring_displacement == pytest.approx(facts["wiring_displacement"])
    # the swap: head `index` replaced, every other array untouched
    a = PlainMLP(3, (4,), 2, num_heads=3, key=jax.random.key(0))
    b = PlainMLP(3, (4,), 2, num_heads=3, key=jax.random.key(1))
    swapped = _head_into(a, 2, b, 0)
    np.testing.assert_array_equal(swapped.heads.weight[2], b.heads.weight[0])
    np.testing.assert_array_equal(swapped.heads.bias[2], b.heads.bias[0])
    np.testing.assert_array_equal(swapped.heads.weight[:2], a.heads.weight[:2])
    assert eqx.tree_equal(swapped.hidden, a.hidden)
    # a folder that is not a run: one line, exit status 2
    assert cli.main(["heads", str(tmp_path / "missing")]) == 2
    assert "heads" in capsys.readouterr().err
