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
from mipnn_pyomo.solvers import DEFAULT_SOLVER
from mipnn_pyomo.training import make_record, mip_outcome, train_network


class MIPNetClassifier(ClassifierMixin, BaseEstimator):
    """Integer-weight sign-activation MLP trained by mixed-integer programming.

    Parameters mirror ``mipnn train``. Fitted attributes: ``network_`` (the
    :class:`~mipnn_pyomo.network.IntegerNetwork`), ``classes_``, ``n_features_in_``,
    ``solve_result_`` (the solver's :class:`~mipnn_pyomo.solvers.SolveResult`),
    ``train_accuracy_``, ``exactness_`` and ``training_record_`` (the
    :class:`~mipnn_pyomo.training.TrainingRecord`, as for every training method). ``mip_start`` is an IntegerNetwork or ``"gd"``.
    ``recipe`` names a training recipe of :data:`mipnn_pyomo.recipes.RECIPES` ("paper": one MIP)."""

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
        recipe="paper",
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
        self.recipe = recipe

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("MIPNetClassifier needs at least 2 classes in y, got 1 class")
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
            recipe=self.recipe,
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
