"""P_first: a larger integer range [-P_first, P_first] for the first layer's weights and biases only
(issue 14). The MIP with a fixed network equals the forward pass; every layer keeps its own bounds
in the model, the heuristics and GD; the model file, CLI, estimator and selection carry P_first."""

import json

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import assert_fixed_mip_is_forward_pass, random_instance
from pyomo.repn import generate_standard_repn

from mipnn_pyomo.cli import main
from mipnn_pyomo.errors import ModelConfigError, ModelFileError
from mipnn_pyomo.formulation import FormulationOptions, ProblemData, fix_network
from mipnn_pyomo.instance import ACCURACY, Hold, build_instance
from mipnn_pyomo.network import IntegerNetwork, parameter_bounds
from mipnn_pyomo.solvers import SolveOptions, get_solver


def random_network(rng, sizes, P, P_first):
    """Layer 1 in [-P_first, P_first] (at least one entry beyond P), later layers in [-P, P]."""
    bounds = [P_first] + [P] * (len(sizes) - 2)
    weights = [rng.integers(-p, p + 1, size=(a, b)) for p, a, b in zip(bounds, sizes[:-1], sizes[1:])]
    biases = [rng.integers(-p, p + 1, size=b) for p, b in zip(bounds, sizes[1:])]
    weights[0][0, 0] = P_first
    return IntegerNetwork(weights, biases, P, P_first=P_first)


def in_bounds(net: IntegerNetwork, P: int, P_first: int) -> bool:
    """Every parameter inside its layer's range, and the network says so too."""
    return (net.P == P and net.P_first == P_first
            and bool(np.all(np.abs(net.to_vector()) <= parameter_bounds(
                [net.n_inputs, *net.hidden, net.n_outputs], P, P_first))))


def test_layer_P_on_both_classes():
    X, y = random_instance(0, n=6, d=3)
    data = ProblemData(X, y, 2, (3, 2), 1, P_first=5)
    assert [data.layer_P(l) for l in (1, 2, 3)] == [5, 1, 1]
    assert data.score_bound == 1 * (2 + 1)  # the output layer's P, never P_first
    plain = ProblemData(X, y, 2, (3,), 2)
    assert plain.P_first is None and [plain.layer_P(l) for l in (1, 2)] == [2, 2]
    net = random_network(np.random.default_rng(0), data.layer_sizes, 1, 5)
    assert [net.layer_P(l) for l in (1, 2, 3)] == [5, 1, 1]
    for bad in (0, -3, 1.5, True, "3", 1001):
        with pytest.raises(ModelConfigError, match="P_first must be"):
            ProblemData(X, y, 2, (3,), 1, P_first=bad)


@pytest.mark.parametrize("objective", ["sat-margin", "min-hinge"])
@pytest.mark.parametrize("hidden, P, P_first", [((3,), 1, 4), ((3, 2), 1, 3), ((2,), 2, 7)])
@pytest.mark.parametrize("seed", range(3))
def test_fixed_network_with_p_first_equals_forward_pass(objective, hidden, P, P_first, seed):
    """gurobi-machinelearning pattern: fix a random network whose first layer uses weights beyond
    P; the MIP's activations, scores and objective equal the numpy forward pass."""
    X, y = random_instance(seed, n=10, d=3)
    data = ProblemData(X, y, 2, hidden, P, P_first=P_first)
    net = random_network(np.random.default_rng(200 + seed), data.layer_sizes, P, P_first)
    assert np.abs(net.weights[0]).max() > P
    inst = build_instance(data, objective, FormulationOptions(fix_unused_inputs=False))
    fix_network(inst.model, net)
    res = get_solver("highs").solve(inst, SolveOptions(target_accuracy=None, time_limit=30, threads=1))
    assert_fixed_mip_is_forward_pass(inst, data, net, res)


