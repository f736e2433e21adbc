"""The generalisation benchmark's CSV stays resumable across added columns, and it names who
produced each network (benchmarks/run_generalisation.py)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_generalisation.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("run_generalisation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_HEADER = ["dataset", "n", "hidden", "P", "encoding", "thresholds", "method", "recipe", "objective", "seed",
              "time_limit", "target", "status", "train_acc", "val_acc", "test_acc"]


def old_row(seed: str, test: str) -> dict:
    return dict(dataset="wine", n="80", hidden="4", P="1", encoding="thermometer", thresholds="4", method="mip",
                recipe="bemi", objective="sat-margin", seed=seed, time_limit="30.0", target="0.9", status="time_limit",
                train_acc="0.9", val_acc="0.8", test_acc=test)


def test_old_rows_keep_their_keys_after_new_columns(tmp_path, runner):
    path = tmp_path / "runs.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=OLD_HEADER)
        writer.writeheader()
        writer.writerows([old_row("0", "0.5"), old_row("1", "0.6")])
    keys_before = runner.done_keys(path)
    assert len(keys_before) == 2
    new = {**old_row("2", "0.7"), "margin": "1.0", "stage_solvers": "highs+cpsat+cpsat", "p_first": "-",
           "final_source": "stage 3 (min-weight): solver"}
    runner.append_row(path, new)
    with path.open() as f:
        header = next(csv.reader(f))
    assert header == runner.FIELDS  # migrated: one header, every column
    rows = runner.read_rows(path)
    assert [r["seed"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["margin"] == "0.5" and rows[0]["stage_solvers"] == "-" and rows[0]["p_first"] == "-"
    assert rows[2]["margin"] == "1.0" and rows[2]["final_source"].startswith("stage 3")
    assert keys_before <= runner.done_keys(path)  # a resumed grid still skips the old rows


def test_a_forced_rerun_supersedes_the_old_row_in_summaries(tmp_path, runner):
    path = tmp_path / "runs.csv"
    runner.append_row(path, {**old_row("0", "0.5"), "margin": "0.5", "stage_solvers": "-", "p_first": "-"})
    runner.append_row(path, {**old_row("0", "0.9"), "margin": "0.5", "stage_solvers": "-", "p_first": "-"})
    assert len(runner.read_rows(path)) == 2
    latest = runner.latest_rows(path)
    assert [r["test_acc"] for r in latest] == ["0.9"]
    assert "| 90.0 |" in runner.summary(path)


def entry(source: str, objective: float, accuracy: float):
    return SimpleNamespace(source=source, objective=objective, train_accuracy=accuracy)


def test_producer_is_the_first_network_that_met_the_target_or_the_returned_value(runner):
    timeline = [entry("construction", 3, 0.7), entry("local-search", 5, 0.92), entry("solver", 9, 0.95),
                entry("target", 5, 0.92)]
    met = SimpleNamespace(incumbents=timeline, target_reached=True, objective=5, train_accuracy=0.92, source="target")
    assert runner.producer(met, 0.9) == "local-search"
    best = SimpleNamespace(incumbents=timeline[:3], target_reached=False, objective=9, train_accuracy=0.95,
                           source="solver")
    assert runner.producer(best, None) == "solver"
    start = SimpleNamespace(incumbents=[entry("start", 9, 1.0), entry("solver", 9, 1.0)], target_reached=False,
                            objective=9, train_accuracy=1.0, source="solver")
    assert runner.producer(start, None) == "start"  # the solver returned the warm start unchanged
