"""scikit-learn estimator: ``MIPNetClassifier`` trains an integer network by MIP.

    >>> clf = MIPNetClassifier(hidden=(16,), P=1, objective="sat-margin", time_limit=60).fit(X, y)
    >>> clf.score(X_test, y_test)

Inputs are numeric arrays (already preprocessed, e.g. by :class:`mipnn_pyomo.data.Preprocessor` or
a scikit-learn pipeline); they are rounded to the ``decimals`` grid before training and prediction,
which keeps the MIP exact. ``input_encoding="thermometer"`` (the default, chosen by measurement:
docs/results/generalisation.md) binarises every column at up to ``thresholds`` quantiles of the
training rows (``preprocessor_``, also stored in the network's preprocessing; a 0/1 column stays
itself); ``"minmax"`` passes the arrays through unchanged.
``select="cv"`` / ``"holdout"`` chooses among ``select_grid`` (a dict or a
:func:`mipnn_pyomo.selection.parse_grid` string; default: both input encodings) on the training rows
only (``selection_``), then trains the choice on all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from mipnn_pyomo.data import Preprocessor
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import FormulationOptions
from mipnn_pyomo.solvers import DEFAULT_SOLVER
from mipnn_pyomo.training import make_record, mip_outcome, train_network


class MIPNetClassifier(ClassifierMixin, BaseEstimator):
    """Integer-weight sign-activation MLP trained by mixed-integer programming.

    Parameters mirror ``mipnn train``. Fitted attributes: ``network_`` (the
    :class:`~mipnn_pyomo.network.IntegerNetwork`), ``classes_``, ``n_features_in_``,
    ``solve_result_`` (the solver's :class:`~mipnn_pyomo.solvers.SolveResult`),
    ``train_accuracy_``, ``exactness_`` and ``training_record_`` (the
    :class:`~mipnn_pyomo.training.TrainingRecord`, as for every training method). ``mip_start`` is an IntegerNetwork or ``"gd"``.
    ``recipe`` names a training recipe of :data:`mipnn_pyomo.recipes.RECIPES` ("paper": one MIP);
    ``lexicographic`` ("sequence", "gurobi", "auto") how a lexicographic recipe (bemi) runs.
    ``P_first`` (None: ``P`` everywhere) bounds the first layer's weights and biases in
    [-P_first, P_first] (recorded in the model file; not with ``batch_size``).

    Batch training (docs/batch.md): with ``batch_size`` set, ``fit`` trains by
    :func:`mipnn_pyomo.batch.train_batched` on all of (X, y) (a ``val_fraction`` validation split
    taken from it) with ``batch_method``, ``batch_engine``, ``epochs``, ``batch_time``, ``workers``
    (0: in this process), ``scheduler``, ``checkpoint`` and ``batch_options`` (a dict of further
    :class:`~mipnn_pyomo.batch.BatchConfig` fields, e.g. ``{"k": 8, "accept": "train-val"}`` for
    ``batch_method="neighbourhood"``); ``time_limit`` bounds the whole run and
    ``objective``/``solver``/``P``/``hidden``/``seed``/``decimals`` apply to the batch MIPs. Fitted
    then: ``network_``, ``train_accuracy_``, ``val_accuracy_``, ``batch_result_`` (the
    :class:`~mipnn_pyomo.batch.BatchResult`); ``solve_result_``, ``exactness_`` and
    ``training_record_`` are None (the model's ``network_.training`` holds the batch record)."""

    def __init__(
        self,
        hidden=(16,),
        P=1,
        objective="sat-margin",
        solver=DEFAULT_SOLVER,
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
        input_encoding="thermometer",
        thresholds=4,
        select=None,
        select_grid=None,
        folds=3,
        recipe="paper",
        lexicographic="auto",
        batch_size=None,
        batch_method="local",
        batch_engine="mip",
        epochs=None,
        batch_time=6.0,
        val_fraction=0.2,
        workers=None,
        scheduler=None,
        checkpoint=None,
        P_first=None,
        batch_options=None,
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
        self.input_encoding = input_encoding
        self.thresholds = thresholds
        self.select = select
        self.select_grid = select_grid
        self.folds = folds
        self.recipe = recipe
        self.lexicographic = lexicographic
        self.batch_size = batch_size
        self.batch_method = batch_method
        self.batch_engine = batch_engine
        self.epochs = epochs
        self.batch_time = batch_time
        self.val_fraction = val_fraction
        self.batch_options = batch_options
        self.workers = workers
        self.scheduler = scheduler
        self.checkpoint = checkpoint
        self.P_first = P_first

    def _train_kwargs(self, n_classes: int) -> dict:
        return dict(
            n_classes=n_classes,
            hidden=tuple(self.hidden),
            P=self.P,
            P_first=self.P_first,
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
            recipe=self.recipe,
            lexicographic=self.lexicographic,
        )

    def _encoder(self, X, encoding: str, thresholds: int):
        """The fitted input Preprocessor (columns x0, x1, ...) for the thermometer, else None."""
        if encoding == "minmax":
            return None
        frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])]).assign(__target__=0)
        return Preprocessor.fit(frame, "__target__", decimals=self.decimals, categorical=[],
                                numeric_encoding=encoding, thresholds=int(thresholds))

    @staticmethod
    def _encode(pre, X):
        return X if pre is None else pre.transform(pd.DataFrame(X, columns=pre.columns))

    def _select(self, X, y_index) -> tuple[dict, dict]:
        """The chosen candidate (and the selection's record) by self.select on the training rows."""
        from mipnn_pyomo.selection import candidates, candidate_train_kwargs, parse_grid, select, split_time_limit

        defaults = {"encoding": self.input_encoding, "thresholds": self.thresholds, "recipe": self.recipe,
                    "objective": self.objective, "P": self.P, "P_first": self.P_first, "hidden": tuple(self.hidden)[0]}
        if not self.select:
            return defaults, {}
        spec = self.select_grid if self.select_grid is not None else "encoding=minmax,thermometer"
        grid = candidates(parse_grid(spec) if isinstance(spec, str) else spec, defaults)
        n_fits = len(grid) * (self.folds if self.select == "cv" else 1)
        base = {**self._train_kwargs(len(self.classes_)), "time_limit": split_time_limit(self.time_limit, n_fits)[0]}

        def fit(cand, rows):
            pre = self._encoder(X[rows], cand["encoding"], cand["thresholds"])
            net = train_network(self._encode(pre, X[rows]), y_index[rows], **candidate_train_kwargs(cand, base)).network
            return pre, net

        def score(model, cand, rows):
            return model[1].accuracy(self._encode(model[0], X[rows]), y_index[rows])

        self.selection_ = select(y_index, grid, fit, score, method=self.select, folds=self.folds, seed=self.seed)
        return self.selection_.choice, {"selection": self.selection_.to_dict()}

    def fit(self, X, y):
        from mipnn_pyomo.selection import candidate_train_kwargs, split_time_limit

        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("MIPNetClassifier needs at least 2 classes in y, got 1 class")
        if self.batch_size is not None:
            return self._fit_batched(X, y_index)
        choice, selection = self._select(X, y_index)
        kwargs = candidate_train_kwargs(choice, self._train_kwargs(len(self.classes_)))
        if selection:
            kwargs["time_limit"] = split_time_limit(self.time_limit, 1)[1]
        self.preprocessor_ = self._encoder(X, choice["encoding"], choice["thresholds"])
        result = train_network(self._encode(self.preprocessor_, X), y_index, **kwargs)
        prep = {"decimals": self.decimals} if self.preprocessor_ is None else self.preprocessor_.to_dict()
        record = make_record(mip_outcome(result), classes=[c.item() if hasattr(c, "item") else c for c in self.classes_],
                             preprocessing=prep, data_source={"dataset": "arrays"},
                             train_indices=range(len(y_index)), seed=self.seed)
        record.network.training.update(selection)
        self.training_record_ = record
        self.network_ = record.network
        self.solve_result_ = result.solve
        self.train_accuracy_ = record.train_accuracy
        self.exactness_ = result.exactness
        return self

    def _fit_batched(self, X, y_index):
        """``batch_size`` set: train_batched on (X, y) as a data set without a test file."""
        from mipnn_pyomo.batch import BatchConfig, train_batched
        from mipnn_pyomo.batch.config import batch_config_options

        if self.P_first is not None:
            raise ModelConfigError("P_first is not supported with batch_size (batch MIPs use P everywhere)")
        base = dict(method=self.batch_method, engine=self.batch_engine, batch_size=self.batch_size, epochs=self.epochs,
                    P=self.P, hidden=tuple(self.hidden), objective=self.objective, solver=self.solver, seed=self.seed,
                    val_fraction=self.val_fraction, batch_time=self.batch_time, time_limit=self.time_limit,
                    decimals=self.decimals)
        config = BatchConfig(**{**base, **batch_config_options(self.batch_options)})
        self.preprocessor_ = self._encoder(X, self.input_encoding, self.thresholds)
        dataset = arrays_dataset(self._encode(self.preprocessor_, X), y_index, len(self.classes_), self.decimals)
        result = train_batched(dataset, config, checkpoint=self.checkpoint, scheduler=self.scheduler,
                               workers=self.workers, progress=self.verbose)
        result.network.classes = [c.item() if hasattr(c, "item") else c for c in self.classes_]
        if self.preprocessor_ is not None:
            result.network.preprocessing = self.preprocessor_.to_dict()
        self.network_, self.batch_result_ = result.network, result
        self.train_accuracy_, self.val_accuracy_ = result.train_accuracy, result.val_accuracy
        self.solve_result_ = self.exactness_ = self.training_record_ = None
        return self

    def decision_function(self, X):
        """Normalised outputs yhat (n, n_classes); for two classes, yhat_1 - yhat_0 (> 0 exactly
        when class 1 is predicted, ties included)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        X = self._encode(self.preprocessor_, X)
        out = self.network_.normalised_outputs(X)
        # Ties between outputs are broken by the network's seeded choice; a nudge far below the
        # output lattice step 2 / (P (H + 1)) makes the decision agree with predict() there too.
        out = out + 1e-9 * np.eye(out.shape[1])[self.network_.predict_index(X)]
        return out[:, 1] - out[:, 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.classes_[self.network_.predict_index(self._encode(self.preprocessor_, X))]

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
