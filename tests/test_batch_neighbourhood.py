"""Method ``neighbourhood`` (mipnn_pyomo.batch.neighbourhood*): the tie rule, the safe-row bound
(randomised), the MIP against the forward pass with the network fixed, monotone training
accuracy, the local-search ablation and resume after a kill."""

from __future__ import annotations

import numpy as np
import pytest

from mipnn_pyomo.batch import BatchConfig, train_batched
from mipnn_pyomo.batch.checkpoint import load_checkpoint
from mipnn_pyomo.batch.neighbourhood import (NeighbourhoodTask, block_positions, classify_rows, correct_mask,
                                             grid_inputs, neuron_view, row_data, tie_thresholds, unpack)
from mipnn_pyomo.batch.neighbourhood_mip import build_model
from mipnn_pyomo.batch.vectors import from_vector, n_parameters
from mipnn_pyomo.data import load_adult
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.solvers import get_solver

pytestmark = pytest.mark.skipif(not get_solver("highs").is_available(), reason="HiGHS (highspy) is not installed")


@pytest.fixture(scope="module")
def adult():
    return load_adult()


@pytest.fixture(scope="module")
def rows(adult):
    """200 Adult rows: inputs, labels, their grid form and the tie thresholds of network seed 0."""
    X, y = adult.X_pool[:200], adult.y_pool[:200]
    return X, y, grid_inputs(X, 4), tie_thresholds(X, y, 2, 0, 4)


def random_network(seed: int, sizes: list[int], P: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-P, P + 1, n_parameters(sizes))


def random_move(rng, vector: np.ndarray, positions: np.ndarray, P: int, k: int) -> np.ndarray:
    """A random point of the ball sum |p - v_p| <= k over ``positions``, inside [-P, P]."""
    moved = vector.copy()
    for _ in range(int(rng.integers(0, k + 1))):
        p = int(rng.choice(positions))
        moved[p] = np.clip(moved[p] + rng.choice([-1, 1]), -P, P)
    return moved


def small(engine: str = "mip", **kw) -> BatchConfig:
    """Seconds: 120 rows, P = 2, 3 hidden neurons, a short GD start, node-limited MIPs."""
    base = dict(method="neighbourhood", engine=engine, batch_size=24, epochs=2, P=2, hidden=(3,), n_train=120, seed=3,
                batch_time=20.0, batch_nodes=30, ls_time=5.0, start="gd", start_epochs=30, start_time=60.0, k=3,
                round_size=2)
    base.update(kw)
    return BatchConfig(**base)


def test_tie_thresholds_reproduce_the_forward_pass(rows):
    """Rule (correct) with the tie keys equals predict_index == y, ties included (P = 1: many ties)."""
    X, y, _, t = rows
    sizes, ties = [X.shape[1], 3, 2], 0
    for seed in range(8):
        net = from_vector(random_network(seed, sizes, 1), sizes, 1)
        scores = net.output_scores(X)
        ties += int(np.sum(scores[:, 0] == scores[:, 1]))
        assert np.array_equal(correct_mask(scores, y, t), net.predict_index(X) == y)
    assert ties > 20  # the tie rule is exercised


@pytest.mark.parametrize("margin", [0, 2])
def test_safe_rows_never_change_under_allowed_moves(rows, margin):
    """Randomised: no safe row changes its correctness under 300 random moves of the ball."""
    X, y, X_int, t = rows
    sizes, P, k = [X.shape[1], 4, 2], 3, 3
    thresholds = np.where(np.arange(2)[None, :] == y[:, None], 0, t + margin)
    rng = np.random.default_rng(7)
    for seed in range(2):
        v = random_network(seed, sizes, P)
        for neuron in range(sizes[1]):
            classes = classify_rows(neuron_view(X_int, v, sizes, neuron, 4), unpack(v, sizes)[2], y, thresholds, k,
                                    X_int, 4)
            assert 0 < len(classes.sensitive) < len(y)
            block = np.concatenate(list(block_positions(sizes, neuron).values()))
            for _ in range(300):
                moved = random_move(rng, v, block, P, k)
                correct = correct_mask(from_vector(moved, sizes, P).output_scores(X), y, thresholds)
                assert correct[classes.safe_correct].all() and not correct[classes.safe_wrong].any()


