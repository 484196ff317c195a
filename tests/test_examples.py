"""Every script of examples/ runs at a tiny budget and does what its docstring says."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = 0.03  # 720 env steps per task of the quick spec


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def composed(tmp_path_factory):
    return _example("compose_scenario").main(TINY, str(tmp_path_factory.mktemp("runs")))


def test_compose_scenario_trains_the_new_sequence_with_the_changed_setting(composed):
    assert composed.tasks == ("moon", "long", "heavy_inverted")
    assert composed.spec.losses.align_beta == 10.0 and composed.spec.method.name == "rewire"
    assert composed.R.shape == (3, 3) and np.isfinite(np.diag(composed.R)).all()
    assert composed.spec.scenario.eval_points == 2  # the shrunk budget shrank them
    assert all(len(curve) == 2 for curve in composed.curves)


def test_roll_out_gives_back_the_stored_score_under_the_run_key(composed, capsys):
    fresh, again = _example("roll_out").main(str(composed.folder), task=2, episodes=2)
    assert again == pytest.approx(composed.R[2, 2], rel=1e-6, abs=1e-4)
    assert math.isfinite(fresh)
    out = capsys.readouterr().out
    assert "task 2 (heavy_inverted)" in out and out.count("step ") == 3


def test_own_variant_is_registered_and_trained(tmp_path):
    from rewire_eqx.envs.variants import get_variant

    module = _example("own_variant")
    done = module.main(TINY, str(tmp_path))
    assert get_variant("pendulum", "windy_heavy") == module.WINDY_HEAVY
    assert done.tasks == ("normal", "windy_heavy") and done.spec.method.name == "ft_l2"
    assert np.isfinite(done.R[1]).all()
    with pytest.raises(ValueError, match="already has a variant named 'heavy'"):
        module.rx.register_variant("pendulum", "heavy", module.WINDY_HEAVY)


@pytest.mark.slow
def test_three_seeds_prints_a_table_of_three_seeds(tmp_path):
    table = _example("three_seeds").main("specs/quick.py", TINY, str(tmp_path), tasks=2)
    rows = [line for line in table.splitlines() if line.startswith("| average_performance")]
    assert len(rows) == 1 and len(rows[0].split("|")[3].split(",")) == 3
    assert len(list(tmp_path.glob("quick/*/metrics.json"))) == 3
