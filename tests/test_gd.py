"""Tests of the gradient-descent baseline (mipnn_pyomo.gd) and the reference baselines."""

from __future__ import annotations

import numpy as np
import pytest

from mipnn_pyomo.baselines import reference_baselines
from mipnn_pyomo.errors import DataError, ModelConfigError
from mipnn_pyomo.gd import (
    GDResult,
    default_windows,
    gd_loss_and_grads,
    init_latent,
    integer_loss,
    one_hot_pm1,
    quantize,
    train_gd,
)
from mipnn_pyomo.network import IntegerNetwork


def separable(n: int = 40, seed: int = 0, k: int = 2, margin: float = 0.1):
    """Points in [-1, 1]^2 on the 1e-4 grid, classes by t = x0 + x1: k=2 splits at 0, k=3 at -1 and 1.

    These boundaries are representable with weights and biases in {-1, 0, 1}, so P = 1 can fit them."""
    rng = np.random.default_rng(seed)
    cuts = [0.0] if k == 2 else [-1.0, 1.0]
    rows = []
    while len(rows) < n:
        x = np.round(rng.uniform(-1, 1, 2), 4)
        if min(abs(x.sum() - c) for c in cuts) > margin:
            rows.append(x)
    X = np.array(rows)
    return X, np.digitize(X.sum(axis=1), cuts)


# ----------------------------------------------------------------------------- STE gradients
@pytest.mark.parametrize("hidden,P,k,backprop", [([3], 1, 2, "quantized"), ([3, 4], 3, 3, "quantized"),
                                                  ([5, 2], 2, 3, "latent"), ([], 2, 2, "quantized")])
def test_surrogate_gradient_matches_finite_differences(hidden, P, k, backprop):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (12, 3))
    y = rng.integers(0, k, 12)
    Y = one_hot_pm1(y, k)
    sizes = [3, *hidden, k]
    # latent parameters strictly inside (-P, P): away from the clip kinks
    params = [p * 0.9 for p in init_latent(sizes, P, seed=3)]
    windows = [0.5 * w for w in default_windows(X, sizes, P)]
    loss, grads, _ = gd_loss_and_grads(params, X, Y, P, windows, mode="surrogate", backprop=backprop)
    assert loss > 0
    h = 1e-6
    for i, p in enumerate(params):
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[i][idx] += h
            minus[i][idx] -= h
            fd = (gd_loss_and_grads(plus, X, Y, P, windows, mode="surrogate")[0]
                  - gd_loss_and_grads(minus, X, Y, P, windows, mode="surrogate")[0]) / (2 * h)
            assert grads[i][idx] == pytest.approx(fd, rel=1e-5, abs=1e-6), (i, idx)
    # the STE gradient is non-trivial somewhere
    assert any(np.abs(g).max() > 0 for g in gd_loss_and_grads(params, X, Y, P, windows, mode="ste")[1])


def test_ste_is_zero_outside_clip_and_window():
    X = np.array([[0.5, -0.25], [1.0, 1.0]])
    Y = one_hot_pm1(np.array([0, 1]), 2)
    params = [np.array([[5.0, 0.2], [-0.3, 0.4]]), np.zeros(2), np.array([[0.6, -0.6], [0.4, 0.1]]), np.zeros(2)]
    _, grads, _ = gd_loss_and_grads(params, X, Y, 1, [1e-9], mode="ste")
    assert grads[0][0, 0] == 0  # latent weight 5 lies outside [-P, P] = [-1, 1]
    assert np.all(grads[0] == 0) and np.all(grads[1] == 0)  # window 1e-9: no pre-activation inside
    assert np.any(grads[2] != 0)


def test_ste_forward_is_the_integer_network():
    X, y = separable(30, seed=4, k=3)
    sizes = [2, 6, 5, 3]
    params = init_latent(sizes, 2, seed=7)
    loss, _, s = gd_loss_and_grads(params, X, one_hot_pm1(y, 3), 2, default_windows(X, sizes, 2), mode="ste")
    ints = [quantize(p, 2) for p in params]
    net = IntegerNetwork(ints[0::2], ints[1::2], 2)
    np.testing.assert_array_equal(s, net.output_scores(X))
    assert loss == pytest.approx(integer_loss(net, X, y))


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("P,hidden", [(1, [8]), (3, [4]), (3, [8])])
def test_reaches_full_accuracy_on_separable_data(P, hidden):
    X, y = separable(40, seed=0)
    r = train_gd(X, y, 2, hidden, P, seed=0, target_accuracy=1.0, time_limit=20)
    assert isinstance(r, GDResult)
    assert r.status == "target_reached"
    assert r.train_accuracy == 1.0 == r.network.accuracy(X, y)


def test_three_classes():
    X, y = separable(40, seed=0, k=3)
    r = train_gd(X, y, 3, [8], 3, seed=0, target_accuracy=1.0, time_limit=20, classes=["a", "b", "c"])
    assert r.status == "target_reached" and r.train_accuracy == 1.0
    assert r.network.n_outputs == 3
    assert list(r.network.predict(X[:3])) == [["a", "b", "c"][i] for i in y[:3]]


