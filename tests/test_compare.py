"""mipnn compare-solvers: one row per (solver, objective, seed), unavailable solvers kept with a reason."""

from __future__ import annotations

import io

import pandas as pd

from mipnn_pyomo.cli import main
from mipnn_pyomo.compare import COLUMNS, render, time_to_target, to_markdown
from mipnn_pyomo.solvers.base import Incumbent


def test_time_to_target():
    incs = [Incumbent(0.5, 1, 2, 0.6), Incumbent(1.5, 2, 2, 0.95)]
    assert time_to_target(incs, 0.9) == 1.5
    assert time_to_target(incs, 0.99) is None
    assert time_to_target(incs, None) is None


def test_cli_compare_csv(tmp_path, capsys):
    out = tmp_path / "cmp.csv"
    rc = main(["compare-solvers", "--n-train", "12", "--hidden", "2", "--objectives", "max-correct,sat-margin",
               "--solvers", "highs,gurobi,cbc,nosuch", "--seeds", "0", "--time-limit", "30", "--threads", "1",
               "--format", "csv", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 4
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    bad = df[df.solver == "nosuch"]
    assert (bad.status == "unavailable").all() and bad.note.str.contains("unknown solver").all()
    highs = df[df.solver == "highs"]
    assert highs.status.isin(["optimal", "target_reached"]).all()
    assert (highs.train_acc >= 0.9).all() and highs.test_acc.notna().all()


def test_compare_licence_too_small_is_a_row(capsys):
    from mipnn_pyomo.solvers import get_solver

    rc = main(["compare-solvers", "--n-train", "12", "--hidden", "16", "--objectives", "sat-margin",
               "--solvers", "gurobi", "--format", "markdown"])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.startswith("| solver |")
    g = get_solver("gurobi")
    if g.is_available() and not g.has_full_licence():
        assert "unavailable" in text and "2,000" in text


def test_markdown_has_one_line_per_row():
    df = pd.DataFrame([{c: None for c in COLUMNS} | {"solver": "highs", "status": "optimal", "note": "a|b"}])
    md = to_markdown(df)
    assert md.count("\n") == 3 and "a\\|b" in md
    assert "highs" in render(df, "table")
