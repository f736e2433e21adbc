"""The formulation, tested like gurobi-machinelearning: fix the network, let the MIP fill in the
rest, and compare every implied quantity with the numpy forward pass."""

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import assert_fixed_mip_is_forward_pass, random_instance

from mipnn_pyomo.formulation import FormulationOptions, ProblemData, fix_network
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import OBJECTIVES, hinge_cuts, hinge_function, hinge_pwl
from mipnn_pyomo.solvers import SolveOptions, get_solver


def random_network(rng, sizes, P):
    weights = [rng.integers(-P, P + 1, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-P, P + 1, size=b) for b in sizes[1:]]
    return IntegerNetwork(weights, biases, P)


def solve_fixed(data, network, objective, encoding="bigm"):
    inst = build_instance(data, objective, FormulationOptions(encoding=encoding, fix_unused_inputs=False))
    fix_network(inst.model, network)
    res = get_solver("highs").solve(inst, SolveOptions(target_accuracy=None, time_limit=60))
    return inst, res


@pytest.mark.parametrize("objective", ["sat-margin", "min-hinge"])
@pytest.mark.parametrize("hidden, P", [((3,), 1), ((4,), 3), ((3, 2), 2)])
@pytest.mark.parametrize("seed", range(4))
def test_fixed_network_mip_equals_forward_pass(objective, hidden, P, seed):
    X, y = random_instance(seed, n=10, d=3)
    data = ProblemData(X, y, 2, hidden, P)
    net = random_network(np.random.default_rng(100 + seed), data.layer_sizes, P)
    inst, res = solve_fixed(data, net, objective)
    assert_fixed_mip_is_forward_pass(inst, data, net, res)


def test_fixed_network_max_correct_counts_correct_samples():
    X, y = random_instance(7, n=14, d=3)
    data = ProblemData(X, y, 2, (3,), 1)
    rng = np.random.default_rng(5)
    tried = 0
    for _ in range(200):
        net = random_network(rng, data.layer_sizes, 1)
        s = net.output_scores(data.X)
        if not np.all((s >= 0).sum(axis=1) == 1):
            continue  # max-correct needs exactly one non-negative output on every sample
        inst, res = solve_fixed(data, net, "max-correct")
        assert res.objective == pytest.approx(np.sum(net.predict_index(data.X) == data.y))
        assert res.objective == pytest.approx(inst.evaluate(net))
        tried += 1
        if tried == 3:
            break
    assert tried == 3


def test_gdp_and_bigm_encodings_agree():
    X, y = random_instance(1, n=8, d=3)
    data = ProblemData(X, y, 2, (2,), 1)
    objs = {}
    for enc in ("bigm", "gdp"):
        inst = build_instance(data, "sat-margin", FormulationOptions(encoding=enc))
        res = get_solver("highs").solve(inst, SolveOptions(target_accuracy=None, time_limit=60))
        objs[enc] = res.objective
    assert objs["bigm"] == pytest.approx(objs["gdp"], abs=1e-6)


def test_gdp_bigm_rows_use_the_tight_per_sample_M():
    X = np.array([[0.5, 0.0, 0.25], [1.0, 1.0, 1.0]])
    data = ProblemData(X, np.array([0, 1]), 2, (2,), 3)
    inst = build_instance(data, "sat-margin", FormulationOptions(encoding="bigm"))
    m = inst.model
    # first layer: M = P (sum |x| + 1)
    assert pyo.value(m.M_first[0]) == pytest.approx(3 * (0.75 + 1))
    assert pyo.value(m.M_first[1]) == pytest.approx(3 * 4)
    # the big-M row's coefficient on u is M (active) and M + eps (inactive)
    from pyomo.repn import generate_standard_repn

    repn = generate_standard_repn(m.sign_inactive[1, 0, 0].body)
    coef = dict(zip([v.name for v in repn.linear_vars], repn.linear_coefs))
    assert coef["u[1,0,0]"] == pytest.approx(-(3 * 1.75 + 1e-4))
    # later layers: M = P (n_in + 1) and eps = 1
    assert pyo.value(m.M_layer[2]) == 3 * 3


def test_unused_inputs_fixed_to_zero():
    X = np.array([[0.5, 0.0], [0.2, 0.0]])
    data = ProblemData(X, np.array([0, 1]), 2, (2,), 1)
    inst = build_instance(data, "sat-margin")
    assert len(inst.model.fix_unused) == 2  # feature 1 is zero everywhere: w[1,1,j] = 0 for j = 0, 1
    paper = build_instance(data, "sat-margin", FormulationOptions(variant="paper"))
    assert len(paper.model.fix_unused) == 0


def test_hinge_pwl_is_exact_on_the_output_lattice():
    data = ProblemData(np.zeros((2, 1)), np.array([0, 1]), 2, (16,), 1)
    opts = FormulationOptions()
    cuts = hinge_cuts(data, opts)
    S = data.score_bound / 2
    z = np.arange(-data.score_bound, data.score_bound + 1) / S
    inside = np.abs(z) <= 1
    assert np.allclose(hinge_pwl(z[inside], cuts), hinge_function(z[inside], 0.5), atol=1e-9)
    # outside [-1, 1] the outer chord extends linearly (an under-estimate of the convex loss)
    assert np.all(hinge_pwl(z[~inside], cuts) <= hinge_function(z[~inside], 0.5) + 1e-9)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_paper_and_tight_variants_reach_the_same_optimum(objective):
    X, y = random_instance(11, n=10, d=3)
    data = ProblemData(X, y, 2, (2,), 1)
    values = []
    for variant in ("tight", "paper"):
        inst = build_instance(data, objective, FormulationOptions(variant=variant))
        values.append(get_solver("highs").solve(inst, SolveOptions(target_accuracy=None, time_limit=60)).objective)
    assert values[0] == pytest.approx(values[1], abs=1e-6)


def test_start_values_are_a_feasible_complete_assignment():
    X, y = random_instance(2, n=10, d=3)
    data = ProblemData(X, y, 2, (3, 2), 2)
    net = random_network(np.random.default_rng(9), data.layer_sizes, 2)
    for objective in ("sat-margin", "min-hinge"):
        inst = build_instance(data, objective)
        values = inst.start_values(net)
        for var, val in values.items():
            var.set_value(val)
        for v in inst.model.component_data_objects(pyo.Var):
            assert v.value is not None, f"{v.name} has no start value"
        for con in inst.model.component_data_objects(pyo.Constraint, active=True):
            body = pyo.value(con.body)
            assert con.lower is None or body >= pyo.value(con.lower) - 1e-9, con.name
            assert con.upper is None or body <= pyo.value(con.upper) + 1e-9, con.name
        assert pyo.value(inst.model.objective) == pytest.approx(inst.evaluate(net))
