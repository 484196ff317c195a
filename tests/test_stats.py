"""The stratified bootstrap (`stats`) against rliable and exact properties, and the
interval table of a comparison (`report.interval_table`) against a NumPy restatement."""

import warnings

import numpy as np
import pytest

from rewire_eqx.report import difference_table, interval_table, per_task_table
from rewire_eqx.stats import (
    bootstrap_difference,
    probability_of_improvement,
    stratified_bootstrap,
)


def _rliable_interval(scores, reps):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rliable import library as rly

        point, interval = rly.get_interval_estimates(
            {"a": scores},
            lambda x: np.array([np.mean(x)]),
            reps=reps,
            random_state=np.random.RandomState(0),
        )
    return float(point["a"][0]), interval["a"].ravel()


@pytest.mark.parametrize("runs,tasks", [(3, 1), (5, 3), (10, 4)])
def test_stratified_bootstrap_agrees_with_rliable(runs, tasks):
    rng = np.random.default_rng(runs * tasks)
    scores = rng.normal(size=(runs, tasks)) * rng.uniform(0.1, 3.0, tasks) + np.arange(
        tasks
    )
    ours = stratified_bootstrap(scores, reps=40_000, seed=1)
    point, (low, high) = _rliable_interval(scores, reps=40_000)
    width = high - low
    assert ours.point == pytest.approx(point)
    # two Monte Carlo estimates of the same percentiles: equal up to sampling error
    assert abs(ours.low - low) < 0.05 * width and abs(ours.high - high) < 0.05 * width


def test_stratified_bootstrap_resamples_each_task_on_its_own():
    """Shuffling one task's runs leaves the stratified interval unchanged (resampling
    whole rows would not: rows 0..3 summing to 0, 2, 4, 6 against all 3)."""
    column = np.arange(4.0)
    aligned = np.stack([column, column], axis=1)
    opposed = np.stack([column, column[::-1]], axis=1)
    a = stratified_bootstrap(aligned, reps=50_000, seed=3)
    b = stratified_bootstrap(opposed, reps=50_000, seed=3)
    assert a.point == b.point == 1.5
    assert a.low == pytest.approx(b.low, abs=0.06) and a.high == pytest.approx(
        b.high, abs=0.06
    )
    assert a.high - a.low > 1.0  # not the zero width of a row bootstrap of `opposed`


@pytest.mark.parametrize("runs_x,runs_y,tasks", [(5, 5, 3), (4, 3, 2), (3, 5, 1)])
def test_probability_of_improvement_agrees_with_rliable(runs_x, runs_y, tasks):
    """The point estimate equals rliable's (scipy's Mann-Whitney U), ties included."""
    from rliable import metrics

    rng = np.random.default_rng(runs_x * 10 + runs_y + tasks)
    x = np.round(rng.uniform(size=(runs_x, tasks)), 1)  # rounding makes ties
    y = np.round(rng.uniform(size=(runs_y, tasks)), 1)
    ours = probability_of_improvement(x, y, reps=200)
    assert ours.point == pytest.approx(metrics.probability_of_improvement(x, y))
    assert probability_of_improvement(x, x, reps=200).point == pytest.approx(0.5)
    assert ours.low <= ours.point <= ours.high


def test_probability_of_improvement_counts_pairs_by_hand():
    """Task 0: x (1, 3) against y (2, 4): one win in four pairs, no tie: 1/4. Task 1:
    x (5, 5) against y (5, 4): two ties and two wins: (2 + 2/2) / 4 = 3/4. Mean 1/2.
    Apart by far, every replicate is a win: the interval is [1, 1]."""
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    y = np.array([[2.0, 5.0], [4.0, 4.0]])
    assert probability_of_improvement(x, y, reps=100).point == 0.5
    apart = probability_of_improvement(x + 10, y, reps=500)
    assert (apart.point, apart.low, apart.high) == (1.0, 1.0, 1.0)


