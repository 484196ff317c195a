"""The accelerator check runs end to end on CPU at toy sizes, so it is known to work
before a GPU is at hand. It compiles eight Brax learners (about 9 minutes of CPU here),
so the default suite leaves it out: `python -m pytest -m accelerator` runs it."""

import json

import pytest


@pytest.mark.accelerator
def test_the_accelerator_check_runs_at_tiny_sizes_and_records_every_part(tmp_path):
    from bench.accelerator import main

    out = tmp_path / "accelerator.json"
    main(
        [
            "--tiny",
            "--no-peer",
            "--window",
            "0.2",
            "--repeats",
            "1",
            "--counts",
            "1",
            "2",
            "--budget-scale",
            "0.0004",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ]
    )
    record = json.loads(out.read_text())
    assert record["device"]["platform"] == "cpu" and record["compile_seconds"] > 0
    cases = record["learners"]["cases"]
    assert {"plain", "rewired K=3"} <= set(cases)
    assert all(case["median"] > 0 for case in cases.values())
    assert set(record["seeds"]) == {"1", "2"}
    assert all(row["median"] > 0 for row in record["seeds"].values())
    assert all("process_peak_rss_bytes" in row for row in record["seeds"].values())
    table = record["robustness_table"]
    assert "rewire" in table and "ft_l2" in table
