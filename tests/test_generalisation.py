"""Generalisation tools (issue 14): thermometer input encoding, scikit-learn data sets, sparsity,
model selection on the training rows only."""

import json

import numpy as np
import pandas as pd
import pytest

from mipnn_pyomo.cli import main
from mipnn_pyomo.data import Preprocessor, load_dataset, load_sklearn_dataset
from mipnn_pyomo.errors import DataError, ModelConfigError, ModelFileError
from mipnn_pyomo.evaluate import evaluate_model_file, predict_csv
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.selection import candidates, parse_grid, select, splits
from mipnn_pyomo.training import train_on_dataset


def _frame():
    return pd.DataFrame({"a": np.r_[np.zeros(90), np.arange(1, 11)], "b": np.ones(100), "c": np.arange(100.0),
                         "d": ["x", "y"] * 50, "y": [0, 1] * 50})


def test_thermometer_features_are_quantile_cuts_and_roundtrip():
    df = _frame()
    pre = Preprocessor.fit(df, "y", numeric_encoding="thermometer", thresholds=3)
    # a zero-inflated column keeps "a > 0"; a constant column has no threshold; quantiles 1/4, 2/4, 3/4
    assert pre.thresholds == {"a": [0.0], "b": [], "c": [24.75, 49.5, 74.25]}
    assert pre.features == ["a>0.0", "c>24.75", "c>49.5", "c>74.25", "d=x", "d=y"]
    X = pre.transform(df)
    assert set(np.unique(X)) <= {0.0, 1.0}
    assert X[:, 0].sum() == 10 and X[:, 1].sum() == 75  # c > 24.75 for c = 25..99
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre and np.array_equal(again.transform(df), X)
    assert "numeric_encoding" not in Preprocessor.fit(df, "y").to_dict()  # min-max files are unchanged


def test_thermometer_errors_are_one_line():
    d = Preprocessor.fit(_frame(), "y", numeric_encoding="thermometer", thresholds=3).to_dict()
    with pytest.raises(ModelFileError, match="strictly increasing"):
        Preprocessor.from_dict({**d, "thresholds": {**d["thresholds"], "c": [49.5, 24.75, 74.25]}})
    with pytest.raises(ModelFileError, match="numeric_encoding"):
        Preprocessor.from_dict({**d, "numeric_encoding": "bins"})
    with pytest.raises(ModelFileError, match="finite numbers"):
        Preprocessor.from_dict({**d, "thresholds": {**d["thresholds"], "a": ["0"]}})
    with pytest.raises(DataError, match="unknown numeric encoding"):
        Preprocessor.fit(_frame(), "y", numeric_encoding="bins")
    with pytest.raises(DataError, match="thresholds must be"):
        Preprocessor.fit(_frame(), "y", numeric_encoding="thermometer", thresholds=0)


def test_sklearn_datasets_fixed_split_and_reload():
    sizes = {"breast_cancer": (398, 171, 30, 2), "wine": (124, 54, 13, 3), "iris": (105, 45, 4, 3)}
    for name, (n_pool, n_test, n_feat, n_cls) in sizes.items():
        d = load_sklearn_dataset(name)
        assert (len(d.y_pool), len(d.y_test), d.n_features, d.n_classes) == (n_pool, n_test, n_feat, n_cls)
        assert not set(d.pool_rows) & set(d.test_rows)
    d = load_sklearn_dataset("iris", encoding="thermometer", thresholds=2)
    again = load_dataset(d.source)
    assert again.preprocessor.features == d.preprocessor.features and np.array_equal(again.X_test, d.X_test)
    with pytest.raises(DataError, match="unknown dataset"):
        load_sklearn_dataset("mnist")


def test_sparsity_counts_weights_and_active_neurons():
    w1 = np.array([[1, 0, 0], [0, 0, 1]])  # neuron 1 has no incoming weight
    w2 = np.array([[1, -1], [1, 0], [0, 0]])  # neuron 2 has no outgoing weight
    net = IntegerNetwork([w1, w2], [np.zeros(3), np.array([1, 0])], P=1)
    s = net.sparsity()
    assert (s["nonzero_weights"], s["total_weights"], s["nonzero_biases"]) == (5, 12, 1)
    assert s["fraction_zero"] == pytest.approx(7 / 12)
    assert s["active_hidden"] == [1] and s["active_neurons"] == 1 and s["hidden_neurons"] == 3


