import numpy as np
import pytest
from conftest import random_instance

from mipnn_pyomo.errors import DataError, ModelConfigError, NoSolutionError, SolverError
from mipnn_pyomo.objectives import OBJECTIVES
from mipnn_pyomo.solvers.base import Termination
from mipnn_pyomo.training import check_exactness, train_network


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_each_objective_fits_separable_data_exactly(objective, separable_data):
    X, y = separable_data
    r = train_network(X, y, hidden=(2,), P=1, objective=objective, target_accuracy=None, time_limit=60)
    assert r.solve.termination == Termination.OPTIMAL
    assert r.train_accuracy == 1.0
    assert r.network.accuracy(X, y) == 1.0
    assert r.exactness.ok


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_xor_needs_and_gets_a_hidden_layer(objective, xor_data):
    X, y = xor_data
    r = train_network(X, y, hidden=(2,), P=1, objective=objective, target_accuracy=None, time_limit=60)
    assert r.train_accuracy == 1.0
    assert r.exactness.ok


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("seed", range(5))
def test_exactness_on_random_instances(objective, seed):
    """The MIP's implied activations, scores and predictions equal the forward pass's."""
    X, y = random_instance(seed, n=8, d=3, n_classes=2 + seed % 2)
    hidden = [(3,), (2, 2), (2,)][seed % 3]
    P = [1, 3, 2][seed % 3]
    r = train_network(X, y, n_classes=2 + seed % 2, hidden=hidden, P=P, objective=objective,
                      target_accuracy=None, time_limit=10, seed=seed)
    rep = check_exactness(r.instance, r.network)
    assert rep.ok, rep.to_dict()
    assert rep.mip_accuracy == rep.forward_accuracy == r.train_accuracy
    if r.solve.termination == Termination.OPTIMAL:
        # at the optimum the MIP objective is the network's own objective by forward pass
        assert r.solve.objective == pytest.approx(rep.forward_objective, abs=1e-6)


def test_deeper_network_and_larger_P(xor_data):
    X, y = xor_data
    r = train_network(X, y, hidden=(3, 2), P=3, objective="sat-margin", target_accuracy=None, time_limit=60)
    assert r.train_accuracy == 1.0 and r.exactness.ok
    assert [w.shape for w in r.network.weights] == [(2, 3), (3, 2), (2, 2)]
    assert all(np.abs(w).max() <= 3 for w in r.network.weights)


def test_accuracy_target_stops_early_with_a_network_meeting_it():
    from mipnn_pyomo.data import load_adult

    X, y, _ = load_adult().sample(100, 0)
    # heuristic off: this tests the solver callback's stop, not the local search
    r = train_network(X, y, hidden=(16,), P=1, objective="sat-margin", target_accuracy=0.85, time_limit=120,
                      heuristic=False)
    assert r.solve.target_reached
    assert r.network.accuracy(X, y) >= 0.85
    assert r.solve.termination == Termination.TARGET_REACHED
    assert r.solve.gap is not None and r.solve.gap > 0  # stopped before proving optimality
    # the timeline ends with the network that met the target, measured by forward pass
    assert r.solve.incumbents[-1].train_accuracy == r.network.accuracy(X, y)


def test_warm_start_from_a_network_is_accepted_by_highs(separable_data):
    X, y = separable_data
    first = train_network(X, y, hidden=(2,), objective="min-hinge", target_accuracy=None, time_limit=60)
    again = train_network(X, y, hidden=(2,), objective="min-hinge", target_accuracy=None, time_limit=60,
                          warm_start=first.network)
    assert again.warm_start["accepted"] is True
    assert again.warm_start["objective_value"] == pytest.approx(first.solve.objective, abs=1e-6)
    assert again.solve.objective == pytest.approx(first.solve.objective, abs=1e-6)


def test_time_limit_without_incumbent_is_a_clear_error():
    # max-correct has no trivial solution (all-zero weights give two non-negative outputs); with
    # 1 ms and no presolve or feasibility jump HiGHS stops at the time limit with nothing.
    X, y = random_instance(0, n=30, d=5)
    with pytest.raises(NoSolutionError, match="no feasible network found within 0.001 s"):
        train_network(X, y, hidden=(8,), objective="max-correct", time_limit=1e-3, target_accuracy=None,
                      solver_options={"mip_heuristic_run_feasibility_jump": False, "presolve": "off"},
                      heuristic=False)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(P=0), ModelConfigError, "P must be an integer >= 1"),
        (dict(P=1.5), ModelConfigError, "P must be an integer >= 1"),
        (dict(hidden=(0,)), ModelConfigError, "hidden width"),
        (dict(hidden=()), ModelConfigError, "at least one hidden layer"),
        (dict(target_accuracy=1.5), ModelConfigError, "target accuracy"),
        (dict(time_limit=0), ModelConfigError, "time limit must be > 0"),
        (dict(time_limit=-3), ModelConfigError, "time limit must be > 0"),
        (dict(objective="max-fun"), ModelConfigError, "unknown objective"),
        (dict(solver="cplex"), SolverError, "unknown solver 'cplex'; known solvers: highs"),
    ],
)
def test_bad_settings_raise_one_clear_error(kwargs, error, message):
    X, y = random_instance(0, n=6, d=2)
    with pytest.raises(error, match=message):
        train_network(X, y, **kwargs)


def test_bad_data_raises_data_error():
    X, y = random_instance(0, n=6, d=2)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train_network(X_nan, y)
    with pytest.raises(DataError, match="one label per row"):
        train_network(X, y[:-1])
    with pytest.raises(DataError, match="class indices"):
        train_network(X, y + 5, n_classes=2)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_local_search_heuristic_gives_exact_better_incumbents(objective):
    """The construction heuristic's network is a feasible MIP solution, recorded in the timeline, and
    whatever the solve returns passes the exactness check."""
    from mipnn_pyomo.data import load_adult

    X, y, _ = load_adult().sample(60, 1)
    r = train_network(X, y, hidden=(4,), P=1, objective=objective, target_accuracy=None, time_limit=20)
    sources = [inc.source for inc in r.solve.incumbents]
    assert sources[0] == "construction"
    assert r.exactness.ok
    constructed = r.solve.incumbents[0].objective
    # the returned objective is at least as good as the constructed one
    if r.instance.sense == "maximize":
        assert r.solve.objective >= constructed - 1e-9
    else:
        assert r.solve.objective <= constructed + 1e-9
