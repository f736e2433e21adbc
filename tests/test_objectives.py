"""The Objective records: one place for sense, scale, threshold, margin, evaluation, bound and rows;
a new objective is one registry entry (proved by registering one here, in the test only)."""

import importlib

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import random_instance

from mipnn_pyomo.formulation import FormulationOptions, ProblemData
from mipnn_pyomo.gd import integer_loss, train_gd
from mipnn_pyomo.heuristics import IncumbentImprover, ScoreFunction
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import (
    MAXIMIZE,
    MINIMIZE,
    OBJECTIVES,
    HingeLoss,
    Objective,
    OutputContext,
    get_objective,
    hinge_pwl,
    objective_upper_limit,
)
from mipnn_pyomo.training import train_network

local_search_module = importlib.import_module("mipnn_pyomo.heuristics.local_search")


def random_network(rng, sizes, P):
    weights = [rng.integers(-P, P + 1, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-P, P + 1, size=b) for b in sizes[1:]]
    return IntegerNetwork(weights, biases, P)


# --------------------------------------------------------------------------- a new objective, test-only


def _true_margin_rows(m) -> None:
    """q[k] = 1 => s[y_k, k] >= T; maximise sum_k q[k] (the true output alone meets the margin)."""
    m.q_true = pyo.Var(m.SAMPLES, within=pyo.Binary)

    def row(m, k):
        j = next(j for j in m.OUTPUTS if pyo.value(m.Y[k, j]) == 1)
        s = m.preactivation[pyo.value(m.L), j, k]
        return s >= m.margin_threshold - (m.margin_threshold + m.M_out) * (1 - m.q_true[k])

    m.true_margin = pyo.Constraint(m.SAMPLES, rule=row)
    m.objective = pyo.Objective(rule=lambda m: sum(m.q_true[k] for k in m.SAMPLES), sense=pyo.maximize)


def _true_margin_met(S, ctx):
    return S[..., np.arange(ctx.n_samples), ctx.y] >= ctx.threshold


TRUE_MARGIN = Objective(
    "true-margin", MAXIMIZE, "samples whose true output meets the margin",
    add_rows=_true_margin_rows,
    value=lambda S, ctx: _true_margin_met(S, ctx).sum(axis=-1).astype(float),
    start=lambda m, S, ctx: [(m.q_true[k], float(v)) for k, v in enumerate(_true_margin_met(S, ctx))],
    best_possible=lambda ctx: float(ctx.n_samples),
    monotone_in_margin=True,
)


def test_a_new_objective_is_one_registry_entry(monkeypatch):
    monkeypatch.setitem(OBJECTIVES, TRUE_MARGIN.name, TRUE_MARGIN)
    X, y = random_instance(4, n=16, d=3)
    r = train_network(X, y, hidden=(3,), P=2, objective="true-margin", target_accuracy=None, time_limit=60)
    assert r.exactness.ok
    net = r.network
    forward = float(np.sum(net.output_scores(r.instance.data.X)[np.arange(len(y)), y] >= r.instance.outputs.threshold))
    assert r.solve.objective == pytest.approx(forward)
    assert r.solve.objective == pytest.approx(r.instance.evaluate(net))
    assert 0 < r.solve.objective <= len(y)
    # the heuristic asked the new objective too: its values are forward-pass values of the new objective
    imp = IncumbentImprover(r.instance, time_budget=0.3, seed=1)
    better, value, start = imp.improve(imp._zero_network())
    assert value == pytest.approx(r.instance.evaluate(better)) and value >= start
    assert objective_upper_limit("true-margin", r.instance.data) == len(y)


# --------------------------------------------------------------------------- one evaluation, vectorised


@pytest.mark.parametrize("name", ["max-correct", "min-hinge", "sat-margin"])
def test_vectorised_values_equal_per_network_values(name):
    X, y = random_instance(3, n=20, d=4, n_classes=3)
    data = ProblemData(X, y, 3, (4,), 2)
    ctx = OutputContext.of(data, FormulationOptions(margin=0.4))
    objective = get_objective(name)
    rng = np.random.default_rng(0)
    nets = [random_network(rng, data.layer_sizes, 2) for _ in range(6)]
    stacked = np.stack([n.output_scores(data.X) for n in nets])
    values = objective.value(stacked, ctx)
    assert values.shape == (6,)
    assert values.tolist() == pytest.approx([objective.evaluate(n, data.X, ctx) for n in nets])
    search = objective.search_value(stacked, ctx)
    feasible = objective.feasible(stacked, ctx)
    sign = 1 if objective.maximises else -1
    assert np.all(np.where(feasible, search == sign * values, search == -np.inf))


