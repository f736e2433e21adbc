"""Shared fixtures: small data sets on the 10^-4 grid."""

from __future__ import annotations

import numpy as np
import pytest


def grid(X, decimals: int = 4):
    return np.round(np.asarray(X, dtype=float), decimals)


@pytest.fixture
def xor_data():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 2, dtype=float)
    y = np.array([0, 1, 1, 0] * 2)
    return X, y


@pytest.fixture
def separable_data():
    """Two classes split by x0 + x1 = 1 with a margin (P = 1 can express it: w = (1, 1), b = -1)."""
    rng = np.random.default_rng(3)
    X = grid(rng.random((30, 3)))
    X = X[np.abs(X[:, 0] + X[:, 1] - 1.0) > 0.15]
    y = (X[:, 0] + X[:, 1] > 1.0).astype(int)
    return X, y


def random_instance(seed: int, n: int = 12, d: int = 4, n_classes: int = 2):
    rng = np.random.default_rng(seed)
    X = grid(rng.random((n, d)) * rng.choice([0.0, 1.0], size=(n, d), p=[0.3, 0.7]))
    y = rng.integers(0, n_classes, size=n)
    y[:n_classes] = np.arange(n_classes)
    return X, y


@pytest.fixture(scope="session")
def adult():
    """The bundled Adult data set, loaded once per test session."""
    from mipnn_pyomo.data import load_adult

    return load_adult()


def require_solver(name: str):
    """The adapter of solver ``name``, or skip the test with the reason it is unavailable."""
    from mipnn_pyomo.solvers import get_solver

    adapter = get_solver(name)
    ok, reason = adapter.availability()
    if not ok:
        pytest.skip(f"{name} not available: {reason}")
    return adapter


def assert_fixed_mip_is_forward_pass(instance, data, network, result) -> None:
    """With ``network``'s weights fixed and the MIP solved (``result``): the MIP's activations and
    scores equal the forward pass's, and its optimum is the forward pass's objective value."""
    from mipnn_pyomo.formulation import implied_activations_and_scores

    acts, scores = implied_activations_and_scores(instance.model, data)
    fwd_acts, fwd_scores = network.forward(data.X)
    for a, b in zip(acts, fwd_acts):
        assert np.array_equal(a, b)
    assert np.array_equal(scores, fwd_scores)
    assert result.objective == pytest.approx(instance.evaluate(network), abs=1e-6)
