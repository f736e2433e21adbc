"""Structure objectives (min-weight, min-neurons, neuron-margin), held values and training recipes.

Optima are checked against brute force over every P = 1 network of a tiny architecture (the
forward pass decides accuracy, ties included), and every recipe against its held constraints."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conftest import require_solver
from mipnn_pyomo.blocks import active_neuron_count, count_nonzero, neuron_margins, tie_preference
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.heuristics.prune import prune_neurons, prune_weights
from mipnn_pyomo.instance import ACCURACY, Hold, build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import OutputContext, get_objective, objective_names
from mipnn_pyomo.recipes import RECIPES, Recipe, Stage, get_recipe
from mipnn_pyomo.training import train_network

SIZES = [2, 1, 2]  # 2 features, 1 hidden neuron, 2 classes: 3^7 = 2187 networks at P = 1


@pytest.fixture
def tiny():
    """Eight points in the unit square, labelled by x0 > 0.5 with one exception (no network gets
    all eight right with one neuron... or can: brute force decides)."""
    X = np.array([[0.1, 0.2], [0.3, 0.9], [0.2, 0.5], [0.45, 0.1], [0.7, 0.3], [0.9, 0.8], [0.6, 0.6], [0.8, 0.1]])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    return X, y


def all_networks(sizes=SIZES, P=1):
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    for vector in itertools.product(range(-P, P + 1), repeat=n):
        yield IntegerNetwork.from_vector(vector, sizes, P)


def brute_force(X, y, floor: int, value, better):
    """The best ``value(network)`` over all networks whose forward pass gets >= floor samples right."""
    from mipnn_pyomo.network import row_keys, tie_break_argmax

    best, keys = None, row_keys(X, 4)  # net.predict_index(X), without hashing the rows 2,187 times
    for net in all_networks():
        if np.sum(tie_break_argmax(net.output_scores(X), net.tie_seed, keys) == y) >= floor:
            v = value(net)
            best = v if best is None or better(v, best) else best
    return best


@pytest.mark.parametrize("name", ["min-weight", "neuron-margin"])
def test_structure_objective_optimum_equals_brute_force(tiny, name):
    X, y = tiny
    spec = get_objective(name)
    ctx = OutputContext(y, 2, 1, 1)
    floor = 7  # 7 of 8 (target 0.875)
    expected = brute_force(X, y, floor, lambda net: spec.evaluate(net, X, ctx), spec.better)
    result = train_network(X, y, hidden=(1,), P=1, objective=name, target_accuracy=floor / len(y), time_limit=30,
                           threads=1)
    assert result.status == "optimal"
    assert result.exactness.ok and result.exactness.holds_met
    assert np.sum(result.network.predict_index(X) == y) >= floor
    assert spec.evaluate(result.network, X, ctx) == pytest.approx(expected, abs=1e-9)


def test_min_neurons_finds_the_one_neuron_network(separable_data):
    X, y = separable_data
    result = train_network(X, y, hidden=(3,), P=1, objective="min-neurons", target_accuracy=1.0, time_limit=30,
                           threads=1)
    assert result.status == "optimal" and result.exactness.ok
    assert result.network.accuracy(X, y) == 1.0
    assert active_neuron_count(result.network) == 1  # 0 neurons: constant outputs, one class only


def test_a_structure_objective_alone_needs_an_accuracy_floor(tiny):
    X, y = tiny
    with pytest.raises(ModelConfigError, match="target accuracy"):
        train_network(X, y, hidden=(1,), objective="min-weight", target_accuracy=None, time_limit=5)


def test_tie_preference_follows_the_forward_pass_tie_rule(tiny):
    """Where the output scores tie, the accuracy floor's delta = 0 exactly when the forward pass
    predicts the true class."""
    X, y = tiny
    delta = tie_preference(y, X, 2, 4)
    net = IntegerNetwork([np.zeros((2, 1)), np.zeros((1, 2))], [np.zeros(1), np.zeros(2)], 1)  # all outputs tie
    predicted = net.predict_index(X) == y
    other = 1 - y
    assert np.array_equal(delta[np.arange(len(y)), other] == 0, predicted)


def test_network_values_of_the_structure_objectives():
    net = IntegerNetwork([np.array([[1, 0], [0, 0]]), np.array([[1, -1], [0, 0]])], [np.array([0, 0]), np.array([0, 1])], 1)
    X = np.array([[0.25, 0.0], [-0.5, 1.0]])
    assert count_nonzero(net) == 4
    assert active_neuron_count(net) == 1  # neuron 2: no in-weight, bias or out-weight
    margins = neuron_margins(net, X, 1e-4)[0]
    # neuron 1: a = 0.25 (margin 0.25) and -0.5 (margin 0.5 - 1e-4); neuron 2: a = 0 (margin 0)
    assert margins.tolist() == pytest.approx([0.25, 0.0])


def test_held_values_are_constraints(tiny):
    """A hold the start network misses is enforced by the MIP: the returned network keeps it."""
    X, y = tiny
    data = ProblemData(X, y, 2, (1,), 1)
    instance = build_instance(data, "min-weight", holds=(Hold(ACCURACY, 7), Hold("sat-margin", 10)))
    assert hasattr(instance.model, "hold_sat_margin") and hasattr(instance.model, "accuracy_floor")
    zero = IntegerNetwork.from_vector(np.zeros(7), SIZES, 1)
    assert not instance.holds_met(zero)
    with pytest.raises(ModelConfigError):
        build_instance(data, "min-weight", holds=(Hold("min-weight", 3),))


def test_pruning_keeps_its_predicate(tiny):
    X, y = tiny
    rng = np.random.default_rng(0)
    net = IntegerNetwork.from_vector(rng.integers(-1, 2, size=7), SIZES, 1)
    base = np.sum(net.predict_index(X) == y)
    keeps = lambda n: np.sum(n.predict_index(X) == y) >= base  # noqa: E731
    pruned, removed = prune_weights(net, keeps, seed=1)
    assert keeps(pruned) and count_nonzero(pruned) == count_nonzero(net) - removed
    same, none = prune_weights(net, lambda n: False)
    assert none == 0 and np.array_equal(same.to_vector(), net.to_vector())
    fewer, gone = prune_neurons(net, keeps)
    assert keeps(fewer) and active_neuron_count(fewer) <= active_neuron_count(net) - gone


# --------------------------------------------------------------------------- recipes


def test_registry_names_and_paper_is_one_stage():
    assert {"paper", "polish", "bemi", "min-weight", "prune"} <= set(RECIPES)
    paper = get_recipe("paper")
    assert len(paper.stages) == 1 and paper.stages[0].stop_at_target and not paper.stages[0].holds
    for recipe in RECIPES.values():
        for stage in recipe.stages:
            assert stage.objective == "primary" or stage.objective in objective_names()
            assert all(h in ("accuracy", "primary") or h in objective_names() for h in stage.holds)
    with pytest.raises(ModelConfigError, match="unknown recipe"):
        get_recipe("nope")


def test_paper_recipe_is_todays_single_solve(xor_data):
    X, y = xor_data
    # without the time-sliced local search, one thread of HiGHS is deterministic
    default = train_network(X, y, hidden=(2,), P=1, time_limit=20, threads=1, heuristic=False)
    paper = train_network(X, y, hidden=(2,), P=1, time_limit=20, threads=1, heuristic=False, recipe="paper")
    for r in (default, paper):
        assert r.recipe is None and r.summary()["recipe"] == "paper" and r.instance.holds == ()
    assert paper.status == default.status and paper.train_accuracy == default.train_accuracy
    assert np.array_equal(paper.network.to_vector(), default.network.to_vector())


@pytest.mark.parametrize("name", [pytest.param("polish", marks=pytest.mark.slow),
                                  pytest.param("bemi", marks=pytest.mark.slow), "min-weight", "prune"])
def test_recipes_keep_what_they_hold(tiny, name):
    X, y = tiny  # 2-1-2 networks: every stage solves to optimality in well under a second
    result = train_network(X, y, hidden=(1,), P=1, time_limit=30, threads=1, recipe=name, target_accuracy=0.85)
    stages = result.recipe["stages"]
    ran = [s for s in stages if s["status"] != "skipped"]
    assert len(stages) == len(RECIPES[name].stages) and len(ran) >= 2  # a loaded machine may skip the last
    assert all("s left" in s["reason"] for s in stages if s["status"] == "skipped")
    assert result.exactness.ok and result.network.accuracy(X, y) == result.train_accuracy
    # every recipe holds the training accuracy (min(target, what stage 1 reached)) after stage 1
    assert result.train_accuracy >= min(0.85, ran[0]["train_accuracy"]) - 1e-9
    for later in ran[1:]:  # each stage starts from the network before and never loses on its objective
        spec = get_objective(later["objective"])
        assert not spec.better(later["start_value"], later["value"])
        for hold in later["holds"]:
            if hold["name"] != ACCURACY:
                assert not get_objective(hold["name"]).better(
                    hold["value"], get_objective(hold["name"]).evaluate(result.network, X, OutputContext(y, 2, 1, 1)))
    if ran[-1]["objective"] == "min-weight":  # the last stage's value is the returned network's
        assert ran[-1]["value"] == count_nonzero(result.network) <= ran[-1]["start_value"]
    assert result.summary()["recipe"] == name and result.summary()["final_network_source"] is not None


def test_a_recipe_needs_a_score_objective_first(tiny):
    X, y = tiny
    with pytest.raises(ModelConfigError, match="primary objective"):
        train_network(X, y, hidden=(1,), objective="min-weight", recipe="polish", time_limit=5)
    with pytest.raises(ModelConfigError, match="time share"):
        Stage("primary", time_share=0)


def test_stage_solvers_and_the_recipe_in_the_model_file(tiny):
    from mipnn_pyomo.training import make_record, mip_outcome

    X, y = tiny
    recipe = get_recipe("min-weight").with_solvers("highs", None)
    assert isinstance(recipe, Recipe) and recipe.stages[0].solver == "highs"
    result = train_network(X, y, hidden=(1,), P=1, time_limit=30, threads=1, recipe=recipe, target_accuracy=0.85)
    record = make_record(mip_outcome(result), classes=[0, 1], preprocessing={"decimals": 4},
                         data_source={"dataset": "arrays"}, train_indices=range(len(y)), seed=0)
    training = record.network.training
    assert training["recipe"] == "min-weight" and len(training["recipe_stages"]) == 2
    assert training["recipe_stages"][1]["objective"] == "min-weight"
    assert training["recipe_stages"][1]["value"] == count_nonzero(record.network)
    assert "final_network_source" in training


@pytest.mark.parametrize("solver", ["cpsat", pytest.param("scip", marks=pytest.mark.slow),
                                    pytest.param("cbc", marks=pytest.mark.slow),
                                    pytest.param("gurobi", marks=pytest.mark.slow)])
def test_every_engine_runs_the_structure_stages(tiny, solver):
    require_solver(solver)
    X, y = tiny
    result = train_network(X, y, hidden=(1,), P=1, time_limit=40, threads=1, recipe="bemi", solver=solver,
                           target_accuracy=0.85)
    assert result.exactness.ok
    assert [s["objective"] for s in result.recipe["stages"]] == ["sat-margin", "neuron-margin", "min-weight"]
    assert all(s["solver"] == solver for s in result.recipe["stages"])
    alone = train_network(X, y, hidden=(1,), P=1, objective="min-neurons", time_limit=20, threads=1, solver=solver,
                          target_accuracy=0.85)
    assert alone.exactness.ok and alone.network.accuracy(X, y) >= 0.85


# --------------------------------------------------------------------------- front ends


def test_cli_recipe_writes_its_stages_to_the_model_file(tmp_path, capsys):
    from mipnn_pyomo.cli import main

    model = tmp_path / "m.json"
    code = main(["train", "--n-train", "12", "--hidden", "1", "--recipe", "min-weight", "--time-limit", "20",
                 "--threads", "1", "--out", str(model)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "stage 2" in out and "min-weight (holding accuracy" in out and "final network" in out
    net = IntegerNetwork.load(model)
    stages = net.training["recipe_stages"]
    assert net.training["recipe"] == "min-weight" and [s["objective"] for s in stages] == ["sat-margin", "min-weight"]
    assert stages[1]["value"] == count_nonzero(net) and net.training["train_accuracy"] >= 0.9 - 1e-9


def test_cli_recipe_errors_are_one_line(capsys):
    from mipnn_pyomo.cli import main

    assert main(["train", "--n-train", "10", "--recipe", "polish", "--method", "gd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--recipe polish" in err[0]


def test_estimator_takes_a_recipe(tiny):
    from mipnn_pyomo.estimator import MIPNetClassifier

    X, y = tiny
    clf = MIPNetClassifier(hidden=(1,), time_limit=20, threads=1, recipe="min-weight", target_accuracy=0.85).fit(X, y)
    assert clf.get_params()["recipe"] == "min-weight"
    assert clf.training_record_.network.training["recipe"] == "min-weight"
    assert clf.score(X, y) == clf.train_accuracy_ >= 0.85


def test_a_warm_start_below_the_floor_is_kept_out(tiny):
    X, y = tiny
    zero = IntegerNetwork.from_vector(np.zeros(7), SIZES, 1)
    result = train_network(X, y, hidden=(1,), objective="min-weight", target_accuracy=0.875, warm_start=zero,
                           time_limit=20, threads=1)
    assert result.warm_start["kept_out"] and result.exactness.ok
    assert np.sum(result.network.predict_index(X) == y) >= 7


def test_coordinate_search_improves_and_keeps(tiny):
    from mipnn_pyomo.heuristics.prune import coordinate_search

    X, y = tiny
    spec, ctx = get_objective("neuron-margin"), OutputContext(y, 2, 1, 1)
    net = IntegerNetwork([np.array([[1], [-1]]), np.array([[-1, 1]])], [np.array([0]), np.array([0, 0])], 1)
    value = lambda n: spec.evaluate(n, X, ctx)  # noqa: E731
    floor = np.sum(net.predict_index(X) == y)
    keeps = lambda n: np.sum(n.predict_index(X) == y) >= floor  # noqa: E731
    better, changes = coordinate_search(net, value, spec.better, keeps, seed=0)
    assert keeps(better) and value(better) >= value(net)
    assert (changes > 0) == (value(better) > value(net))
    same, none = coordinate_search(net, value, spec.better, lambda n: False)
    assert none == 0 and np.array_equal(same.to_vector(), net.to_vector())
