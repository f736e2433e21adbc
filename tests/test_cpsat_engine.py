"""CP-SAT engine core and the exact all-integer standard form (mipnn_pyomo/solvers/{standard_form,cpsat_engine}.py)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import numpy as np
import pytest

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import OBJECTIVES, hinge_cuts
from mipnn_pyomo.solvers.standard_form import (
    InexactScalingError,
    compile_standard_form,
    integer_form,
    integral_scale,
)

pytest.importorskip("ortools.sat.python.cp_model", reason="OR-Tools is not installed (pip install ortools)")

from mipnn_pyomo.solvers.cpsat_engine import compile_cpsat, is_product_variable, solve_cpsat  # noqa: E402
from engine_cases import assert_exact_optimum, tiny, random_network  # noqa: E402


# --------------------------------------------------------------------------- exact scaling


def test_row_scale_is_the_smallest_exact_integer():
    assert integral_scale([0.1234, 1.0, -0.5]) == 5000  # 617/5000 and 1/2: the LCM beats 10^4
    assert integral_scale([0.001, 2.0]) == 1000
    assert integral_scale([3.0, -7.0]) == 1
    scale = integral_scale([0.37, 12.5])
    assert all(abs(v * scale - round(v * scale)) <= 1e-9 for v in (0.37, 12.5)) and scale == 100


@pytest.mark.parametrize("row", [[1.0, math.sqrt(2)], [0.5, math.pi / 10], [1.0, 1e-10]])
def test_row_that_cannot_be_made_integral_is_refused_never_rounded(row):
    # 1e-10 is not a grid value: scaling it to 0 would silently drop the coefficient.
    with pytest.raises(InexactScalingError, match="no exact integer scale"):
        integral_scale(row, "row test")


def test_integer_form_is_integral_and_keeps_the_rows():
    instance = tiny("min-hinge")
    sf = compile_standard_form(instance.model)
    form = integer_form(sf, is_product_variable)
    assert form.A.data.dtype == np.int64
    # every integer row is an exact multiple of the float row (after column scaling)
    scaled_float = sf.A.multiply(1.0 / form.col_scale[None, :]).tocsr()
    ratio = form.A.toarray() - scaled_float.toarray() * form.row_scale[:, None]
    assert np.abs(ratio).max() <= 1e-9
    # products c are integer columns in [-P, P]; min-hinge's t are scaled, T = D t
    names = [v.parent_component().local_name for v in sf.columns]
    c_cols = [j for j, n in enumerate(names) if n == "c"]
    t_cols = [j for j, n in enumerate(names) if n == "t"]
    assert c_cols and t_cols
    assert all(form.col_scale[j] == 1 and form.col_lower[j] == -1 and form.col_upper[j] == 1 for j in c_cols)
    assert all(form.col_scale[j] > 1 for j in t_cols)
    # t's missing upper bound is derived, never below the largest loss a network can have (z = -2)
    from mipnn_pyomo.objectives import hinge_cuts, hinge_pwl

    worst = float(hinge_pwl(np.array([-2.0]), hinge_cuts(instance.data, instance.options))[0])
    assert all(form.col_lower[j] == 0 and form.col_upper[j] >= worst * form.col_scale[j] - 1e-9 for j in t_cols)


@pytest.mark.parametrize("P, hidden", [(3, (16,)), (3, (8,)), (2, (12,))])
def test_min_hinge_chords_are_exact_for_every_P_and_H(P, hidden):
    # Chords rounded to 12 decimals made P (H + 1) = 27, 33, 51, ... fail here (no exact integer
    # scale for hinge_epigraph rows); exact rational chords compile, and a network's forward pass
    # is a feasible CP-SAT solution whose objective equals the forward pass's.
    from mipnn_pyomo.objectives import OutputContext

    instance = tiny("min-hinge", P=P, hidden=hidden)
    exact = OutputContext.of(instance.data, instance.options).hinge.exact_cuts
    assert all(float(a) == c[0] and float(b) == c[1] for (a, b), c in zip(exact, hinge_cuts(instance.data, instance.options)))
    hint = random_network(instance, 3)
    result = solve_cpsat(instance, time_limit=10, threads=1, seed=0, hint_network=hint,
                         on_solution=lambda weights, objective, bound: True)
    assert result.start_accepted is True and result.stop_reason == "target"
    assert result.objective == pytest.approx(instance.evaluate(hint), abs=1e-9)


# --------------------------------------------------------------------------- solving


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_cpsat_optimum_is_exact_and_equals_highs(objective):
    instance = tiny(objective)
    result = solve_cpsat(instance, time_limit=30, threads=2, seed=0)
    assert_exact_optimum(instance, result, objective)


def test_gdp_encoding_compiles_to_the_same_optimum():
    result = solve_cpsat(tiny("sat-margin", encoding="gdp"), time_limit=30, threads=2, seed=0)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(solve_cpsat(tiny("sat-margin"), time_limit=30, threads=2, seed=0).objective)


def test_hint_network_is_the_first_solution():
    instance = tiny("sat-margin", n=30, hidden=(3,))
    hint = random_network(instance, 7)
    result = solve_cpsat(instance, time_limit=30, threads=1, seed=0, hint_network=hint,
                         on_solution=lambda weights, objective, bound: True)
    assert result.start_accepted is True
    assert result.stop_reason == "target" and len(result.timeline) == 1
    assert result.objective == pytest.approx(instance.evaluate(hint))
    expected = np.concatenate([w.ravel() for w in hint.weights] + list(hint.biases))
    assert np.array_equal(result.weights, expected)


def test_infeasible_hint_is_reported_not_accepted():
    # the zero network scores 0 on both outputs: max-correct's "one non-negative output" fails
    instance = tiny("max-correct")
    net = random_network(instance, 0)
    zero = IntegerNetwork([w * 0 for w in net.weights], [b * 0 for b in net.biases], P=1)
    result = solve_cpsat(instance, time_limit=30, threads=1, seed=0, hint_network=zero)
    assert result.start_accepted is False and result.status == "optimal"


def test_accuracy_target_stops_the_search():
    instance = tiny("sat-margin", n=40, hidden=(3,))
    X, y = instance.data.X, instance.data.y
    seen = []

    def on_solution(weights, objective, bound):
        seen.append(_network(instance, weights).accuracy(X, y))
        return seen[-1] >= 0.6

    result = solve_cpsat(instance, time_limit=60, threads=2, seed=0, on_solution=on_solution)
    assert result.stop_reason == "target"
    assert seen[-1] >= 0.6 and all(a < 0.6 for a in seen[:-1])
    assert len(result.timeline) == len(seen)
    assert _network(instance, result.weights).accuracy(X, y) >= 0.6


def test_should_stop_interrupts_a_long_solve():
    instance = tiny("sat-margin", n=60, hidden=(6,))
    t0 = time.perf_counter()
    result = solve_cpsat(instance, time_limit=60, threads=2, seed=0,
                         should_stop=lambda: time.perf_counter() - t0 > 1.0)
    assert result.stop_reason == "interrupt"
    assert time.perf_counter() - t0 < 20
    assert result.status in ("feasible", "unknown", "optimal")


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
        result = solve_cpsat(instance, time_limit=60, threads=2, seed=0, should_stop=lambda: bool(received))
    finally:
        timer.cancel()
        signal.signal(signum, previous)
    assert received == [signum]
    assert result.stop_reason == "interrupt" and time.perf_counter() - t0 < 20


def test_unknown_cpsat_parameter_is_one_clear_error():
    with pytest.raises(ModelConfigError, match="bad CP-SAT parameter no_such_parameter"):
        solve_cpsat(tiny("sat-margin"), time_limit=5, threads=1, seed=0, params={"no_such_parameter": 1})


def test_list_parameters_set_repeated_fields_and_the_adapter_reports_them():
    # e.g. subsolvers = ["core", "max_lp"] (bound-oriented workers, docs/results/engines.md)
    from mipnn_pyomo.solvers import get_solver
    from mipnn_pyomo.solvers.base import SolveOptions

    instance = tiny("sat-margin")
    options = SolveOptions.from_mapping({"subsolvers": ["core", "max_lp"], "linearization_level": 2},
                                        time_limit=20, threads=2, heuristic=False, target_accuracy=None)
    result = get_solver("cpsat").solve(instance, options)
    assert result.solver_params["subsolvers"] == ["core", "max_lp"]
    assert result.solver_params["linearization_level"] == 2
    assert result.termination.value == "optimal" and result.objective == result.bound


def _network(instance, weights) -> IntegerNetwork:
    """The network of a weight vector in instance.weight_variables() order (w then b)."""
    from mipnn_pyomo.formulation import network_from_values

    value = dict(zip(map(id, instance.weight_variables()), weights))
    return network_from_values(instance.model, instance.data, lambda v: value[id(v)])
