"""Reference baselines with real-valued models: majority class, logistic regression, a small MLP (scikit-learn).

These are not integer networks; they put the integer networks' accuracies (MIP and gradient descent,
see :mod:`mipnn_pyomo.gd`) in context.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np

from mipnn_pyomo.errors import DataError

__all__ = ["reference_baselines"]


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y)) if len(y) else float("nan")


def _check(X: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name}: X must be a numeric array of shape (n_samples, n_features)") from None
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise DataError(f"{name}: X must be 2-D with one label in y per row, got X {X.shape} and y {y.shape}")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{name}: X contains NaN or infinite values")
    return X, y


def reference_baselines(X_train, y_train, X_test, y_test, seed: int = 0) -> dict[str, dict[str, float]]:
    """Train/test accuracy and runtime of three reference classifiers.

    Returns ``{"majority": {...}, "logistic_regression": {...}, "mlp": {...}}``, each
    ``{"train_accuracy", "test_accuracy", "runtime_s"}``:

    * ``majority``: always predicts the most frequent training class (the smallest label on ties);
    * ``logistic_regression``: ``LogisticRegression(max_iter=1000)``;
    * ``mlp``: ``MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=seed)``.

    ``runtime_s`` covers fitting and predicting on both sets."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    X_train, y_train = _check(X_train, y_train, "training data")
    X_test, y_test = _check(X_test, y_test, "test data")
    if X_train.shape[0] == 0:
        raise DataError("training data has no rows")
    if X_test.shape[1] != X_train.shape[1]:
        raise DataError(f"test data has {X_test.shape[1]} features but training data has {X_train.shape[1]}")
    if len(np.unique(y_train)) < 2:
        raise DataError("training labels have a single class; the baselines need at least 2")

    def run(fit_predict: Callable[[], tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pred_train, pred_test = fit_predict()
        return {
            "train_accuracy": _accuracy(pred_train, y_train),
            "test_accuracy": _accuracy(pred_test, y_test),
            "runtime_s": time.perf_counter() - t0,
        }

    def majority():
        labels, counts = np.unique(y_train, return_counts=True)
        top = labels[np.argmax(counts)]
        return np.full(len(y_train), top), np.full(len(y_test), top)

    def sk(model):
        def fit_predict():
            model.fit(X_train, y_train)
            return model.predict(X_train), (model.predict(X_test) if len(y_test) else np.empty(0))
        return fit_predict

    return {
        "majority": run(majority),
        "logistic_regression": run(sk(LogisticRegression(max_iter=1000))),
        "mlp": run(sk(MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=seed))),
    }
