"""scikit-learn estimator: ``MIPNetClassifier`` trains an integer network by MIP.

    >>> clf = MIPNetClassifier(hidden=(16,), P=1, objective="sat-margin", time_limit=60).fit(X, y)
    >>> clf.score(X_test, y_test)

Inputs are numeric arrays (already preprocessed, e.g. by :class:`mipnn_pyomo.data.Preprocessor` or
a scikit-learn pipeline); they are rounded to the ``decimals`` grid before training and prediction,
which keeps the MIP exact.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mipnn_pyomo.formulation import FormulationOptions
from mipnn_pyomo.training import make_record, mip_outcome, train_network


class MIPNetClassifier(ClassifierMixin, BaseEstimator):
    """Integer-weight sign-activation MLP trained by mixed-integer programming.

    Parameters mirror ``mipnn train``. Fitted attributes: ``network_`` (the
    :class:`~mipnn_pyomo.network.IntegerNetwork`), ``classes_``, ``n_features_in_``,
    ``solve_result_`` (the solver's :class:`~mipnn_pyomo.solvers.SolveResult`),
    ``train_accuracy_``, ``exactness_`` and ``training_record_`` (the
    :class:`~mipnn_pyomo.training.TrainingRecord`, as for every training method). ``mip_start`` is an IntegerNetwork or ``"gd"``.

    Batch training (docs/batch.md): with ``batch_size`` set, ``fit`` trains by
    :func:`mipnn_pyomo.batch.train_batched` on all of (X, y) (a ``val_fraction`` validation split
    taken from it) with ``batch_method``, ``batch_engine``, ``epochs``, ``batch_time``, ``workers``
    (0: in this process), ``scheduler`` and ``checkpoint``; ``time_limit`` bounds the whole run and
    ``objective``/``solver``/``P``/``hidden``/``seed``/``decimals`` apply to the batch MIPs. Fitted
    then: ``network_``, ``train_accuracy_``, ``val_accuracy_``, ``batch_result_`` (the
    :class:`~mipnn_pyomo.batch.BatchResult`); ``solve_result_``, ``exactness_`` and
    ``training_record_`` are None (the model's ``network_.training`` holds the batch record)."""

    def __init__(
        self,
        hidden=(16,),
        P=1,
        objective="sat-margin",
        solver="highs",
        time_limit=None,
        target_accuracy=0.9,
        threads=None,
        mip_gap=None,
        seed=0,
        decimals=4,
        formulation="tight",
        encoding="bigm",
        mip_start=None,
        solver_options=None,
        verbose=False,
        heuristic=True,
        batch_size=None,
        batch_method="local",
        batch_engine="mip",
        epochs=None,
        batch_time=6.0,
        val_fraction=0.2,
        workers=None,
        scheduler=None,
        checkpoint=None,
    ):
        self.hidden = hidden
        self.P = P
        self.objective = objective
        self.solver = solver
        self.time_limit = time_limit
        self.target_accuracy = target_accuracy
        self.threads = threads
        self.mip_gap = mip_gap
        self.seed = seed
        self.decimals = decimals
        self.formulation = formulation
        self.encoding = encoding
        self.mip_start = mip_start
        self.solver_options = solver_options
        self.verbose = verbose
        self.heuristic = heuristic
        self.batch_size = batch_size
        self.batch_method = batch_method
        self.batch_engine = batch_engine
        self.epochs = epochs
        self.batch_time = batch_time
        self.val_fraction = val_fraction
        self.workers = workers
        self.scheduler = scheduler
        self.checkpoint = checkpoint

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("MIPNetClassifier needs at least 2 classes in y, got 1 class")
        if self.batch_size is not None:
            return self._fit_batched(X, y_index)
        result = train_network(
            X,
            y_index,
            n_classes=len(self.classes_),
            hidden=tuple(self.hidden),
            P=self.P,
            objective=self.objective,
            solver=self.solver,
            time_limit=self.time_limit,
            threads=self.threads,
            mip_gap=self.mip_gap,
            seed=self.seed,
            target_accuracy=self.target_accuracy,
            formulation=FormulationOptions(encoding=self.encoding, variant=self.formulation),
            warm_start=self.mip_start,
            solver_options=self.solver_options,
            verbose=self.verbose,
            decimals=self.decimals,
            heuristic=self.heuristic,
        )
        record = make_record(mip_outcome(result), classes=[c.item() if hasattr(c, "item") else c for c in self.classes_],
                             preprocessing={"decimals": self.decimals}, data_source={"dataset": "arrays"},
                             train_indices=range(len(y_index)), seed=self.seed)
        self.training_record_ = record
        self.network_ = record.network
        self.solve_result_ = result.solve
        self.train_accuracy_ = record.train_accuracy
        self.exactness_ = result.exactness
        return self

    def _fit_batched(self, X, y_index):
        """``batch_size`` set: train_batched on (X, y) as a data set without a test file."""
        from mipnn_pyomo.batch import BatchConfig, train_batched

        config = BatchConfig(method=self.batch_method, engine=self.batch_engine, batch_size=self.batch_size,
                             epochs=self.epochs, P=self.P, hidden=tuple(self.hidden), objective=self.objective,
                             solver=self.solver, seed=self.seed, val_fraction=self.val_fraction,
                             batch_time=self.batch_time, time_limit=self.time_limit, decimals=self.decimals)
        result = train_batched(arrays_dataset(X, y_index, len(self.classes_), self.decimals), config,
                               checkpoint=self.checkpoint, scheduler=self.scheduler, workers=self.workers,
                               progress=self.verbose)
        result.network.classes = [c.item() if hasattr(c, "item") else c for c in self.classes_]
        self.network_, self.batch_result_ = result.network, result
        self.train_accuracy_, self.val_accuracy_ = result.train_accuracy, result.val_accuracy
        self.solve_result_ = self.exactness_ = self.training_record_ = None
        return self

    def decision_function(self, X):
        """Normalised outputs yhat (n, n_classes); for two classes, yhat_1 - yhat_0 (> 0 exactly
        when class 1 is predicted, ties included)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = self.network_.normalised_outputs(X)
        # Ties between outputs are broken by the network's seeded choice; a nudge far below the
        # output lattice step 2 / (P (H + 1)) makes the decision agree with predict() there too.
        out = out + 1e-9 * np.eye(out.shape[1])[self.network_.predict_index(X)]
        return out[:, 1] - out[:, 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.classes_[self.network_.predict_index(X)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def arrays_dataset(X, y_index, n_classes: int, decimals: int):
    """(X, y) as a :class:`~mipnn_pyomo.data.Dataset` pool (rows 0..n-1) with an empty test set."""
    from mipnn_pyomo.data import Dataset

    X = np.round(np.asarray(X, dtype=np.float64), int(decimals))
    n = len(y_index)
    return Dataset(name="arrays", X_pool=X, y_pool=np.asarray(y_index, dtype=np.int64),
                   X_test=np.empty((0, X.shape[1])), y_test=np.empty(0, dtype=np.int64), classes=list(range(n_classes)),
                   preprocessor=None, pool_rows=np.arange(n), test_rows=np.empty(0, dtype=np.int64),
                   source={"dataset": "arrays"})
