"""SCIP engine core (mipnn_pyomo/solvers/scip_engine.py, Pyomo's scip_persistent + a pyscipopt event handler)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import OBJECTIVES

pytest.importorskip("pyscipopt", reason="pyscipopt is not installed (pip install pyscipopt)")

from mipnn_pyomo.solvers.scip_engine import solve_scip  # noqa: E402
from engine_cases import assert_exact_optimum, tiny, random_network, network_of  # noqa: E402


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_scip_optimum_is_exact_and_equals_highs(objective):
    instance = tiny(objective)
    result = solve_scip(instance, time_limit=30, seed=0)
    assert_exact_optimum(instance, result, objective, exact_weights=False)


def test_start_network_is_accepted_and_reported_first():
    instance = tiny("sat-margin", n=30, hidden=(3,))
    start = random_network(instance, 7)
    result = solve_scip(instance, time_limit=30, seed=0, start_network=start,
                        on_solution=lambda weights, objective, bound: True)
    assert result.start_accepted is True
    assert result.stop_reason == "target" and len(result.timeline) == 1
    assert result.timeline[0][1] == pytest.approx(instance.evaluate(start))
    expected = np.concatenate([w.ravel() for w in start.weights] + list(start.biases))
    assert np.allclose(result.weights, expected)


def test_infeasible_start_is_reported_not_accepted():
    # the zero network scores 0 on both outputs: max-correct's "one non-negative output" fails
    instance = tiny("max-correct")
    net = random_network(instance, 0)
    zero = IntegerNetwork([w * 0 for w in net.weights], [b * 0 for b in net.biases], P=1)
    result = solve_scip(instance, time_limit=30, seed=0, start_network=zero)
    assert result.start_accepted is False and result.status == "optimal"


def test_accuracy_target_stops_the_search():
    instance = tiny("sat-margin", n=40, hidden=(3,))
    X, y = instance.data.X, instance.data.y
    seen = []

    def on_solution(weights, objective, bound):
        seen.append(network_of(instance, weights).accuracy(X, y))
        return seen[-1] >= 0.6

    result = solve_scip(instance, time_limit=60, seed=0, on_solution=on_solution)
    assert result.stop_reason == "target"
    assert seen[-1] >= 0.6 and all(a < 0.6 for a in seen[:-1])
    assert len(result.timeline) == len(seen)
    assert network_of(instance, result.weights).accuracy(X, y) >= 0.6


def test_should_stop_interrupts_a_long_solve():
    instance = tiny("sat-margin", n=60, hidden=(6,))
    t0 = time.perf_counter()
    result = solve_scip(instance, time_limit=60, seed=0, should_stop=lambda: time.perf_counter() - t0 > 1.0)
    assert result.stop_reason == "interrupt"
    assert time.perf_counter() - t0 < 20


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_flag_handler_runs_during_the_solve(signum):
    """The engine leaves Ctrl-C to Python: a flag handler (as the adapters install) runs mid-solve
    and should_stop ends the search, keeping the incumbent."""
    instance = tiny("sat-margin", n=60, hidden=(6,))
    received = []
    previous = signal.signal(signum, lambda sig, frame: received.append(sig))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signum))
    try:
        t0 = time.perf_counter()
        timer.start()
        result = solve_scip(instance, time_limit=60, seed=0, should_stop=lambda: bool(received))
    finally:
        timer.cancel()
        signal.signal(signum, previous)
    assert received == [signum]
    assert result.stop_reason == "interrupt" and time.perf_counter() - t0 < 20


def test_unknown_scip_parameter_is_one_clear_error():
    with pytest.raises(ModelConfigError, match="bad SCIP parameter"):
        solve_scip(tiny("sat-margin"), time_limit=5, seed=0, params={"no/such/parameter": 1})