def test_bounds_and_big_m_per_layer_in_the_built_model():
    X, y = random_instance(3, n=8, d=4)
    data = ProblemData(X, y, 2, (3, 2), 2, P_first=6)
    m = build_instance(data, "sat-margin").model
    assert {m.w[idx].bounds for idx in m.w if idx[0] == 1} == {(-6, 6)}
    assert {m.b[idx].bounds for idx in m.b if idx[0] == 1} == {(-6, 6)}
    assert {m.w[idx].bounds for idx in m.w if idx[0] > 1} == {(-2, 2)}
    assert {m.b[idx].bounds for idx in m.b if idx[0] > 1} == {(-2, 2)}
    for k in m.SAMPLES:  # M_k = P_first (sum_i |x_ki| + 1); later layers M = P (n_{l-1} + 1)
        assert pyo.value(m.M_first[k]) == pytest.approx(6 * (np.abs(data.X[k]).sum() + 1))
    assert pyo.value(m.M_layer[2]) == 2 * (3 + 1) and pyo.value(m.M_layer[3]) == 2 * (2 + 1)
    # min-weight / min-neurons: each indicator row uses the bound of the layer its parameter is in
    for objective, rows in (("min-weight", ("weight_upper",)), ("min-neurons", ("neuron_upper",))):
        model = build_instance(data, objective, holds=(Hold(ACCURACY, 4),)).model
        for row in getattr(model, rows[0]).values():
            repn = generate_standard_repn(row.body)
            coefs = {v.parent_component().name: c for v, c in zip(repn.linear_vars, repn.linear_coefs)}
            layer = next(v for v in repn.linear_vars if v.parent_component().name in ("w", "b")).index()[0]
            indicator = next(c for name, c in coefs.items() if name in ("z", "v"))
            assert indicator == -data.layer_P(layer), (objective, row.name)


def test_training_uses_the_first_layer_range_and_is_exact():
    """y = [x0 > 0.4]: with P = 1 a first-layer neuron cannot cut inside [0, 1]; P_first = 3 can."""
    rng = np.random.default_rng(0)
    X = np.round(rng.random((40, 3)), 2)
    y = (X[:, 0] > 0.4).astype(int)
    from mipnn_pyomo.training import train_network

    r = train_network(X, y, hidden=(3,), P=1, P_first=3, time_limit=20, threads=1, seed=0, target_accuracy=1.0)
    assert r.exactness.ok and r.train_accuracy == 1.0
    assert in_bounds(r.network, 1, 3) and np.abs(r.network.weights[0]).max() > 1
    assert r.summary()["P_first"] == 3


def test_heuristics_and_gd_stay_in_the_per_layer_ranges():
    from mipnn_pyomo.gd import train_gd
    from mipnn_pyomo.heuristics.improver import IncumbentImprover
    from mipnn_pyomo.heuristics.prune import coordinate_search, prune_weights

    X, y = random_instance(5, n=20, d=4)
    data = ProblemData(X, y, 2, (3,), 1, P_first=4)
    inst = build_instance(data, "sat-margin")
    for seed in range(4):
        improver = IncumbentImprover(inst, time_budget=0.3, seed=seed)
        start = random_network(np.random.default_rng(seed), data.layer_sizes, 1, 4)
        improved, _, _ = improver.improve(start)
        assert in_bounds(improved, 1, 4) and in_bounds(improver.construct(time_budget=0.3), 1, 4)
        assert all(in_bounds(n, 1, 4) for n, _ in improver.candidates)
        moved, _ = coordinate_search(start, inst.evaluate, inst.spec.better, lambda n: True, seed=seed, sweeps=1)
        assert in_bounds(moved, 1, 4) and in_bounds(prune_weights(start, lambda n: True, seed=seed)[0], 1, 4)
    far = np.full(start.to_vector().size, 9.0)
    assert in_bounds(IntegerNetwork.from_vector(far, data.layer_sizes, 1, 4), 1, 4)
    gd = train_gd(X, y, 2, hidden=(3,), P=1, P_first=4, seed=0, time_limit=2, target_accuracy=None)
    assert in_bounds(gd.network, 1, 4) and np.abs(gd.network.weights[0]).max() > 1
    assert gd.network.accuracy(X, y) == gd.train_accuracy


def test_model_file_round_trip_and_validation(tmp_path):
    net = random_network(np.random.default_rng(1), [3, 2, 2], 1, 5)
    path = tmp_path / "m.json"
    net.save(path)
    back = IntegerNetwork.load(path)
    assert back.P_first == 5 and np.array_equal(back.to_vector(), net.to_vector())
    assert json.loads(path.read_text())["P_first"] == 5
    assert "P_first" not in IntegerNetwork([np.ones((2, 2))], [np.zeros(2)], 1).to_dict()  # old files unchanged
    d = net.to_dict()
    d["layers"][0]["weights"][0][0] = 6
    with pytest.raises(ModelFileError, match=r"layers\[0\].weights\[0\]\[0\]: 6 is outside \[-P_first, P_first\]"):
        IntegerNetwork.from_dict(d)
    d = net.to_dict()
    d["layers"][1]["biases"][0] = 2
    with pytest.raises(ModelFileError, match=r"layers\[1\].biases\[0\]: 2 is outside \[-P, P\]"):
        IntegerNetwork.from_dict(d)
    for bad in (0, "5", 1.5, True):
        with pytest.raises(ModelFileError, match="P_first"):
            IntegerNetwork.from_dict({**net.to_dict(), "P_first": bad})
    assert IntegerNetwork.from_dict({**net.to_dict(), "P_first": None, "layers": [
        {"weights": [[1, 0]] * 3, "biases": [0, 0]}, {"weights": [[1, 0]] * 2, "biases": [0, 0]}]}).P_first is None
    with pytest.raises(ModelFileError, match=r"\[-P_first, P_first\] = \[-5, 5\]"):
        IntegerNetwork([np.full((2, 2), 6)], [np.zeros(2)], 1, P_first=5)


