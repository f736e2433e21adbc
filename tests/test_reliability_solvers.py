"""Reliability of the solver layer (issue 12): CBC and MIP starts, the start never thrown away,
rejected starts reported, the gap at objective 0, the target label in the timeline."""

from __future__ import annotations

import numpy as np
import pytest

from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.solvers import SolveOptions, get_solver
from mipnn_pyomo.solvers.base import progress_printer
from mipnn_pyomo.training import train_network


from conftest import require_solver as _require  # noqa: E402


def test_cbc_takes_a_valid_gd_start_and_never_returns_less(adult):
    """Adult N = 60, hidden 4, sat-margin: CBC used to reject the GD start ("mipstart values could
    not be used to build a solution") and end with no network in 30 s. The start file is complete
    and accepted now; the result is at least as good as the start."""
    _require("cbc")
    X, y, _ = adult.sample(60, 0)
    r = train_network(X, y, n_classes=2, hidden=(4,), P=1, objective="sat-margin", solver="cbc", time_limit=8,
                      target_accuracy=None, warm_start="gd", decimals=adult.preprocessor.decimals, threads=1,
                      heuristic=False)
    assert r.solve.warm_start_accepted is True, r.solve.log[-1500:]
    assert r.warm_start["accepted"] is True and r.solve.message == ""
    assert r.solve.objective >= r.warm_start["objective_value"]
    assert r.exactness.ok
    assert r.solve.incumbents[0].source == "start"


def test_cbc_uses_the_heuristic_by_default(adult):
    _require("cbc")
    X, y, _ = adult.sample(60, 0)
    r = train_network(X, y, n_classes=2, hidden=(4,), P=1, objective="sat-margin", solver="cbc", time_limit=6,
                      target_accuracy=None, decimals=adult.preprocessor.decimals, threads=1)
    sources = [inc.source for inc in r.solve.incumbents]
    assert sources[0] == "construction"
    assert r.solve.objective >= r.solve.incumbents[0].objective  # the construction is never lost
    assert r.exactness.ok


def test_rejected_start_is_reported_and_kept(adult):
    """A max-correct start that violates its rows (all outputs 0: two non-negative outputs per
    sample) is rejected, the message says so, and the solve still returns its own network."""
    _require("highs")
    X, y, _ = adult.sample(30, 1)
    inst = build_instance(ProblemData(X, y, 2, (2,), 1, adult.preprocessor.decimals), "max-correct")
    sizes = inst.data.layer_sizes
    bad = IntegerNetwork.from_vector(np.zeros(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))), sizes, 1)
    r = get_solver("highs").solve(inst, SolveOptions(target_accuracy=None, time_limit=10, heuristic=False),
                                  warm_start=bad)
    assert r.warm_start_accepted is not True
    assert "rejected the MIP start" in r.message and "violates" in r.message
    assert r.source == "solver" and r.network is not None


def test_gap_at_objective_zero_is_printed_sanely():
    """An interrupted run at objective 0 printed "gap 20000000000000.00%" (|0 - bound| / 1e-9)."""
    import io

    from mipnn_pyomo.solvers.base import Incumbent

    buf = io.StringIO()
    show = progress_printer(buf)
    show(Incumbent(1.0, 0.0, 200.0, 0.5, "solver"))
    show(Incumbent(1.0, 0.0, 2e13, 0.5, "solver"))  # a solver's infinity: no gap
    first, second = buf.getvalue().splitlines()
    assert "gap 100.00%" in first and "gap     -" in second


def test_target_network_ends_the_timeline_labelled(adult):
    """HiGHS on max-correct with a target met early: the returned network is the target one, and
    when later entries exist the timeline says which one was returned."""
    _require("highs")
    X, y, _ = adult.sample(40, 0)
    r = train_network(X, y, n_classes=2, hidden=(2,), objective="max-correct", target_accuracy=0.75,
                      decimals=adult.preprocessor.decimals, threads=1, time_limit=30)
    assert r.solve.target_reached and r.solve.source == "target"
    incs = r.solve.incumbents
    met = [i for i, inc in enumerate(incs) if inc.train_accuracy >= 0.75]
    assert met and (met[0] == len(incs) - 1 or incs[-1].source == "target")
    assert incs[-1].train_accuracy == r.train_accuracy