def test_bootstrap_difference_against_a_constant_is_a_shifted_bootstrap():
    """Against a method that scores the same on every run, every replicate of the
    difference is a replicate of the first method minus that constant, drawn from the
    same generator: the interval is the shifted stratified interval, exactly."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 3))
    constant = np.full((4, 3), 0.25)
    diff = bootstrap_difference(x, constant, reps=3_000, seed=5)
    alone = stratified_bootstrap(x, reps=3_000, seed=5)
    assert diff.point == pytest.approx(alone.point - 0.25)
    assert diff.low == pytest.approx(alone.low - 0.25)
    assert diff.high == pytest.approx(alone.high - 0.25)
    flipped = bootstrap_difference(constant, constant + 1.0, reps=100)
    assert (flipped.point, flipped.low, flipped.high) == (-1.0, -1.0, -1.0)
    with pytest.raises(TypeError, match="other_runs tasks"):  # the same tasks, typed
        bootstrap_difference(x, x[:, :2])


def test_stratified_bootstrap_exact_small_case():
    """Two runs, one task, scores 0 and 1: replicate means 0, 1/2, 1 with probabilities
    1/4, 1/2, 1/4, so the 95% percentile interval is [0, 1] and the 50% one [1/2, 1/2]."""
    scores = np.array([[0.0], [1.0]])
    wide = stratified_bootstrap(scores, reps=20_000)
    narrow = stratified_bootstrap(scores, reps=20_000, confidence=0.4)
    assert (wide.point, wide.low, wide.high) == (0.5, 0.0, 1.0)
    assert (narrow.low, narrow.high) == (0.5, 0.5)
    constant = stratified_bootstrap(np.full((4, 3), 2.5), reps=100)
    assert (constant.low, constant.high) == (2.5, 2.5)


@pytest.mark.parametrize(
    "scores,message",
    [
        (np.zeros((0, 2)), "non-empty runs x tasks"),
        (np.array([[1.0, np.nan]]), "finite"),
    ],
)
def test_stratified_bootstrap_rejects_bad_scores(scores, message):
    with pytest.raises(ValueError, match=message):
        stratified_bootstrap(scores)


def test_stratified_bootstrap_type_checks_its_matrix():
    with pytest.raises(TypeError, match="runs tasks"):
        stratified_bootstrap(np.zeros(3))


def _run(variant, seed, R, curves, size):
    return {
        "variant": variant,
        "seed": seed,
        "domain": "halfcheetah",
        "tasks": ["a", "b"],
        "R": R,
        "curves": curves,
        "model_size": size,
    }


def _sacn_and_ft1():
    """Two SAC-N runs (per-task mean finals 200 and 400) and two FT-1 runs."""
    sacn = [
        _run("sacn", 0, [[100.0, None], [100.0, 200.0]], [[[1, 50.0]], [[1, 100.0]]], 2.0),
        _run("sacn", 1, [[300.0, None], [300.0, 600.0]], [[[1, 150.0]], [[1, 300.0]]], 2.0),
    ]
    ft1 = [
        _run("ft1", 0, [[150.0, None], [-50.0, 400.0]], [[[1, 40.0]], [[1, 200.0]]], 1.0),
        _run("ft1", 1, [[250.0, None], [100.0, 200.0]], [[[1, 120.0]], [[1, 100.0]]], 1.0),
    ]
    return sacn, ft1


def test_interval_table_normalises_by_the_comparisons_own_sac_n():
    sacn, ft1 = _sacn_and_ft1()
    text, table = interval_table(sacn + ft1, reps=500)
    ref = np.array([200.0, 400.0])  # SAC-N's mean R[j, j]
    ref_auc = np.array([100.0, 200.0]) / ref  # SAC-N's mean curve over the reference
    row = table["variants"]["ft1"]
    perf = np.array([[-50.0, 400.0], [100.0, 200.0]]) / ref
    assert row["performance"]["point"] == pytest.approx(perf.mean())
    forgetting = np.array([150.0 + 50.0, 250.0 - 100.0]) / ref[0]
    assert row["forgetting"]["point"] == pytest.approx(forgetting.mean())
    auc = np.array([[40.0, 200.0], [120.0, 100.0]]) / ref
    transfer = (auc - ref_auc) / (1 - ref_auc)
    assert row["forward_transfer"]["point"] == pytest.approx(transfer.mean())
    assert row["model_size"] == {"point": 1.0, "low": 1.0, "high": 1.0}
    assert table["variants"]["sacn"]["performance"]["point"] == pytest.approx(1.0)
    assert "normalised per task by SAC-N" in text and "| ft1 | 2 |" in text


def test_difference_table_restates_rewire_minus_each_variant_on_normalised_scores():
    """Rewire's and FT-1's final scores divided by SAC-N's mean R[j, j], as in the
    interval table: the difference of their means, and rliable's probability of
    improvement on the same matrices; SAC-N's row against itself is not listed."""
    from rliable import metrics

    sacn, ft1 = _sacn_and_ft1()
    rewire = [
        _run("rewire", s, [[100.0, None], [r0, r1]], [[[1, 9.0]], [[1, 9.0]]], 2.1)
        for s, (r0, r1) in enumerate([(180.0, 420.0), (210.0, 380.0)])
    ]
    text = difference_table(sacn + ft1 + rewire, reps=400)
    ref = np.array([200.0, 400.0])
    mine = np.array([[180.0, 420.0], [210.0, 380.0]]) / ref
    theirs = np.array([[-50.0, 400.0], [100.0, 200.0]]) / ref
    row = next(line for line in text.splitlines() if line.startswith("| ft1 |"))
    difference, improvement = row.split(" | ")[2:4]
    assert float(difference.split(" [")[0]) == pytest.approx(
        mine.mean() - theirs.mean(), rel=1e-3
    )
    expected = metrics.probability_of_improvement(mine, theirs)
    assert float(improvement.split(" [")[0]) == pytest.approx(expected, rel=1e-3)
    assert "| sacn | 2 |" in text and "| rewire |" not in text
    with pytest.raises(ValueError, match="no runs of 'rewire'"):
        difference_table(sacn + ft1)


