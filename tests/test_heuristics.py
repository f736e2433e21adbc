"""The local-search heuristic: its scores are the forward-pass objective, it never makes a start
worse, and it only ever proposes networks that are MIP solutions."""

import numpy as np
import pytest

from mipnn_pyomo.data import load_adult
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.heuristics import IncumbentImprover
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.objectives import OBJECTIVES


@pytest.fixture(scope="module")
def adult():
    return load_adult()


@pytest.mark.parametrize("objective", list(OBJECTIVES))
@pytest.mark.parametrize("P", [1, 3])
def test_local_search_values_are_forward_pass_objectives(adult, objective, P):
    X, y, _ = adult.sample(80, P)
    inst = build_instance(ProblemData(X, y, 2, (6,), P), objective)
    imp = IncumbentImprover(inst, time_budget=0.5, seed=P)
    start = imp._zero_network()
    net, value, start_value = imp.improve(start)
    assert value == pytest.approx(inst.evaluate(net))
    assert start_value == pytest.approx(inst.evaluate(start))
    if inst.sense == "maximize":
        assert value >= start_value
    else:
        assert value <= start_value
    assert all(np.abs(w).max() <= P for w in net.weights)


@pytest.mark.parametrize("seed", range(4))
def test_max_correct_construction_is_always_a_mip_solution(adult, seed):
    """max-correct's rows need exactly one non-negative output on every sample; the hinge-guided
    phase does not keep that, so the construction must filter (a regression: an infeasible network
    was once returned and the exactness check caught it)."""
    X, y, _ = adult.sample(120, seed)
    inst = build_instance(ProblemData(X, y, 2, (8,), 3), "max-correct")
    imp = IncumbentImprover(inst, time_budget=0.3, seed=seed)
    net = imp.construct(0.8)
    s = net.output_scores(inst.data.X)
    assert np.all((s >= 0).sum(axis=1) == 1)
    for cand, _ in imp.candidates:
        assert np.all((cand.output_scores(inst.data.X) >= 0).sum(axis=1) == 1)


def test_pair_outputs_makes_exactly_one_output_non_negative():
    from mipnn_pyomo.heuristics import pair_outputs
    from mipnn_pyomo.network import IntegerNetwork

    rng = np.random.default_rng(0)
    for P in (1, 3):
        net = IntegerNetwork([rng.integers(-P, P + 1, (5, 4)), rng.integers(-P, P + 1, (4, 2))],
                             [rng.integers(-P, P + 1, 4), np.array([P, -P])], P)
        paired = pair_outputs(net)
        s = paired.output_scores(np.round(rng.random((200, 5)), 4))
        assert np.all((s >= 0).sum(axis=1) == 1)
        assert all(np.abs(w).max() <= P for w in paired.weights + paired.biases)


@pytest.mark.parametrize("objective", ["min-hinge", "sat-margin"])
def test_toward_target_meets_the_target_with_a_mip_solution(adult, objective):
    """The accuracy-guided search starts at the objective's own local optimum, stops once ceil(tN)
    samples are strictly correct, and keeps only networks the objective's MIP admits."""
    X, y, _ = adult.sample(150, 3)
    inst = build_instance(ProblemData(X, y, 2, (8,), 7), objective)
    imp = IncumbentImprover(inst, time_budget=0.5, seed=3)
    # from the zero network (majority class, ~76%): a start that does not depend on timing
    start = imp._zero_network()
    target = 0.9
    assert start.accuracy(inst.data.X, inst.data.y) < target
    net = imp.toward_target(start, target, time_budget=30.0)
    assert net is not None, "the accuracy search did not reach 90% from the zero network"
    assert net.accuracy(inst.data.X, inst.data.y) >= target
    # it stops soon after the goal instead of fitting the training set further
    assert net.accuracy(inst.data.X, inst.data.y) <= target + 0.05
    assert np.isfinite(inst.evaluate(net))
    assert imp.candidates[-1][0] is net
    assert imp.candidates[-1][1] == pytest.approx(inst.evaluate(net))


def test_accuracy_guide_counts_strictly_correct_samples():
    from mipnn_pyomo.heuristics import ScoreFunction
    from mipnn_pyomo.objectives import OutputContext

    y = np.array([0, 1, 1, 2])
    score = ScoreFunction.accuracy_guide(OutputContext(y, 3, P=1, H=2, margin=0.5))
    S = np.array([[2, 1, 0], [1, 1, 0], [0, 3, -1], [0, 0, 1]])
    assert score.objective_value(S) == 3.0  # sample 1 is a tie: not counted
    assert score.objective_value(np.stack([S, -S])).tolist() == [3.0, 0.0]


def test_toward_target_for_max_correct_only_proposes_one_positive_networks(adult):
    """max-correct's rows need exactly one non-negative output: the accuracy search's result is
    paired (two outputs) and dropped if pairing loses the target."""
    X, y, _ = adult.sample(150, 3)
    inst = build_instance(ProblemData(X, y, 2, (8,), 3), "max-correct")
    imp = IncumbentImprover(inst, time_budget=0.3, seed=1)
    start, _, _ = imp.improve(imp._zero_network())
    for target in (0.8, 0.9, 0.95, 1.0):
        net = imp.toward_target(start, target, time_budget=2.0)
        if net is not None:
            assert np.all((net.output_scores(inst.data.X) >= 0).sum(axis=1) == 1)
            assert net.accuracy(inst.data.X, inst.data.y) >= target
    assert all(np.isfinite(inst.evaluate(c)) for c, _ in imp.candidates)