def test_max_correct_is_infeasible_without_exactly_one_positive_output():
    ctx = OutputContext(np.array([0, 1]), 2, P=1, H=1)
    mc = get_objective("max-correct")
    S = np.array([[[1, -1], [-1, 1]], [[1, 1], [-1, 1]]])
    assert mc.feasible(S, ctx).tolist() == [True, False]
    assert mc.search_value(S, ctx).tolist() == [2.0, -np.inf]


def test_scale_threshold_and_bounds_in_one_place():
    ctx = OutputContext(np.array([0, 1, 1]), 2, P=3, H=4, margin=0.3)
    assert ctx.bound == 15 and ctx.scale == 7.5 and ctx.threshold == 3  # ceil(0.3 * 7.5)
    net = IntegerNetwork([np.ones((2, 4)), np.ones((4, 2))], [np.zeros(4), np.array([3, -3])], 3)
    X = np.array([[0.1, 0.2]])
    assert np.allclose(net.normalised_outputs(X), net.output_scores(X) / ctx.scale)
    assert get_objective("min-hinge").sense == MINIMIZE
    assert [get_objective(n).best_possible(ctx) for n in ("max-correct", "min-hinge", "sat-margin")] == [3, 0, 6]


def test_hinge_interpolation_equals_the_cuts():
    for margin, n in ((0.5, 35), (0.3, 104), (1.0, 7)):
        hinge = HingeLoss(margin, n)
        z = np.random.default_rng(1).uniform(-2, 2, 500)
        assert np.allclose(hinge(z), hinge_pwl(z, hinge.cuts), atol=1e-9)
        assert all(abs(a) > 1e-12 or abs(b) > 1e-12 for a, b in hinge.cuts)


# --------------------------------------------------------------------------- the margin reaches the search and GD


@pytest.mark.parametrize("name", ["sat-margin", "min-hinge"])
def test_the_formulation_margin_reaches_the_heuristic(name):
    X, y = random_instance(6, n=30, d=4)
    data = ProblemData(X, y, 2, (4,), 3)
    values = {}
    for margin in (0.2, 0.9):
        inst = build_instance(data, name, FormulationOptions(margin=margin))
        imp = IncumbentImprover(inst, time_budget=0.3, seed=0)
        assert imp.score.outputs.margin == margin and imp.guide.outputs.margin == margin
        net, value, _ = imp.improve(imp._zero_network())
        assert value == pytest.approx(inst.evaluate(net))
        fixed = imp._zero_network()
        fixed.biases[-1][:] = [3, -3]  # Y s = 3 on every pair: meets T = ceil(0.2 S) = 2, not ceil(0.9 S) = 7
        values[margin] = inst.evaluate(fixed)
    assert values[0.2] != values[0.9]  # the same network scores differently: the margin is used


def test_tie_breaker_uses_the_margin():
    ctx_low = OutputContext(np.array([0]), 2, P=1, H=1, margin=0.1)
    ctx_high = OutputContext(np.array([0]), 2, P=1, H=1, margin=1.0)
    S = np.array([[1, -1]])  # z = 1 on both outputs: no hinge at margin <= 1
    for ctx in (ctx_low, ctx_high):
        score = ScoreFunction.for_objective(get_objective("sat-margin"), ctx)
        assert score(S) == pytest.approx(score.objective_value(S))
    S = np.array([[0, 0]])  # z = 0: hinge m^2 per output
    low = ScoreFunction.for_objective(get_objective("sat-margin"), ctx_low)
    high = ScoreFunction.for_objective(get_objective("sat-margin"), ctx_high)
    assert low.objective_value(S) - low(S) < high.objective_value(S) - high(S)


def test_gd_loss_uses_the_margin():
    X, y = random_instance(2, n=20, d=3)
    res = train_gd(X, y, 2, hidden=(3,), P=1, seed=0, max_epochs=20, target_accuracy=None, margin=0.8)
    assert res.network.training["margin"] == 0.8
    assert res.loss == pytest.approx(integer_loss(res.network, X, y, margin=0.8))
    assert integer_loss(res.network, X, y, margin=0.8) > integer_loss(res.network, X, y, margin=0.2)


# --------------------------------------------------------------------------- no side channel


def test_guided_network_comes_back_explicitly():
    assert not hasattr(local_search_module, "LAST_GUIDED")
    X, y = random_instance(8, n=40, d=4)
    inst = build_instance(ProblemData(X, y, 2, (4,), 2), "sat-margin")
    imp = IncumbentImprover(inst, time_budget=0.4, seed=2)
    found = local_search_module.guided_local_search(imp._zero_network(), inst.data.X, imp.score, imp.guide,
                                                    time_budget=0.4, seed=2)
    assert found.guided is not None  # any network is a sat-margin solution
    guided, value = found.guided
    assert value == pytest.approx(inst.evaluate(guided))
    before = len(imp.candidates)
    imp.improve(imp._zero_network())
    assert len(imp.candidates) == before + 1
    assert imp.candidates[-1][1] == pytest.approx(inst.evaluate(imp.candidates[-1][0]))
