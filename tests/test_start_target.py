"""``target_accuracy="start"``: the warm start's own training accuracy is the target (training.py)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_solver
from mipnn_pyomo.cli import main
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.training import train_network


def separable(n: int = 24, seed: int = 3):
    rng = np.random.default_rng(seed)
    X = np.round(rng.uniform(0, 1, (n, 3)), 2)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.7).astype(int)
    return X, y


def weak_start() -> IntegerNetwork:
    """A 3-2-2 network that predicts from feature 1 only (right on part of the rows)."""
    return IntegerNetwork(weights=[np.array([[0, 0], [1, 1], [0, 0]]), np.array([[1, -1], [1, -1]])],
                          biases=[np.array([0, -1]), np.array([0, 0])], P=1)


@pytest.mark.parametrize("recipe", ["paper", "polish"])
def test_start_target_keeps_the_start_accuracy_and_is_exact(recipe):
    require_solver("highs")
    X, y = separable()
    start = weak_start()
    start_accuracy = start.accuracy(X, y)
    assert 0 < start_accuracy < 1
    result = train_network(X, y, hidden=(2,), P=1, solver="highs", time_limit=3, seed=0, warm_start=start,
                           target_accuracy="start", recipe=recipe)
    assert result.warm_start["target_accuracy"] == pytest.approx(start_accuracy)
    assert result.exactness.ok
    assert result.network.accuracy(X, y) >= start_accuracy - 1e-12


def test_start_target_trains_gd_once_and_records_it():
    require_solver("highs")
    X, y = separable()
    result = train_network(X, y, hidden=(2,), P=1, solver="highs", time_limit=3, seed=0, warm_start="gd",
                           target_accuracy="start", recipe="polish")
    assert result.warm_start["method"] == "gd"
    assert result.warm_start["target_accuracy"] == pytest.approx(result.warm_start["train_accuracy"])
    assert result.network.accuracy(X, y) >= result.warm_start["train_accuracy"] - 1e-12


@pytest.mark.parametrize("kwargs,message", [
    ({"target_accuracy": "start"}, "needs a warm start"),
    ({"target_accuracy": "begin", "warm_start": "gd"}, "or 'start'"),
])
def test_start_target_errors(kwargs, message):
    X, y = separable()
    with pytest.raises(ModelConfigError, match=message):
        train_network(X, y, hidden=(2,), P=1, solver="highs", time_limit=5, **kwargs)


@pytest.mark.parametrize("extra", [[], ["--method", "gd"]])
def test_cli_start_target_without_a_mip_warm_start_is_one_line_exit_2(capsys, extra):
    code = main(["train", "--dataset", "adult", "--n-train", "20", "--hidden", "2", "--target-accuracy", "start",
                 "--time-limit", "5", "--quiet"] + extra)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and "start" in err and "Traceback" not in err
