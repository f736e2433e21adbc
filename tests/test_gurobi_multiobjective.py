"""Lexicographic recipes by Gurobi's multi-objective optimisation (lexicographic.py,
solvers/gurobi_multiobjective.py): which recipes qualify, the mode's choice and errors, and on
tiny data the one-model result against the sequence of MIPs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_solver
from mipnn_pyomo.errors import ModelConfigError, SolverUnavailableError
from mipnn_pyomo.instance import ACCURACY
from mipnn_pyomo.lexicographic import LexicographicPlan, chain_problem, is_lexicographic, use_multiobjective
from mipnn_pyomo.objectives import get_objective
from mipnn_pyomo.recipes import PRIMARY, RECIPES, Recipe, Stage
from mipnn_pyomo.training import train_network

X_TINY = np.array([[0.1, 0.2], [0.3, 0.9], [0.2, 0.5], [0.45, 0.1], [0.7, 0.3], [0.9, 0.8], [0.6, 0.6], [0.8, 0.1]])
Y_TINY = np.array([0, 0, 0, 1, 1, 1, 1, 0])


def bemi(mode: str, hidden=(2,)):
    return train_network(X_TINY, Y_TINY, hidden=hidden, P=1, time_limit=30, threads=1, recipe="bemi",
                         solver="gurobi", target_accuracy=0.85, lexicographic=mode)


def test_only_bemi_is_a_lexicographic_chain():
    assert [name for name, recipe in RECIPES.items() if is_lexicographic(recipe)] == ["bemi"]
    assert "one stage" in chain_problem(RECIPES["paper"])
    assert "stops at the accuracy target" in chain_problem(RECIPES["polish"])
    drops = Recipe("drops", "", (Stage(PRIMARY), Stage("neuron-margin", holds=(PRIMARY, ACCURACY)),
                                 Stage("min-weight", holds=(PRIMARY, "neuron-margin"))))
    assert "drops the accuracy" in chain_problem(drops)
    partial = Recipe("partial", "", (Stage(PRIMARY), Stage("min-weight", holds=(ACCURACY,))))
    assert "not every earlier stage" in chain_problem(partial)


def test_bad_mode_and_impossible_requests_are_one_clear_error():
    with pytest.raises(ModelConfigError, match="lexicographic must be one of sequence, gurobi, auto"):
        train_network(X_TINY, Y_TINY, hidden=(1,), time_limit=5, lexicographic="fastest")
    from mipnn_pyomo.estimator import MIPNetClassifier

    with pytest.raises(ModelConfigError, match="lexicographic must be one of"):
        MIPNetClassifier(hidden=(1,), time_limit=5, recipe="bemi", lexicographic="gurobi-ish").fit(X_TINY, Y_TINY)
    with pytest.raises(ModelConfigError, match="not a lexicographic chain: stage 1 stops"):
        use_multiobjective("gurobi", RECIPES["polish"], "gurobi")
    with pytest.raises(ModelConfigError, match="needs --solver gurobi for every stage, got highs"):
        use_multiobjective("gurobi", RECIPES["bemi"], "highs")
    with pytest.raises(ModelConfigError, match="got cpsat, gurobi"):
        use_multiobjective("gurobi", RECIPES["bemi"].with_solvers(None, "cpsat", None), "gurobi")


def test_cli_lexicographic_errors_exit_2(capsys):
    from mipnn_pyomo.cli import main

    code = main(["train", "--dataset", "iris", "--n-train", "12", "--hidden", "1", "--recipe", "bemi",
                 "--solver", "highs", "--lexicographic", "gurobi", "--time-limit", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == "error: --lexicographic gurobi needs --solver gurobi for every stage, got highs"


def test_auto_chooses_gurobi_only_for_a_chain_on_gurobi():
    assert not use_multiobjective("auto", RECIPES["bemi"], "highs", 60)
    assert not use_multiobjective("auto", RECIPES["polish"], "gurobi", 60)
    assert not use_multiobjective("sequence", RECIPES["bemi"], "gurobi", 60)
    assert not use_multiobjective("auto", RECIPES["bemi"].with_solvers(None, "highs", None), "gurobi", 60)
    require_solver("gurobi")
    assert use_multiobjective("auto", RECIPES["bemi"], "gurobi", 60)
    assert not use_multiobjective("auto", RECIPES["bemi"], "gurobi", None)  # no limit: the sequence
    assert use_multiobjective("gurobi", RECIPES["bemi"], "gurobi", None)


def test_auto_falls_back_to_the_sequence_when_the_licence_is_too_small():
    from mipnn_pyomo.formulation import ProblemData
    from mipnn_pyomo.training import RecipeRun
    from mipnn_pyomo.solvers import SolveOptions

    adapter = require_solver("gurobi")
    if adapter.has_full_licence():
        pytest.skip("a full Gurobi licence takes every instance")
    rng = np.random.default_rng(0)
    data = ProblemData(np.round(rng.random((60, 4)), 4), rng.integers(0, 3, 60), 3, (4,), 1, 4)
    plan = LexicographicPlan.build(data, RECIPES["bemi"], "sat-margin", None, 0.9)
    assert plan.instance.sizes["constraints"] > 2000 and not plan.fits()
    run = RecipeRun(data, RECIPES["bemi"], "sat-margin", "gurobi", SolveOptions(time_limit=5), None, True, 0,
                    lexicographic="auto")  # with a time limit: auto would take the one model if it fitted
    assert run._multiobjective_plan() is None
    with pytest.raises(SolverUnavailableError, match="size-limited Gurobi licence allows 2,000"):
        plan.solve(plan.instance, SolveOptions(time_limit=5))


def test_multiobjective_is_exact_and_lexicographically_at_least_the_sequence():
    require_solver("gurobi")
    one, seq = bemi("gurobi"), bemi("sequence")
    assert one.recipe["lexicographic"] == "gurobi" and "lexicographic" not in seq.recipe
    assert one.exactness.ok and one.exactness.holds_met and one.network.accuracy(X_TINY, Y_TINY) == one.train_accuracy
    stages, reference = one.recipe["stages"], seq.recipe["stages"]
    assert [s["status"] for s in stages] == ["optimal"] * 3 == [s["status"] for s in reference]
    # every pass's value is held: the returned network keeps each earlier stage's reached value
    for stage in stages[1:]:
        for hold in stage["holds"]:
            if hold["name"] == ACCURACY:
                assert np.sum(one.network.predict_index(X_TINY) == Y_TINY) >= hold["value"] >= 7
            else:
                spec = get_objective(hold["name"])
                assert not spec.better(hold["value"], spec.evaluate(one.network, X_TINY, one.instance.outputs))
    assert stages[0]["value"] == reference[0]["value"]  # equal on the primary
    for mine, theirs in zip(stages[1:], reference[1:]):  # then not worse at the first stage that differs
        spec = get_objective(mine["objective"])
        assert not spec.better(theirs["value"], mine["value"])
        if spec.better(mine["value"], theirs["value"]):
            break


def test_auto_runs_bemi_on_gurobi_as_one_model_and_records_it():
    from mipnn_pyomo.training import make_record, mip_outcome

    require_solver("gurobi")
    result = bemi("auto", hidden=(1,))
    record = make_record(mip_outcome(result), classes=[0, 1], preprocessing={"decimals": 4},
                         data_source={"dataset": "arrays"}, train_indices=range(len(Y_TINY)), seed=0)
    stages = record.network.training["recipe_stages"]
    assert [s["objective"] for s in stages] == ["sat-margin", "neuron-margin", "min-weight"]
    assert all(s["solver"] == "gurobi" and s["method"] == "gurobi multi-objective" for s in stages)
    assert stages[-1]["value"] == stages[-1]["pass_value"] == sum(int(np.count_nonzero(w)) for w in
                                                                  record.network.weights + record.network.biases)
    assert result.exactness.ok


def test_pass_clock_splits_the_time_left_like_the_sequence():
    from mipnn_pyomo.solvers.gurobi_multiobjective import PassClock

    left = [10.0]
    clock = PassClock([0.4, 0.1, 0.5, 1.0], lambda: left[0])
    assert clock.budget == pytest.approx(4.0) and not clock.over()
    clock.started -= 5.0  # five seconds into pass 0: over its 4 s, reported once
    assert clock.over() and not clock.over()
    left[0] = 6.0
    clock.next_pass(1)
    assert clock.current == 1 and clock.budget == pytest.approx(0.6)
    clock.next_pass(3)
    assert clock.budget is None and not clock.over()  # the last pass: the global TimeLimit
    assert PassClock([0.5, 1.0], lambda: None).budget is None  # no time limit
