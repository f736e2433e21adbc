"""The "one MIP too large" warning (mipnn_pyomo/sizing.py) and the HiGHS load from standard form."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pyomo.environ as pyo
import pytest

from mipnn_pyomo import sizing
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.sizing import MIPTooLargeWarning, SingleMIPSizeCheck, estimate_size, majority_message
from mipnn_pyomo.solvers.base import Termination
from mipnn_pyomo.solvers.standard_form import column_bounds
from mipnn_pyomo.training import train_network


def test_estimate_matches_the_built_model(adult):
    X, y, _ = adult.sample(60, 0)
    instance = build_instance(ProblemData(X, y, 2, (16,), 1, 4), "sat-margin")
    variables, constraints = estimate_size(60, X.shape[1], (16,), 2)
    assert variables == instance.sizes["variables"]
    assert abs(constraints - instance.sizes["constraints"]) <= 0.05 * instance.sizes["constraints"]


def test_a_large_single_mip_is_announced_before_the_build():
    with pytest.warns(MIPTooLargeWarning, match=r"3,000 rows.*--batch-size 100"):
        check = SingleMIPSizeCheck(3000, 108, (16,), 2, 60.0)
    assert check.warned
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not SingleMIPSizeCheck(900, 108, (16,), 2, 60.0).warned  # ~88,800 constraints


def _result(accuracy: float, termination=Termination.TIME_LIMIT, target_reached=False):
    solve = SimpleNamespace(termination=termination, target_reached=target_reached, wall_s=60.0)
    return SimpleNamespace(solve=solve, train_accuracy=accuracy,
                           instance=SimpleNamespace(sizes={"variables": 151778, "constraints": 294064}))


def test_a_majority_class_result_is_named_and_points_to_batches():
    y = np.array([0] * 75 + [1] * 25)
    message = majority_message(_result(0.75), y)
    assert "100 rows" in message and "75.00%" in message and "--batch-size 100" in message
    assert "151,778 variables" in message
    assert majority_message(_result(0.80), y) is None  # better than the majority class
    assert majority_message(_result(0.75, Termination.OPTIMAL), y) is None  # proven: nothing better exists
    assert majority_message(_result(0.75, target_reached=True), y) is None
    assert majority_message(_result(0.75), y[::10][:8]) is None  # 8 rows: not "too large", batches cannot help


def test_training_warns_once_through_the_real_path(adult, monkeypatch):
    monkeypatch.setattr(sizing, "LARGE_CONSTRAINTS", 100)  # make a tiny MIP "large"
    X, y, _ = adult.sample(20, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_network(X, y, n_classes=2, hidden=(2,), time_limit=5, threads=1, target_accuracy=0.5)
    mine = [w for w in caught if issubclass(w.category, MIPTooLargeWarning)]
    assert len(mine) == 1 and "20 rows" in str(mine[0].message)


def test_a_solvable_instance_gives_no_warning(adult):
    X, y, _ = adult.sample(20, 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = train_network(X, y, n_classes=2, hidden=(2,), time_limit=10, threads=1, target_accuracy=None)
    assert r.solve.termination == Termination.OPTIMAL
    assert not [w for w in caught if issubclass(w.category, MIPTooLargeWarning)]


def test_the_cli_prints_the_warning_as_one_line(monkeypatch, capsys):
    from mipnn_pyomo.cli import main

    monkeypatch.setattr(sizing, "LARGE_CONSTRAINTS", 100)
    assert main(["train", "--n-train", "20", "--hidden", "2", "--time-limit", "5", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: one MIP over 20 rows") == 1 and "--batch-size 100" in err


def test_column_bounds_equal_pyomos(adult):
    X, y, _ = adult.sample(10, 0)
    for objective in ("sat-margin", "min-hinge", "max-correct"):
        instance = build_instance(ProblemData(X, y, 2, (3,), 3, 4), objective)
        variables = list(instance.model.component_data_objects(pyo.Var))
        lower, upper = column_bounds(variables)
        expected = [v.bounds for v in variables]
        assert np.array_equal(lower, [-np.inf if lb is None else lb for lb, _ in expected])
        assert np.array_equal(upper, [np.inf if ub is None else ub for _, ub in expected])
