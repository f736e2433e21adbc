"""Small instances, random networks and HiGHS optima shared by the engine-core tests
(tests/test_cpsat_engine.py, tests/test_scip_engine.py)."""

from __future__ import annotations

import numpy as np

from conftest import random_instance
from mipnn_pyomo.formulation import FormulationOptions, ProblemData, network_from_values
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork


def tiny(objective: str, seed: int = 1, n: int = 8, hidden=(2,), P: int = 1, **options):
    """A two-class instance of ``n`` rows and 3 features (conftest.random_instance)."""
    X, y = random_instance(seed, n=n, d=3)
    return build_instance(ProblemData(X, y, 2, hidden, P), objective, FormulationOptions(**options))


def random_network(instance, seed: int) -> IntegerNetwork:
    """A network of ``instance``'s architecture with weights drawn uniformly from [-P, P]."""
    rng = np.random.default_rng(seed)
    sizes, P = instance.data.layer_sizes, instance.data.P
    return IntegerNetwork([rng.integers(-P, P + 1, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])],
                          [rng.integers(-P, P + 1, b) for b in sizes[1:]], P=P)


def network_of(instance, weights) -> IntegerNetwork:
    """The network of a weight vector in ``instance.weight_variables()`` order."""
    value = dict(zip(map(id, instance.weight_variables()), weights))
    return network_from_values(instance.model, instance.data, lambda v: value[id(v)])


def highs_optimum(objective: str, **kwargs) -> float:
    """HiGHS's proven optimum of ``tiny(objective, **kwargs)``."""
    from mipnn_pyomo.solvers import get_solver
    from mipnn_pyomo.solvers.base import SolveOptions

    result = get_solver("highs").solve(tiny(objective, **kwargs),
                                       SolveOptions(time_limit=60, threads=1, heuristic=False, target_accuracy=None))
    assert result.termination.value == "optimal"
    return result.objective


def assert_exact_optimum(instance, result, objective: str, exact_weights: bool = True) -> None:
    """An engine core's optimal result on ``tiny(objective)``: its weights are the model's loaded
    values, its objective is the forward pass's and HiGHS's optimum, its bound closes the gap, the
    exactness check passes and the timeline ends at the optimum."""
    import pytest

    from mipnn_pyomo.training import check_exactness

    assert result.status == "optimal" and result.has_solution
    result.load_into_model()
    network = instance.loaded_network()
    loaded = [v.value for v in instance.weight_variables()]
    assert np.array_equal(result.weights, loaded) if exact_weights else np.allclose(result.weights, loaded)
    assert result.objective == pytest.approx(instance.evaluate(network), abs=1e-6)
    report = check_exactness(instance, network)
    assert report.activations_match and report.scores_match and report.objective_consistent
    assert result.objective == pytest.approx(highs_optimum(objective), abs=1e-6)
    assert result.bound == pytest.approx(result.objective, abs=1e-6)
    assert result.timeline and result.timeline[-1][1] == pytest.approx(result.objective)