def test_mip_with_the_network_fixed_equals_the_forward_pass(rows):
    """Fix the free parameters at a random point of the ball: the MIP's h (g) and its correctness
    z at the optimum equal the forward pass's, row by row (as gurobi-machinelearning tests)."""
    import pyomo.environ as pyo

    X, y, X_int, t = rows
    sizes, P, k, neuron = [X.shape[1], 3, 2], 3, 4, 1
    v = random_network(3, sizes, P)
    classes = classify_rows(neuron_view(X_int, v, sizes, neuron, 4), unpack(v, sizes)[2], y, t, k, X_int, 4)
    s = classes.sensitive
    task = NeighbourhoodTask(0, 0, neuron, X[s], y[s], t[s], v, sizes, P, k, 4, "mip", 0, 30.0, None, 1.0, 0, None,
                             int(classes.safe_correct.sum()), len(y))
    data = row_data(task)
    assert data.flip.any() and (~data.flip).any()
    rng = np.random.default_rng(1)
    for _ in range(3):
        block = np.concatenate(list(block_positions(sizes, neuron).values()))
        moved = random_move(rng, v, block, P, k)
        model, free = build_model(task, data)
        for p, var in free.items():
            var.fix(int(moved[p]))
        for p in block:  # parameters not in the model must be at v in this move
            if p not in free:
                moved[p] = v[p]
        assert pyo.SolverFactory("highs").solve(model).solver.termination_condition == pyo.TerminationCondition.optimal
        net = from_vector(moved, sizes, P)
        activations, scores = net.forward(X[s])
        g = np.array([round(model.g[i].value) for i in model.g])
        assert np.array_equal(2 * g - 1, activations[0][data.flip, neuron])
        z = np.array([round(model.z[i].value) for i in model.z])
        assert np.array_equal(z == 1, net.predict_index(X[s]) == y[s])


def test_one_mip_step_is_exact_and_counts_all_rows(adult):
    """One epoch of the MIP engine (3 steps, few nodes): every step exact, the MIP's count plus
    the safe rows equal to the forward pass on all training rows (checked by the driver)."""
    result = train_batched(adult, small("mip", epochs=1, round_size=3, batch_nodes=1, n_train=80), workers=0,
                           progress=False)
    check_run(result, adult)
    assert result.history[0]["mismatches"] == 0 and result.batches_solved == 3


def test_escape_ball_around_the_local_search_point_is_exact(adult):
    """``mip_k``: the MIP searches a ball around the local search's point; rows are chosen for
    radius k + mip_k, and every step still passes both halves of the exactness check."""
    result = train_batched(adult, small("mip", epochs=1, round_size=3, batch_nodes=1, n_train=80, k=2, mip_k=2),
                           workers=0, progress=False)
    check_run(result, adult)
    assert result.history[0]["mismatches"] == 0 and result.history[0]["sensitive_rows"] > 0


def check_run(result, adult):
    assert result.batches_solved > 0 and result.exact_batches == result.batches_solved
    record = result.network.training
    train_rows, val_rows = np.array(record["train_indices"]), np.array(record["val_indices"])
    net = result.network
    assert net.accuracy(adult.X_pool[train_rows], adult.y_pool[train_rows]) == pytest.approx(result.train_accuracy)
    assert net.accuracy(adult.X_pool[val_rows], adult.y_pool[val_rows]) == pytest.approx(result.val_accuracy)
    assert net.accuracy(adult.X_test, adult.y_test) == pytest.approx(result.test_accuracy)