def test_cli_train_evaluate_and_gd_with_p_first(tmp_path, capsys):
    model = tmp_path / "m.json"
    code = main(["train", "--dataset", "iris", "--input-encoding", "minmax", "--n-train", "30", "--hidden", "2",
                 "--P", "1", "--p-first", "3", "--time-limit", "5", "--threads", "1", "--out", str(model), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    s = json.loads(out)
    assert s["exact"] is True and s["P_first"] == 3 and s["P"] == 1
    net = IntegerNetwork.load(model)
    assert net.P_first == 3 and in_bounds(net, 1, 3)
    assert main(["evaluate", "--model", str(model), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["train_accuracy"] == pytest.approx(s["train_accuracy"]) and ev["test_accuracy"] == pytest.approx(
        s["test_accuracy"])
    gd_model = tmp_path / "g.json"
    assert main(["train", "--method", "gd", "--dataset", "iris", "--n-train", "30", "--hidden", "2", "--p-first", "3",
                 "--time-limit", "2", "--out", str(gd_model), "--json"]) == 0
    capsys.readouterr()
    assert in_bounds(IntegerNetwork.load(gd_model), 1, 3)


@pytest.mark.parametrize("argv, message", [
    (["--p-first", "0"], "P_first must be an integer >= 1"),
    (["--p-first", "-2"], "P_first must be an integer >= 1"),
    (["--p-first", "1001"], "P_first must be at most 1000"),
    (["--p-first", "3", "--batch-size", "20"], "--p-first is not supported with --batch-size"),
])
def test_cli_bad_p_first_exit_2_with_one_line(capsys, argv, message):
    code = main(["train", "--dataset", "iris", "--n-train", "10", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"error: {message}" + err.strip().split(message, 1)[1]]
    assert "Traceback" not in err


def test_estimator_with_p_first():
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

    from mipnn_pyomo.data import load_sklearn_dataset
    from mipnn_pyomo.estimator import MIPNetClassifier

    clf = MIPNetClassifier(P_first=3)
    assert clf.get_params()["P_first"] == 3 and clone(clf.set_params(P_first=5)).P_first == 5
    check_get_params_invariance("MIPNetClassifier", clf)
    check_set_params("MIPNetClassifier", clf)
    X, y, _ = load_sklearn_dataset("iris").sample(30, 0)
    fitted = MIPNetClassifier(hidden=(2,), P_first=3, input_encoding="minmax", time_limit=2, threads=1).fit(X, y)
    assert fitted.network_.P_first == 3 and fitted.exactness_.ok and in_bounds(fitted.network_, 1, 3)
    with pytest.raises(ModelConfigError, match="P_first is not supported with batch_size"):
        MIPNetClassifier(P_first=3, batch_size=10).fit(X, y)


def test_selection_grid_chooses_p_first():
    from mipnn_pyomo.data import load_sklearn_dataset
    from mipnn_pyomo.estimator import MIPNetClassifier
    from mipnn_pyomo.selection import candidate_train_kwargs, candidates, parse_grid

    X, y, _ = load_sklearn_dataset("iris").sample(30, 0)
    grid = parse_grid("p_first=none,3;P=1")
    assert grid == {"P_first": [None, 3], "P": [1]}
    cands = candidates(grid, {"encoding": "minmax", "thresholds": 4, "recipe": "paper", "objective": "sat-margin",
                              "P": 1, "hidden": 2})
    assert [c["P_first"] for c in cands] == [None, 3]
    assert candidate_train_kwargs(cands[1], {})["P_first"] == 3 and "P_first" not in candidate_train_kwargs(cands[0], {})
    sel = MIPNetClassifier(hidden=(2,), input_encoding="minmax", time_limit=2, threads=1, select="holdout",
                           select_grid="encoding=minmax;p_first=none,3").fit(X, y)
    assert sel.network_.P_first == sel.selection_.choice["P_first"]
    assert [s["P_first"] for s in sel.network_.training["selection"]["scores"]] == [None, 3]


def test_cli_non_integer_p_first_is_one_argparse_line(capsys):
    assert main(["train", "--dataset", "iris", "--p-first", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--p-first: invalid int value: 'x'" in err[0]
