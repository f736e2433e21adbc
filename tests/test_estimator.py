import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from mipnn_pyomo.estimator import MIPNetClassifier


def test_fit_predict_score_and_fitted_attributes(separable_data):
    X, y = separable_data
    labels = np.array(["neg", "pos"])[y]
    clf = MIPNetClassifier(hidden=(2,), target_accuracy=None, time_limit=30).fit(X, labels)
    assert list(clf.classes_) == ["neg", "pos"]
    assert clf.n_features_in_ == X.shape[1]
    assert clf.score(X, labels) == 1.0 == clf.train_accuracy_
    assert clf.exactness_.ok
    assert clf.solve_result_.termination.value == "optimal"
    assert set(clf.predict(X)) <= {"neg", "pos"}
    assert clf.decision_function(X).shape == (len(X),)
    assert clf.network_.classes == ["neg", "pos"]


def test_get_set_params_and_clone():
    clf = MIPNetClassifier(P=3, objective="min-hinge")
    assert clf.get_params()["P"] == 3
    clf.set_params(P=7, hidden=(4,))
    c2 = clone(clf)
    assert c2.get_params()["P"] == 7 and c2.get_params()["hidden"] == (4,)


def test_cross_validation_runs(separable_data):
    X, y = separable_data
    scores = cross_val_score(MIPNetClassifier(hidden=(2,), time_limit=20), X, y, cv=2)
    assert scores.shape == (2,) and np.all(scores >= 0.5)


def test_bad_settings_raise_value_error(separable_data):
    X, y = separable_data
    with pytest.raises(ValueError, match="P must be"):
        MIPNetClassifier(P=0).fit(X, y)
    with pytest.raises(ValueError, match="got 1 class"):
        MIPNetClassifier().fit(X, np.zeros(len(X)))


@pytest.mark.slow
def test_scikit_learn_estimator_checks_full():
    """All of scikit-learn's estimator checks (a few minutes: each check trains MIPs). The budget is
    deterministic (one HiGHS thread, a node limit, no time-budgeted local search): a fit cut by a
    time limit can differ between two fits, and check_fit_idempotent compares two fits."""
    check_estimator(MIPNetClassifier(hidden=(4,), P=3, time_limit=60, mip_start="gd", threads=1, heuristic=False,
                                     solver_options={"mip_max_nodes": 300}))


SELECTED_CHECKS = {
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_dont_overwrite_parameters",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
    "check_classifiers_one_label",
    "check_estimators_nan_inf",
    "check_n_features_in_after_fitting",
    "check_fit_check_is_fitted",
    "check_estimators_empty_data_messages",
    "check_supervised_y_2d",
    "check_classifiers_regression_target",
    "check_parameters_default_constructible",
    "check_estimators_unfitted",
    "check_fit_idempotent",
}


def test_scikit_learn_estimator_checks_selected():
    """A fast subset of scikit-learn's estimator checks (the full set runs under -m slow)."""
    from sklearn.utils.estimator_checks import estimator_checks_generator

    # target 0.5: each fit stops at its first incumbent; a generous limit keeps the GD start (whose
    # time budget is min(30 s, time_limit)) from ending on the clock, so fits are deterministic
    est = MIPNetClassifier(hidden=(2,), P=3, time_limit=30, target_accuracy=0.5, mip_start="gd")
    ran = set()
    for estimator, check in estimator_checks_generator(est, legacy=True):
        name = getattr(check, "func", check).__name__
        if name in SELECTED_CHECKS:
            check(estimator)
            ran.add(name)
    assert ran == SELECTED_CHECKS, SELECTED_CHECKS - ran


def test_fitted_estimator_pickles_without_the_pyomo_model(separable_data):
    import pickle

    X, y = separable_data
    clf = MIPNetClassifier(hidden=(2,), P=1, time_limit=30).fit(X, y)
    clone = pickle.loads(pickle.dumps(clf))
    assert clone.training_record_.result.instance is None
    assert (clone.predict(X) == clf.predict(X)).all()


def test_batch_parameters_train_through_the_batch_package(adult):
    """batch_size set: fit trains by batch/ (in process), on a validation split of (X, y)."""
    X, y, _ = adult.sample(90, 0)
    clf = MIPNetClassifier(hidden=(2,), P=1, batch_size=30, batch_time=2.0, epochs=1, workers=0, seed=0).fit(X, y)
    result = clf.batch_result_
    assert result.config.batch_size == 30 and result.config.method == "local"
    assert result.batches_solved == 3 and result.exact_batches == result.batches_solved  # 72 training rows
    record = clf.network_.training
    train, val = record["train_indices"], record["val_indices"]
    assert len(train) == 72 and len(val) == 18 and not set(train) & set(val)
    Xr = np.round(clf._encode(clf.preprocessor_, X), 4)  # the default thermometer inputs
    assert clf.train_accuracy_ == clf.network_.accuracy(Xr[train], y[train])
    assert clf.val_accuracy_ == clf.network_.accuracy(Xr[val], y[val])
    assert np.array_equal(clf.predict(X), clf.network_.predict(Xr))
    assert clf.solve_result_ is None
