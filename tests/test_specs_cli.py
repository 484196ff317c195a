"""Specs reject bad values naming the field; the CLI loads, overrides and reports errors."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from rewire_eqx import cli
from rewire_eqx.networks import PlainMLP, RewiredMLP
from rewire_eqx.specs import (
    LossSpec,
    MethodSpec,
    NetworkSpec,
    PermutationSpec,
    PolicySpec,
    RunSpec,
    SACSpec,
    ScenarioSpec,
    build,
)

ROOT = Path(__file__).resolve().parents[1]

BAD_VALUES = [
    (NetworkSpec, "hidden_sizes", ()),
    (NetworkSpec, "hidden_sizes", (256, 0)),
    (NetworkSpec, "activation", "sigmoid"),
    (PermutationSpec, "num_modes", 0),
    (PermutationSpec, "num_modes", 2.5),
    (PermutationSpec, "tau", 0.0),
    (PermutationSpec, "tau", float("nan")),
    (PermutationSpec, "noise_scale", -0.1),
    (PermutationSpec, "adapter_tau", -1.0),
    (LossSpec, "distill_alpha", -1e-5),
    (LossSpec, "align_beta", -1.0),
    (LossSpec, "l2_coef", float("inf")),
    (PolicySpec, "in_size", 0),
    (PolicySpec, "num_tasks", -3),
    (PolicySpec, "cycle", -1),
    (PermutationSpec, "dropout", 1.0),
    (LossSpec, "distill_states", 0),
    (ScenarioSpec, "cycle", -2),
    (RunSpec, "name", ""),
    (RunSpec, "seed", -1),
    (MethodSpec, "name", "ewc2"),
    (MethodSpec, "packnet_retrain_share", 1.0),
    (MethodSpec, "csp_threshold", -0.1),
    (MethodSpec, "csp_candidates", 0),
    (ScenarioSpec, "steps_per_task", 0),
    (ScenarioSpec, "budget_scale", 0.0),
    (ScenarioSpec, "eval_envs", 0),
    (ScenarioSpec, "reference_rewards", (1.0, 2.0)),
    (ScenarioSpec, "success", "first"),
    (ScenarioSpec, "domain", "mars"),
    (SACSpec, "num_envs", 0),
    (SACSpec, "discount", 1.5),
    (SACSpec, "target_smoothing", 0.0),
    (SACSpec, "actor_lr", -1e-3),
    (SACSpec, "updates_per_step", 0.3),
]


_CHECK_BAD_VALUES = """
import json, sys
from rewire_eqx.specs import LossSpec, MethodSpec, NetworkSpec, PermutationSpec, PolicySpec, RunSpec, SACSpec, ScenarioSpec
out = []
for cls, field, value in {cases}:
    try:
        eval(cls)(**{{field: value}})
        out.append(None)
    except ValueError as error:
        out.append(str(error))