def test_success_rates_are_not_divided_and_the_tables_say_so():
    """Meta-World scores (success rates) keep their raw values in both tables, which say
    so; forward transfer still uses SAC-N's curves. Returns are divided (above)."""
    runs = [
        {**m, "domain": "metaworld", "R": np.asarray(m["R"], float) / 1000, "curves": c}
        for m, c in zip(
            sum(_sacn_and_ft1(), []),
            [[[[1, 0.1]], [[1, 0.2]]], [[[1, 0.3]], [[1, 0.4]]]] * 2,
        )
    ]
    for m in runs:  # None above the diagonal is not a number: keep it out of the division
        m["R"] = [[m["R"][0][0], None], [m["R"][1][0], m["R"][1][1]]]
    text, table = interval_table(runs, reps=200)
    perf = np.array([[-0.05, 0.4], [0.1, 0.2]])  # FT-1's R[T-1], not divided
    assert table["variants"]["ft1"]["performance"]["point"] == pytest.approx(perf.mean())
    assert table["reference_finals"] == [1.0, 1.0]
    assert "not divided" in text and "normalised per task" not in text
    per_task = per_task_table(runs, reps=200)
    assert "raw." in per_task and "divided by SAC-N" not in per_task
    assert "| sacn | 2 | 0.2 [" in per_task  # SAC-N's mean R[0, 0] (0.1, 0.3), raw


def test_interval_table_without_sac_n_keeps_raw_scores():
    ft1 = [
        _run("ft1", s, [[10.0, None], [4.0, 6.0]], [[[1, 1.0]], [[1, 2.0]]], 1.0)
        for s in (0, 1)
    ]
    text, table = interval_table(ft1, reps=100)
    row = table["variants"]["ft1"]
    assert row["performance"]["point"] == 5.0 and row["forgetting"]["point"] == 6.0
    assert row["forward_transfer"] is None and "raw scores" in text


def test_rewire_diagnostics_lists_every_rewire_task_from_its_facts():
    import json
    from pathlib import Path

    from rewire_eqx.report import rewire_diagnostics

    m = json.loads(Path("runs/comparison/metrics/rewire_seed0.json").read_text())
    ft1 = json.loads(Path("runs/comparison/metrics/ft1_seed0.json").read_text())
    text = rewire_diagnostics([{**m, "variant": "rewire"}, {**ft1, "variant": "ft1"}])
    rows = [line for line in text.splitlines() if line.startswith("| rewire |")]
    assert len(rows) == len(m["tasks"]) and "| ft1 |" not in text
    facts = m["task_facts"][1]
    assert min(abs(r) for r in facts["mode_rewards"]) >= 10  # returns: to the unit
    modes = " / ".join(f"{r:.0f}" for r in facts["mode_rewards"])
    assert f"| {modes} | {facts['kept_mode']} | no |" in rows[1]
    assert f"| {np.mean(facts['weight_drift']):.2f} |" in rows[1]