def test_thermometer_network_is_exact_and_evaluate_reproduces(tmp_path):
    d = load_sklearn_dataset("iris", encoding="thermometer", thresholds=3)
    run = train_on_dataset(d, 40, 0, hidden=(3,), time_limit=5, threads=1)
    assert run.result.exactness.ok and run.summary()["sparsity"]["total_weights"] == 12 * 3 + 3 * 3
    path = tmp_path / "m.json"
    run.network.save(path)
    report = evaluate_model_file(path)
    assert report["test_accuracy"] == pytest.approx(run.test_accuracy)
    assert report["train_accuracy"] == pytest.approx(run.train_accuracy)
    raw = pd.DataFrame({c: [5.0, 7.0] for c in run.network.preprocessing["columns"]})
    raw.to_csv(tmp_path / "rows.csv", index=False)
    expected = run.network.predict(Preprocessor.from_dict(run.network.preprocessing).transform(raw))
    assert list(predict_csv(path, tmp_path / "rows.csv")) == list(expected)


def test_select_uses_only_the_training_rows_and_picks_the_best():
    y = np.array([0, 1] * 15)
    seen = []

    def fit(cand, rows):
        seen.append(set(rows.tolist()))
        return cand

    def score(model, cand, rows):
        assert not set(rows.tolist()) & seen[-1]  # validation rows are never fitted on
        return {1: 0.5, 2: 0.8, 3: 0.8}[model["P"]]

    grid = candidates(parse_grid("P=1,2,3"), {"encoding": "minmax", "thresholds": 4, "recipe": "paper",
                                             "objective": "sat-margin", "P": 1, "hidden": 4})
    sel = select(y, grid, fit, score, method="cv", folds=3, seed=0)
    assert sel.choice["P"] == 2  # ties go to the first candidate
    assert [s["score"] for s in sel.scores] == pytest.approx([0.5, 0.8, 0.8])
    assert all(rows <= set(range(30)) for rows in seen) and len(seen) == 9
    assert len(splits(y, "holdout", 3, 0)) == 1
    with pytest.raises(ModelConfigError, match="every class"):
        splits(np.array([0, 0, 0, 1]), "cv", 3, 0)
    with pytest.raises(ModelConfigError, match="KEY=v1,v2"):
        parse_grid("width=4")


def test_cli_select_records_choice_and_scores(tmp_path, capsys):
    model = tmp_path / "s.json"
    code = main(["train", "--dataset", "iris", "--n-train", "30", "--hidden", "2", "--time-limit", "2",
                 "--threads", "1", "--select", "holdout", "--select-grid", "encoding=minmax,thermometer;thresholds=2",
                 "--out", str(model), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    training = json.loads(model.read_text())["training"]
    sel = training["selection"]
    assert sel["method"] == "holdout" and len(sel["scores"]) == 2
    assert sel["choice"]["encoding"] == training.get("input_encoding", "minmax")
    assert json.loads(out)["exact"] is True
    assert main(["train", "--dataset", "iris", "--select", "cv", "--select-grid", "P=x"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["train", "--dataset", "iris", "--select", "cv", "--method", "gd"]) == 2
    assert "does not apply to --method gd" in capsys.readouterr().err


def test_estimator_thermometer_and_selection():
    from mipnn_pyomo.estimator import MIPNetClassifier

    d = load_sklearn_dataset("iris")
    X, y, _ = d.sample(30, 0)
    clf = MIPNetClassifier(hidden=(2,), time_limit=2, threads=1, input_encoding="thermometer", thresholds=2).fit(X, y)
    assert clf.network_.n_inputs == 8 and clf.network_.preprocessing["numeric_encoding"] == "thermometer"
    encoded = clf.preprocessor_.transform(pd.DataFrame(X, columns=clf.preprocessor_.columns))
    assert np.array_equal(clf.predict(X), clf.classes_[clf.network_.predict_index(encoded)])
    sel = MIPNetClassifier(hidden=(2,), time_limit=2, threads=1, select="holdout").fit(X, y)
    assert sel.network_.training["selection"]["choice"] == sel.selection_.choice
    assert len(sel.selection_.scores) == 2


def test_csv_thermometer_source_reloads_the_same_encoding(tmp_path):
    from mipnn_pyomo.data import load_csv

    path = tmp_path / "d.csv"
    _frame().to_csv(path, index=False)
    d = load_csv(path, "y", encoding="thermometer", thresholds=3)
    assert d.source["input_encoding"] == "thermometer" and d.source["thresholds"] == 3
    again = load_dataset(d.source)
    assert again.preprocessor == d.preprocessor and np.array_equal(again.X_pool, d.X_pool)
    assert "input_encoding" not in load_csv(path, "y").source  # min-max sources are unchanged