def test_result_is_a_consistent_integer_network(tmp_path):
    X, y = separable(40, seed=2, k=3)
    P = 2
    r = train_gd(X, y, 3, [6, 4], P, seed=5, target_accuracy=None, max_epochs=300, patience=10_000,
                 preprocessing={"decimals": 4}, log_every=50)
    net = r.network
    assert r.status == "max_epochs" and r.epochs == 300
    assert net.hidden == [6, 4] and net.P == P
    for arr in net.weights + net.biases:
        assert arr.dtype == np.int64 and np.abs(arr).max() <= P
    assert r.train_accuracy == net.accuracy(X, y)
    assert r.loss == pytest.approx(integer_loss(net, X, y))
    assert net.training["method"] == "gd" and net.training["seed"] == 5
    assert [h["epoch"] for h in r.history] == [1, 50, 100, 150, 200, 250, 300]
    assert set(r.history[0]) == {"epoch", "time_s", "loss", "train_accuracy"}
    # the returned network is the best seen: no logged epoch beats it
    assert all((h["train_accuracy"], -h["loss"]) <= (r.train_accuracy, -r.loss + 1e-9) for h in r.history)
    path = tmp_path / "net.json"
    net.save(path)
    loaded = IntegerNetwork.load(path)
    np.testing.assert_array_equal(loaded.predict_index(X), net.predict_index(X))
    np.testing.assert_array_equal(loaded.output_scores(X), net.output_scores(X))
    assert loaded.training["method"] == "gd"


def test_deterministic_for_a_seed():
    X, y = separable(40, seed=3)
    kw = dict(target_accuracy=None, max_epochs=200, time_limit=None)
    a = train_gd(X, y, 2, [8], 2, seed=11, **kw)
    b = train_gd(X, y, 2, [8], 2, seed=11, **kw)
    c = train_gd(X, y, 2, [8], 2, seed=12, **kw)
    for wa, wb in zip(a.network.weights + a.network.biases, b.network.weights + b.network.biases):
        np.testing.assert_array_equal(wa, wb)
    assert a.loss == b.loss and a.epochs == b.epochs
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.network.weights, c.network.weights))


def test_stopping_rules():
    X, y = separable(40, seed=1)
    r = train_gd(X, y, 2, [4], 1, seed=0, target_accuracy=None, patience=5, max_epochs=10_000)
    assert r.status == "plateau" and r.epochs < 10_000
    r = train_gd(X, y, 2, [4], 1, seed=0, target_accuracy=None, patience=10**9, max_epochs=10**9, time_limit=0.2)
    assert r.status == "time_limit" and 0.2 <= r.runtime_s < 5
    r = train_gd(X, y, 2, [4], 1, seed=0, target_accuracy=0.5, max_epochs=1000)
    assert r.status == "target_reached" and r.train_accuracy >= 0.5


@pytest.mark.parametrize("change,error,words", [
    (dict(X=np.array([[np.nan, 0.0]] * 4)), DataError, "NaN"),
    (dict(y=np.array([0, 1, 0])), DataError, "one label per row"),
    (dict(y=np.array([0, 1, 2, 0])), DataError, "labels must lie in 0..1"),
    (dict(y=np.array([0, -1, 1, 0])), DataError, "labels must lie"),
    (dict(y=np.array([0.5, 1, 1, 0])), DataError, "integer class indices"),
    (dict(X=np.zeros(4)), DataError, "2-D"),
    (dict(P=0), ModelConfigError, "P must be"),
    (dict(hidden=[4, 0]), ModelConfigError, "at least 1"),
    (dict(n_classes=1), ModelConfigError, "n_classes"),
    (dict(target_accuracy=1.5), ModelConfigError, "target_accuracy"),
    (dict(classes=["a"]), ModelConfigError, "classes"),
])
def test_validation(change, error, words):
    args = dict(X=np.zeros((4, 2)), y=np.array([0, 1, 1, 0]), n_classes=2, hidden=[4], P=1)
    args.update(change)
    with pytest.raises(error, match=words):
        train_gd(**args)


# ----------------------------------------------------------------------------- baselines
def test_reference_baselines():
    X, y = separable(80, seed=0)
    keep = (y == 1) | (np.cumsum(y == 0) <= 12)  # unbalanced: a clear majority class
    X, y = X[keep], y[keep]
    Xt, yt = separable(30, seed=1)
    res = reference_baselines(X, y, Xt, yt, seed=0)
    assert set(res) == {"majority", "logistic_regression", "mlp"}
    for r in res.values():
        assert set(r) == {"train_accuracy", "test_accuracy", "runtime_s"}
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1 and r["runtime_s"] >= 0
    top = np.bincount(y).argmax()
    assert res["majority"]["train_accuracy"] == pytest.approx(np.mean(y == top))
    assert res["majority"]["test_accuracy"] == pytest.approx(np.mean(yt == top))
    assert res["logistic_regression"]["test_accuracy"] > 0.8
    assert res["mlp"]["train_accuracy"] > 0.8
    with pytest.raises(DataError):
        reference_baselines(X, y, Xt[:, :1], yt)
