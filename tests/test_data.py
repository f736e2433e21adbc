"""Tests of mipnn_pyomo.data: the bundled Adult data, the preprocessor, the generic CSV loader, errors."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mipnn_pyomo.data import (
    Dataset,
    Preprocessor,
    load_adult,
    load_csv,
    load_dataset,
    read_table_for_predict,
)
from mipnn_pyomo.errors import DataError, MipnnError


@pytest.fixture(scope="module")
def adult() -> Dataset:
    return load_adult()


def on_grid(X: np.ndarray, decimals: int = 4) -> bool:
    scaled = X * 10.0**decimals
    return bool(np.allclose(np.round(scaled), scaled, rtol=0, atol=1e-12)) and bool(np.all(np.round(X, decimals) == X))


# ---------------------------------------------------------------------------------------------
# Adult
# ---------------------------------------------------------------------------------------------


def test_adult_counts_and_features(adult):
    assert adult.X_pool.shape == (32561, 108)
    assert adult.X_test.shape == (16281, 108)
    assert adult.y_pool.shape == (32561,) and adult.y_test.shape == (16281,)
    assert adult.n_features == 108 and len(adult.preprocessor.features) == 108
    assert adult.n_classes == 2
    assert adult.classes == ["<=50K", ">50K"]
    assert adult.name == "adult" and adult.source == {"dataset": "adult"}
    assert np.array_equal(adult.pool_rows, np.arange(32561))
    assert np.array_equal(adult.test_rows, np.arange(16281))
    assert adult.X_pool.dtype == np.float64 and np.issubdtype(adult.y_pool.dtype, np.integer)


def test_adult_majority_class(adult):
    counts = np.bincount(adult.y_test, minlength=2)
    assert counts[0] == 12435
    assert abs(counts.max() / len(adult.y_test) - 0.7637) < 1e-4
    assert np.bincount(adult.y_pool).tolist() == [24720, 7841]


def test_adult_grid_and_range(adult):
    assert on_grid(adult.X_pool) and on_grid(adult.X_test)
    for X in (adult.X_pool, adult.X_test):
        assert X.min() >= 0.0 and X.max() <= 1.0
    # every one-hot block of a row has exactly one 1 in training
    pre = adult.preprocessor
    for col, cats in pre.categorical.items():
        idx = [pre.features.index(f"{col}={c}") for c in cats]
        assert np.all(adult.X_pool[:, idx].sum(axis=1) == 1.0)


def test_adult_feature_names_and_question_mark(adult):
    pre = adult.preprocessor
    assert "workclass=?" in pre.features and "occupation=?" in pre.features and "native-country=?" in pre.features
    assert pre.features[0] == "age"
    assert pre.features[1:10] == [f"workclass={c}" for c in sorted(pre.categorical["workclass"])]
    assert pre.features[10] == "fnlwgt"
    assert list(pre.numeric) == ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    assert pre.numeric["age"] == [17.0, 90.0]
    assert pre.columns[-1] == "native-country" and "income" not in pre.columns
    assert "native-country=Holand-Netherlands" in pre.features  # only in the training file
    assert pre.to_dict()["target"] == "income"


def test_adult_cached_and_fast():
    t0 = time.perf_counter()
    a = load_adult()
    b = load_adult()
    assert time.perf_counter() - t0 < 3.0
    assert a is not b and np.array_equal(a.X_pool, b.X_pool)
    a.X_pool[0, 0] = 123.0  # a copy: mutating one result does not poison the cache
    assert load_adult().X_pool[0, 0] != 123.0


def test_adult_decimals():
    d = load_adult(decimals=2)
    assert on_grid(d.X_pool, 2) and d.preprocessor.decimals == 2
    assert not on_grid(load_adult().X_pool, 2)


# ---------------------------------------------------------------------------------------------
# sample
# ---------------------------------------------------------------------------------------------


def test_sample_deterministic(adult):
    X1, y1, i1 = adult.sample(200, seed=3)
    X2, y2, i2 = adult.sample(200, seed=3)
    X3, y3, i3 = adult.sample(200, seed=4)
    assert np.array_equal(i1, i2) and np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(i1, i3)
    assert X1.shape == (200, 108) and y1.shape == (200,) and i1.shape == (200,)
    assert len(set(i1.tolist())) == 200
    assert i1.min() >= 0 and i1.max() < 32561
    assert np.array_equal(X1, adult.X_pool[i1]) and np.array_equal(y1, adult.y_pool[i1])


def test_sample_every_class(adult):
    for seed in range(20):
        _, y, _ = adult.sample(2, seed)
        assert sorted(y.tolist()) == [0, 1]


def test_sample_errors(adult):
    with pytest.raises(DataError):
        adult.sample(32562, 0)
    with pytest.raises(DataError):
        adult.sample(1, 0)


def test_sample_returns_file_rows(tmp_path):
    d = load_csv(_write_mixed_csv(tmp_path), "label", test_size=0.3, split_seed=1)
    X, y, rows = d.sample(12, 5)
    assert set(rows.tolist()) <= set(d.pool_rows.tolist())
    pos = np.searchsorted(d.pool_rows, rows)
    assert np.array_equal(d.X_pool[pos], X)


# ---------------------------------------------------------------------------------------------
# Preprocessor
# ---------------------------------------------------------------------------------------------


def test_preprocessor_roundtrip(adult):
    pre = adult.preprocessor
    d = json.loads(json.dumps(pre.to_dict()))
    assert set(d) == {"features", "numeric", "decimals", "target", "categorical", "columns"}
    pre2 = Preprocessor.from_dict(d)
    assert pre2 == pre
    minimal = {k: d[k] for k in ("features", "numeric", "decimals", "target")}
    pre3 = Preprocessor.from_dict(minimal)
    assert pre3.columns == pre.columns and pre3.categorical == pre.categorical
    sample = pd.DataFrame(
        {
            "age": [17, 90, 200, 30],
            "workclass": ["?", "Private", "Martian", "State-gov"],
            "fnlwgt": [12285, 1484705, 5, 100000],
            "education": ["HS-grad"] * 4,
            "education-num": [1, 16, 9, 3],
            "marital-status": ["Divorced"] * 4,
            "occupation": ["?"] * 4,
            "relationship": ["Husband"] * 4,
            "race": ["White"] * 4,
            "sex": ["Male", "Female", "Male", "Female"],
            "capital-gain": [0, 99999, 0, 7],
            "capital-loss": [0, 0, 0, 0],
            "hours-per-week": [40, 1, 99, 100],
            "native-country": ["United-States"] * 4,
        }
    )
    X = pre.transform(sample)
    assert np.array_equal(X, pre2.transform(sample)) and np.array_equal(X, pre3.transform(sample))
    assert on_grid(X)
    f = pre.features
    assert X[0, f.index("age")] == 0.0 and X[1, f.index("age")] == 1.0 and X[2, f.index("age")] == 1.0  # clipped
    assert X[0, f.index("workclass=?")] == 1.0
    wc = [i for i, name in enumerate(f) if name.startswith("workclass=")]
    assert np.all(X[2, wc] == 0.0)  # unseen category -> all zeros
    assert X[3, f.index("age")] == round(13 / 73, 4)


def test_transform_errors(adult):
    pre = adult.preprocessor
    df = pd.DataFrame({c: [adult.preprocessor.categorical.get(c, ["x"])[0]] for c in pre.columns})
    for c in pre.numeric:
        df[c] = [1.0]
    assert pre.transform(df).shape == (1, 108)
    with pytest.raises(DataError, match="age"):
        pre.transform(df.drop(columns=["age"]))
    bad = df.copy()
    bad["fnlwgt"] = [np.nan]
    with pytest.raises(DataError, match="fnlwgt"):
        pre.transform(bad)
    bad = df.copy()
    bad["hours-per-week"] = ["forty"]
    with pytest.raises(DataError, match="hours-per-week"):
        pre.transform(bad)


def test_constant_column_is_zero():
    df = pd.DataFrame({"a": [5, 5, 5], "b": [0.0, 0.5, 1.0], "y": ["p", "q", "p"]})
    pre = Preprocessor.fit(df, "y")
    assert pre.numeric["a"] == [5.0, 5.0]
    X = pre.transform(pd.DataFrame({"a": [5, 6, -1], "b": [0.25, 2.0, -1.0]}))
    assert X[:, 0].tolist() == [0.0, 0.0, 0.0]
    assert X[:, 1].tolist() == [0.25, 1.0, 0.0]


def test_from_dict_inconsistent():
    from mipnn_pyomo.errors import ModelFileError

    with pytest.raises(ModelFileError):
        Preprocessor.from_dict({"features": ["a", "b"], "numeric": {"a": [0, 1]}, "decimals": 4})
    with pytest.raises(ModelFileError):
        Preprocessor.from_dict({"numeric": {}})


# ---------------------------------------------------------------------------------------------
# generic CSV
# ---------------------------------------------------------------------------------------------


def _write_mixed_csv(tmp_path, n: int = 60, name: str = "mixed.csv"):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "height": rng.uniform(1.5, 2.0, n).round(3),
            "colour": rng.choice(["red", "green", "blue"], n),
            "count": rng.integers(0, 10, n),
            "flag": rng.choice([True, False], n),
            "label": np.array(["a", "b", "c"])[np.arange(n) % 3],
        }
    )
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_csv_holdout(tmp_path):
    path = _write_mixed_csv(tmp_path)
    d = load_csv(path, "label", test_size=0.25, split_seed=7)
    assert d.classes == ["a", "b", "c"] and d.n_classes == 3
    assert len(d.y_pool) == 45 and len(d.y_test) == 15
    assert np.bincount(d.y_test).tolist() == [5, 5, 5]  # stratified
    assert sorted(np.concatenate([d.pool_rows, d.test_rows]).tolist()) == list(range(60))
    pre = d.preprocessor
    assert pre.columns == ["height", "colour", "count", "flag"]
    assert pre.features == ["height", "colour=blue", "colour=green", "colour=red", "count", "flag=False", "flag=True"]
    assert set(pre.categorical) == {"colour", "flag"}
    raw = pd.read_csv(path)
    assert np.array_equal(d.X_pool, pre.transform(raw.iloc[d.pool_rows]))
    assert d.y_pool.tolist() == [["a", "b", "c"].index(v) for v in raw["label"].iloc[d.pool_rows]]
    # the scaler is fitted on the pool rows only
    assert pre.numeric["height"] == [raw["height"].iloc[d.pool_rows].min(), raw["height"].iloc[d.pool_rows].max()]
    assert on_grid(d.X_pool) and on_grid(d.X_test)
    assert d.X_test.min() >= 0 and d.X_test.max() <= 1
    # deterministic split, different with another seed; reloadable from the source dict
    assert np.array_equal(load_csv(path, "label", test_size=0.25, split_seed=7).test_rows, d.test_rows)
    assert not np.array_equal(load_csv(path, "label", test_size=0.25, split_seed=8).test_rows, d.test_rows)
    assert d.source == {
        "dataset": "csv", "csv": str(Path(path).resolve()), "target": "label", "test_csv": None, "test_size": 0.25,
        "split_seed": 7, "csv_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
    }
    again = load_dataset(d.source)
    assert np.array_equal(again.X_test, d.X_test) and np.array_equal(again.test_rows, d.test_rows)


def test_csv_with_test_file_and_numeric_labels(tmp_path):
    train = pd.DataFrame({"x": [0, 1, 2, 3, 4, 5], "c": ["u", "v", "u", "v", "u", "v"], "y": [10, 2, 10, 2, 1, 1]})
    test = pd.DataFrame({"c": ["w", "u"], "x": [9, -1], "y": [2, 10], "extra": ["", ""]})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    d = load_csv(tmp_path / "train.csv", "y", test_csv=tmp_path / "test.csv")
    assert d.classes == [1, 2, 10]  # natural numeric order, not "1" < "10" < "2"
    assert d.y_pool.tolist() == [2, 1, 2, 1, 0, 0] and d.y_test.tolist() == [1, 2]
    assert np.array_equal(d.pool_rows, np.arange(6)) and np.array_equal(d.test_rows, np.arange(2))
    assert d.X_test.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]  # clipped; unseen 'w' -> zeros
    again = load_dataset(d.source)
    assert np.array_equal(again.X_test, d.X_test)


def test_read_table_for_predict(tmp_path):
    d = load_csv(_write_mixed_csv(tmp_path), "label")
    pd.DataFrame({"height": [1.7], "colour": ["red"], "count": [3], "flag": [True]}).to_csv(tmp_path / "p.csv", index=False)
    X = d.preprocessor.transform(read_table_for_predict(tmp_path / "p.csv", d.preprocessor))
    assert X.shape == (1, 7) and X[0, 3] == 1.0 and X[0, 6] == 1.0
    pd.DataFrame({"height": [1.7], "flag": [True]}).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(DataError, match=r"colour.*count"):
        read_table_for_predict(tmp_path / "q.csv", d.preprocessor)


# ---------------------------------------------------------------------------------------------
# error cases
# ---------------------------------------------------------------------------------------------


def _csv(tmp_path, text: str, name: str = "d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_error_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_csv(tmp_path / "nope.csv", "y")


def test_error_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_csv(_csv(tmp_path, ""), "y")
    with pytest.raises(DataError, match="no data rows"):
        load_csv(_csv(tmp_path, "a,y\n", "h.csv"), "y")


def test_error_missing_target(tmp_path):
    with pytest.raises(DataError, match=r"'label'.*'a', 'b'"):
        load_csv(_csv(tmp_path, "a,b\n1,2\n3,4\n"), "label")


def test_error_nan_cells(tmp_path):
    text = "a,b,y\n1,x,p\n,x,q\n3,,p\n4,y,q\n,z,p\n6,z,q\n"
    with pytest.raises(DataError, match=r"'a' \(2\).*'b' \(1\)"):
        load_csv(_csv(tmp_path, text), "y")


def test_question_mark_is_not_nan(tmp_path):
    text = "a,b,y\n1,?,p\n2,x,q\n3,?,p\n4,x,q\n"
    d = load_csv(_csv(tmp_path, text), "y", test_size=0.5)
    assert "b=?" in d.preprocessor.features


def test_error_text_in_numeric_column(tmp_path):
    rows = "\n".join(f"{i},{'p' if i % 2 else 'q'}" for i in range(20))
    with pytest.raises(DataError, match="'a'"):
        load_csv(_csv(tmp_path, "a,y\n" + rows + "\nabout five,p\n"), "y")


def test_error_single_class(tmp_path):
    with pytest.raises(DataError, match="single class"):
        load_csv(_csv(tmp_path, "a,y\n1,p\n2,p\n3,p\n"), "y")


def test_error_unseen_test_labels(tmp_path):
    _csv(tmp_path, "a,y\n1,p\n2,q\n", "tr.csv")
    _csv(tmp_path, "a,y\n1,p\n2,r\n3,s\n", "te.csv")
    with pytest.raises(DataError, match=r"'r', 's'"):
        load_csv(tmp_path / "tr.csv", "y", test_csv=tmp_path / "te.csv")


def test_error_test_file_missing_column(tmp_path):
    _csv(tmp_path, "a,b,y\n1,2,p\n2,3,q\n", "tr.csv")
    _csv(tmp_path, "a,y\n1,p\n", "te.csv")
    with pytest.raises(DataError, match="'b'"):
        load_csv(tmp_path / "tr.csv", "y", test_csv=tmp_path / "te.csv")


def test_error_class_too_rare_for_split(tmp_path):
    with pytest.raises(DataError, match="'r'"):
        load_csv(_csv(tmp_path, "a,y\n1,p\n2,q\n3,p\n4,q\n5,r\n"), "y")


def test_error_bad_source_and_test_size(tmp_path):
    with pytest.raises(DataError):
        load_dataset({"dataset": "mnist"})
    with pytest.raises(DataError):
        load_csv(_write_mixed_csv(tmp_path), "label", test_size=1.5)


def test_errors_are_one_sentence(tmp_path):
    try:
        load_csv(_csv(tmp_path, "a,y\n1,p\n1,p\n"), "y")
    except MipnnError as exc:
        assert "\n" not in str(exc) and exc.__cause__ is None
    else:  # pragma: no cover
        pytest.fail("no error")


def test_error_row_longer_than_header(tmp_path):
    with pytest.raises(DataError, match="more fields"):
        load_csv(_csv(tmp_path, "a,y\n1,p,3\n2,q,4\n"), "y")


def test_text_detection_independent_of_split(tmp_path):
    # the stray word may fall in the test part of any split: the column is still reported
    rows = "\n".join(f"{i},{'p' if i % 2 else 'q'}" for i in range(9)) + "\nfoo,p\n"
    for seed in range(5):
        with pytest.raises(DataError, match="'a' looks numeric"):
            load_csv(_csv(tmp_path, "a,y\n" + rows), "y", split_seed=seed)


def test_csv_categorical_override(tmp_path):
    path = _csv(tmp_path, "code,y\n1,p\n2,q\n10,p\n2,q\n")
    test = _csv(tmp_path, "code,y\n10,p\n4,q\n", "t.csv")
    d = load_csv(path, "y", test_csv=test, categorical=["code"])
    assert d.preprocessor.features == ["code=1", "code=10", "code=2"]
    assert d.X_test.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert d.source["categorical"] == ["code"]
    assert load_dataset(d.source).preprocessor == d.preprocessor
    assert load_csv(path, "y", test_csv=test).preprocessor.features == ["code"]