print(json.dumps(out))
"""


def test_specs_reject_bad_values_naming_the_field():
    """Plain Python construction (as in a spec file): a ValueError naming the field.

    Run without the test suite's beartype import hook, which would reject wrongly typed
    values itself before the spec's own validation is reached.
    """
    cases = [(cls.__name__, field, value) for cls, field, value in BAD_VALUES]
    code = _CHECK_BAD_VALUES.format(
        cases=repr(cases).replace("nan", "float('nan')").replace("inf", "float('inf')")
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    messages = json.loads(result.stdout)
    for (cls, field, value), message in zip(BAD_VALUES, messages):
        assert message is not None, f"{cls.__name__}.{field}={value!r} was accepted"
        assert message.startswith(f"{cls.__name__}.{field}="), message
        assert "expected" in message or "valid choices" in message


def test_specs_are_frozen_and_compose_with_replace():
    spec = RunSpec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 3  # type: ignore[misc]
    other = dataclasses.replace(spec, method=dataclasses.replace(spec.method, name="ft1"))
    assert other.method.name == "ft1" and spec.method.name == "rewire"
    assert other.policy_spec(3, 1).rewire is False and spec.policy_spec(3, 1).rewire is True
    no_modes = dataclasses.replace(
        spec, method=dataclasses.replace(spec.method, multi_mode=False)
    )
    assert no_modes.policy_spec(3, 1).permutation.num_modes == 1


def test_build_gives_rewired_or_plain_networks_with_spec_sizes():
    spec = PolicySpec(
        in_size=7,
        out_size=4,
        num_tasks=8,
        cycle=4,
        network=NetworkSpec(hidden_sizes=(16, 8)),
        permutation=PermutationSpec(num_modes=2),
    )
    net = build(spec, key=jax.random.key(0))
    assert isinstance(net, RewiredMLP)
    assert net.num_modes == 2 and net.num_slots == 4 and net.body.num_heads == 4
    assert [s.shape for s in net.scores] == [(2, 16), (2, 8)]
    assert [c.shape for c in net.cached_orders] == [(4, 16), (4, 8)]
    assert spec.head_of_task(5) == 1 and spec.slot_of_task(5) == 1
    plain = build(dataclasses.replace(spec, rewire=False), key=jax.random.key(0))
    assert isinstance(plain, PlainMLP) and plain.num_modes == 1
    shared = build(dataclasses.replace(spec, task_heads=False), key=jax.random.key(0))
    assert shared.body.num_heads == 1 and len(shared.adapter_in) == 1
    assert shared.num_slots == 4 and shared.body.dropout == 0.0
    dropped = build(
        dataclasses.replace(
            spec, permutation=PermutationSpec(noise_scale=0.0, dropout=0.1)
        ),
        key=jax.random.key(0),
    )
    assert dropped.dropout == 0.1 and dropped.noise_scale == 0.0
    baseline = dataclasses.replace(
        spec, rewire=False, permutation=PermutationSpec(noise_scale=0.0, dropout=0.1)
    )
    assert build(baseline, key=jax.random.key(0)).dropout == 0.0  # Rewire's only


def test_build_rejects_unknown_spec_types():
    with pytest.raises(TypeError, match="no builder"):
        build(object(), key=jax.random.key(0))


# ------------------------------------------------------------------------ CLI


def test_cli_loads_spec_and_applies_overrides(tmp_path):
    spec = cli.parse_spec(
        cli.load_spec(ROOT / "specs" / "quick.py"),
        ["--permutation.num-modes", "5", "--seed", "3"],
        prog="test",
    )
    assert spec.permutation.num_modes == 5 and spec.seed == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "does/not/exist.py"], "does not exist"),
        (["run", "{nospec}"], "defines no module-level SPEC"),
        (["run", "{broken}"], "failed to load: ZeroDivisionError"),
        (
            ["run", "specs/quick.py", "--permutation.num-modes", "0"],
            "PermutationSpec.num_modes=0",
        ),
        (
            ["run", "specs/quick.py", "--permutation.tau", "abc"],
            "--permutation.tau",
        ),
        (["run", "specs/quick.py", "--network.activation", "sigmoid"], "leaky_relu"),
        (["run", "specs/quick.py", "--no-such-field", "1"], "--no-such-field"),
        (["compare", "specs/quick.py", "--seed", "3"], "--seeds N runs seeds 0..N-1"),
        (["references", "specs/quick.py", "--seeds", "0"], "--seeds=0 must be >= 1"),
        (["references", "specs/quick.py", "--jobs", "0"], "--jobs=0 must be >= 1"),
    ],
)
def test_cli_user_errors_print_one_line_and_exit_2(
    tmp_path, monkeypatch, capsys, args, message
):
    monkeypatch.chdir(ROOT)
    nospec, broken = tmp_path / "nospec.py", tmp_path / "broken.py"
    nospec.write_text("X = 1\n")
    broken.write_text("X = 1 / 0\n")
    args = [a.format(nospec=nospec, broken=broken) for a in args]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_help_lists_subcommands_and_run_builds_the_quick_spec():
    env_python = sys.executable
    out = subprocess.run(
        [env_python, "-m", "rewire_eqx", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and "run" in out.stdout
    out = subprocess.run(
        [env_python, "-m", "rewire_eqx", "run", "specs/quick.py", "--no-such"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (
        out.returncode == 2
        and out.stderr.count("\n") == 1
        and "Traceback" not in out.stderr
    )


@pytest.mark.parametrize(
    "evals, scale, expected",
    [
        (20, 1.0, 20),
        (20, 2.0, 20),
        (20, 0.6, 12),
        (10, 0.5, 5),
        (10, 0.25, 3),
        (20, 0.003, 2),
        (3, 0.01, 2),
        (1, 0.01, 1),
    ],
)
def test_a_shrunk_budget_shrinks_the_evaluation_points_keeping_two(evals, scale, expected):
    scenario = ScenarioSpec(evals_per_task=evals, budget_scale=scale)
    assert scenario.eval_points == expected


def test_the_help_says_that_a_shrunk_budget_shrinks_the_evaluations():
    done = subprocess.run(
        [sys.executable, "-m", "rewire_eqx", "run", "specs/cw3_t2.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    text = " ".join(done.stdout.replace("│", " ").split())
    assert "shrinks them with it" in text and "never below two" in text