@pytest.mark.parametrize("engine", [pytest.param("mip", marks=pytest.mark.slow), "ls"])
def test_steps_are_exact_and_never_lower_training_accuracy(adult, engine):
    from mipnn_pyomo.batch.context import RunContext
    from mipnn_pyomo.batch.neighbourhood_method import NeighbourhoodMethod
    from mipnn_pyomo.batch.split import make_split

    config = small(engine)
    result = train_batched(adult, config, workers=0, progress=False)
    check_run(result, adult)
    ctx = RunContext.from_dataset(adult, config, make_split(adult, config))
    start = NeighbourhoodMethod(ctx).initial_state()["train_accuracy"]
    trains = [start] + [h["train_accuracy"] for h in result.history]
    assert all(b >= a for a, b in zip(trains, trains[1:]))
    assert sum(h["accepted"] for h in result.history) > 0 and trains[-1] > start
    assert all(h["mismatches"] == 0 for h in result.history)
    assert result.network.training["batch"]["config"]["method"] == "neighbourhood"


@pytest.mark.parametrize("engine", [pytest.param("mip", marks=pytest.mark.slow), "ls"])
def test_resume_after_kill_equals_uninterrupted(adult, tmp_path, engine):
    config = small(engine, epochs=1, round_size=1)
    whole = train_batched(adult, config, workers=0, progress=False, checkpoint=tmp_path / "a.json")
    ckpt = tmp_path / "b.json"
    cut = train_batched(adult, config, workers=0, progress=False, checkpoint=ckpt, stop_after_rounds=1)
    assert cut.stopped == "stopped"
    saved = load_checkpoint(ckpt, config.run_key())
    assert (saved["epoch"], saved["round"]) == (0, 1)  # the kill left two of three rounds to do
    resumed = train_batched(adult, config, workers=0, progress=False, checkpoint=ckpt)
    assert resumed.resumed
    assert [w.tolist() for w in resumed.network.weights] == [w.tolist() for w in whole.network.weights]
    assert [b.tolist() for b in resumed.network.biases] == [b.tolist() for b in whole.network.biases]
    untimed = lambda history: [{k: v for k, v in h.items() if k != "solve_s"} for h in history]  # noqa: E731
    assert untimed(resumed.history) == untimed(whole.history)


@pytest.mark.parametrize("bad", [dict(margin=-1), dict(accept="val"), dict(k=None), dict(solver="gurobi")])
def test_bad_neighbourhood_settings_give_one_clear_error(bad):
    with pytest.raises(ModelConfigError):
        BatchConfig(method="neighbourhood", hidden=(8,), **bad)


def test_command_line_and_estimator_reach_the_method(tmp_path, capsys):
    """`mipnn train --batch-method neighbourhood` records the method and its settings, `mipnn
    evaluate` recomputes its accuracies; the estimator passes ``batch_options`` and refuses unknown ones."""
    import json

    from mipnn_pyomo.cli import main
    from mipnn_pyomo.estimator import MIPNetClassifier

    out = tmp_path / "nb.json"
    assert main(["train", "--batch-size", "40", "--n-train", "200", "--hidden", "2", "--P", "2", "--workers", "0",
                 "--batch-method", "neighbourhood", "--batch-engine", "ls", "--batch-k", "3", "--batch-accept",
                 "train-val", "--epochs", "1", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    config = json.loads(out.read_text())["training"]["batch"]["config"]
    assert (config["method"], config["engine"], config["k"], config["accept"]) == ("neighbourhood", "ls", 3, "train-val")
    assert main(["evaluate", "--model", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["train_accuracy"] == pytest.approx(summary["train_accuracy"])
    assert evaluated["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    rng = np.random.default_rng(0)
    X, y = rng.random((80, 3)).round(2), (np.arange(80) % 2)
    clf = MIPNetClassifier(batch_size=20, batch_method="neighbourhood", batch_engine="ls", hidden=(2,), P=2, epochs=1,
                           workers=0, batch_options={"k": 2, "start": "zero"}).fit(X, y)
    assert clf.batch_result_.config.k == 2 and clf.batch_result_.exact_batches == clf.batch_result_.batches_solved
    with pytest.raises(ModelConfigError, match="unknown batch option"):
        MIPNetClassifier(batch_size=20, batch_options={"radius": 2}).fit(X, y)