def test_rewire_diagnostics_keep_two_decimals_of_success_rates():
    """Continual World scores are success rates in [0, 1]: rounding them to the unit
    (as returns are) would print a kept mode of 0.56 as 1 and one of 0.30 as 0."""
    from rewire_eqx.report import rewire_diagnostics

    m = {
        "variant": "rewire",
        "method": "rewire",
        "seed": 0,
        "tasks": ["a", "b"],
        "R": [[0.86, None], [1.0, 0.74]],
        "reward_before": [None, 0.0],
        "task_facts": [{}, {"mode_rewards": [0.02, 0.3, 0.56], "kept_mode": 2}],
    }
    row = rewire_diagnostics([m]).splitlines()[-1]
    assert row.startswith(
        "| rewire | 0 | 1: b | 0.74 | 0.00 | 0.02 / 0.30 / 0.56 | 2 | no |"
    )


def test_per_task_table_splits_learning_from_keeping():
    """Each cell is the mean over runs of one task's normalised R[j, j] or R[T-1, j]."""
    from rewire_eqx.report import per_task_table

    sacn, ft1 = _sacn_and_ft1()
    text = per_task_table(sacn + ft1, reps=500)
    row = next(line for line in text.splitlines() if line.startswith("| ft1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    points = [float(c.split(" [")[0]) for c in cells[2:]]
    ref = np.array([200.0, 400.0])
    expected = [
        np.mean([150.0, 250.0]) / ref[0],  # task 0 just after training it
        np.mean([-50.0, 100.0]) / ref[0],  # task 0 at the end
        np.mean([400.0, 200.0]) / ref[1],  # task 1 (the last: both are the same)
        np.mean([400.0, 200.0]) / ref[1],
    ]
    assert points == pytest.approx(expected, rel=1e-2)
    assert cells[:2] == ["ft1", "2"] and "0: a, R[j, j]" in text and "1: b, end" in text
    raw = per_task_table(ft1, reps=100)
    assert "raw." in raw and "| ft1 | 2 | 200 [" in raw


def test_trace_series_lays_the_tasks_end_to_end_and_plot_draws_it(tmp_path):
    """The whole run's training trace: each task's spans at their env step offset by the
    earlier tasks' steps, the values those of `metrics.trace_column`; `plot` writes it
    when the run has a trace and skips it when not (runs before the trace existed)."""
    import json
    from pathlib import Path

    from rewire_eqx.metrics import trace_column
    from rewire_eqx.report import TRACE_PANELS, plot, trace_series

    m = json.loads(Path("runs/cw3_cpu/comparison/metrics/rewire_seed0.json").read_text())
    steps, values = trace_series(m, "mode_divergence")
    per_task = [len(trace_column(m, t, "env_steps")) for t in range(3)]
    assert len(steps) == len(values) == sum(per_task) and all(per_task)
    assert np.all(np.diff(steps) > 0) and steps[-1] == 3 * m["steps_per_task"]
    first, second = per_task[0], per_task[0] + per_task[1]
    np.testing.assert_array_equal(
        values[first:second], trace_column(m, 1, "mode_divergence")
    )
    np.testing.assert_array_equal(
        steps[first:second], m["steps_per_task"] + trace_column(m, 1, "env_steps")
    )
    # the first task has no anchor: the alignment regulariser is zero there only (it is
    # the published form ||W||^2 - 2 <W, T>, not bounded below by 0)
    _, regulariser = trace_series(m, "regulariser")
    assert np.all(regulariser[:first] == 0) and np.all(regulariser[first:] != 0)
    assert {field for field, _ in TRACE_PANELS} <= {
        *m["train_trace_fields"],
        "episode_return",
    }
    written = plot(m, tmp_path / "with")
    assert (tmp_path / "with" / "training_trace.png") in written
    old = {**m, "train_trace": [[] for _ in m["tasks"]]}
    assert [p.name for p in plot(old, tmp_path / "without")] == [
        "reward_curves.png",
        "R_heatmap.png",
    ]
