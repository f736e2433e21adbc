"""Data sets and preprocessing: the bundled UCI Adult data, generic CSV files, and a serialisable preprocessor.

Preprocessing (fitted on the training rows only):

* categorical columns are one-hot encoded (``OneHotEncoder(handle_unknown='ignore')``; a category
  not seen in training encodes as all zeros; Adult's ``?`` is a category of its own);
* numeric columns are min-max scaled to [0, 1] (``numeric_encoding="minmax"``, the default:
  ``MinMaxScaler(clip=True)``; values outside the training range are clipped; a constant column,
  min == max, always gives the feature 0), or binarised (``numeric_encoding="thermometer"``): k
  thresholds t_1 < ... < t_m per column (m <= k; the distinct quantiles at 1/(k+1), ..., k/(k+1)
  of the training rows that lie in [min, max)) and one feature ``"column>t"`` = 1 if x > t else 0
  each. 0/1 features lie on every grid, and a first-layer neuron can then say "x > t" with P = 1;
* every feature is rounded to the grid of ``decimals`` decimals, ``np.round(X, decimals)``.

Features are named after their column (numeric, min-max), ``"column>threshold"`` (numeric,
thermometer; the threshold as Python's shortest repr) or ``"column=category"`` (one-hot), in file
column order, each column expanded in place (a categorical column into its sorted categories).
"""

from __future__ import annotations

import copy
import csv
import functools
import gzip
import hashlib
import importlib.resources
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from mipnn_pyomo.errors import DataError, ModelFileError

__all__ = [
    "ADULT_COLUMNS",
    "ADULT_CATEGORICAL",
    "DataWarning",
    "Preprocessor",
    "Dataset",
    "load_adult",
    "load_csv",
    "load_dataset",
    "load_named_dataset",
    "load_sklearn_dataset",
    "SKLEARN_DATASETS",
    "NUMERIC_ENCODINGS",
    "read_table_for_predict",
    "file_sha256",
]

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "income",
]
ADULT_CATEGORICAL = [
    "workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
    "native-country",
]
ADULT_TARGET = "income"
ADULT_TRAIN_ROWS = 32561
ADULT_TEST_ROWS = 16281

# Cells that count as missing in a generic CSV (Adult is read with no NA parsing, so '?' stays text).
# "None"/"n/a"-style words are deliberately not in this list: they may be real categories.
CSV_NA_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null"]

# An object column whose non-missing cells are at least this fraction numbers, with some text,
# is reported as a numeric column with stray text instead of being silently one-hot encoded.
NUMERIC_LOOKING_FRACTION = 0.5

SAMPLE_MAX_DRAWS = 100

# A target with more distinct values than this draws a DataWarning (it may be a continuous target).
MAX_CLASSES_WITHOUT_WARNING = 20

NUMERIC_ENCODINGS = ("minmax", "thermometer")
DEFAULT_THRESHOLDS = 4  # thermometer: thresholds per numeric column
MAX_THRESHOLDS = 100


class DataWarning(UserWarning):
    """Usable but suspicious data, e.g. a target that looks continuous (more than
    MAX_CLASSES_WITHOUT_WARNING classes, or non-integral numbers)."""


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _fmt_list(items, limit: int = 10) -> str:
    items = [repr(str(x)) for x in items]
    if len(items) > limit:
        return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"
    return ", ".join(items)


def _as_numeric(series: pd.Series, column: str, where: str = "") -> np.ndarray:
    """A numeric column as float64; DataError for text, NaN/empty or infinite cells."""
    where = f"{where}: " if where else ""
    if pd.api.types.is_bool_dtype(series.dtype):
        raise DataError(f"{where}column {column!r} is numeric in the preprocessor but holds True/False values")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna() & series.notna()
        if bad.any():
            examples = pd.unique(series[bad].astype(str))[:3]
            raise DataError(
                f"{where}column {column!r} is numeric but has {int(bad.sum())} non-numeric cell(s), "
                f"e.g. {_fmt_list(examples)}"
            )
        values = coerced.to_numpy(dtype=np.float64)
    n_nan = int(np.isnan(values).sum())
    if n_nan:
        raise DataError(f"{where}column {column!r} has {n_nan} NaN/empty cell(s)")
    n_inf = int(np.isinf(values).sum())
    if n_inf:
        raise DataError(f"{where}column {column!r} has {n_inf} infinite value(s)")
    return values


def _as_category_strings(series: pd.Series, column: str, where: str = "") -> np.ndarray:
    """A categorical column as an object array of str; DataError for NaN/empty cells."""
    n_nan = int(series.isna().sum())
    if n_nan:
        where = f"{where}: " if where else ""
        raise DataError(f"{where}column {column!r} has {n_nan} NaN/empty cell(s)")
    return series.astype(str).to_numpy(dtype=object)


def _looks_categorical(series: pd.Series, column: str) -> bool:
    """Auto-detection: bool and object/string columns are categorical, other dtypes numeric.

    An object column that is mostly numbers with some text is an error (a stray word in a numeric
    column); an object column that is all numbers is numeric."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return True
    if pd.api.types.is_numeric_dtype(series.dtype):
        return False
    values = series.dropna()
    if len(values) == 0:
        return True
    coerced = pd.to_numeric(values, errors="coerce")
    n_num = int(coerced.notna().sum())
    if n_num == len(values):
        return False
    if n_num >= NUMERIC_LOOKING_FRACTION * len(values):
        bad = values[coerced.isna()].astype(str)
        raise DataError(
            f"column {column!r} looks numeric ({n_num} of {len(values)} cells are numbers) but has "
            f"{len(bad)} text cell(s), e.g. {_fmt_list(pd.unique(bad)[:3])}; fix those cells or "
            f"declare the column categorical"
        )
    return True


# --------------------------------------------------------------------------------------------
# Preprocessor
# --------------------------------------------------------------------------------------------


@dataclass
class Preprocessor:
    """One-hot + min-max preprocessing onto the 10^-decimals grid; plain data, JSON-serialisable."""

    target: str
    numeric: dict[str, list[float]]  # column -> [min, max] on the training rows
    categorical: dict[str, list[str]]  # column -> sorted categories seen in training
    columns: list[str]  # input columns in file order (excluding the target)
    features: list[str]  # output feature names
    decimals: int = 4
    numeric_encoding: str = "minmax"  # or "thermometer" (see the module docstring)
    thresholds: dict[str, list[float]] = field(default_factory=dict)  # thermometer: column -> increasing thresholds
    _fitted: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.numeric = {str(c): [float(v[0]), float(v[1])] for c, v in self.numeric.items()}
        self.categorical = {str(c): [str(x) for x in v] for c, v in self.categorical.items()}
        self.columns = [str(c) for c in self.columns]
        self.features = [str(f) for f in self.features]
        self.decimals = int(self.decimals)
        if not 0 <= self.decimals <= 15:  # float64 holds ~15 significant decimals
            raise DataError(f"decimals must be in 0..15, got {self.decimals}")
        unknown = [c for c in self.columns if c not in self.numeric and c not in self.categorical]
        both = [c for c in self.columns if c in self.numeric and c in self.categorical]
        extra = [c for c in list(self.numeric) + list(self.categorical) if c not in self.columns]
        if unknown or both or extra:
            raise ModelFileError(
                "inconsistent preprocessor: "
                + "; ".join(
                    s
                    for s in (
                        f"columns neither numeric nor categorical: {_fmt_list(unknown)}" if unknown else "",
                        f"columns both numeric and categorical: {_fmt_list(both)}" if both else "",
                        f"numeric/categorical columns not in 'columns': {_fmt_list(extra)}" if extra else "",
                    )
                    if s
                )
            )
        for c, (lo, hi) in self.numeric.items():
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                raise ModelFileError(f"inconsistent preprocessor: numeric column {c!r} has range [{lo}, {hi}]")
        empty = [c for c, cats in self.categorical.items() if not cats]
        if empty:
            raise ModelFileError(f"inconsistent preprocessor: categorical column(s) {_fmt_list(empty)} have no categories")
        self._check_thresholds()
        expected = self._feature_names(self.columns, self.numeric, self.categorical, self._thermometer_cuts())
        if expected != self.features:
            raise ModelFileError(
                "inconsistent preprocessor: the feature names do not match the columns and categories"
            )

    def _check_thresholds(self) -> None:
        """The encoding is known; thermometer thresholds: one finite, strictly increasing list per
        numeric column; min-max: none."""
        if self.numeric_encoding not in NUMERIC_ENCODINGS:
            raise ModelFileError(f"unknown numeric encoding {self.numeric_encoding!r}; expected one of "
                                 f"{_fmt_list(NUMERIC_ENCODINGS)}")
        self.thresholds = {str(c): [float(t) for t in v] for c, v in (self.thresholds or {}).items()}
        if self.numeric_encoding == "minmax":
            if self.thresholds:
                raise ModelFileError("inconsistent preprocessor: thresholds given for the minmax encoding")
            return
        if set(self.thresholds) != set(self.numeric):
            raise ModelFileError("inconsistent preprocessor: the thermometer thresholds must list exactly the "
                                 "numeric columns")
        for c, cuts in self.thresholds.items():
            if not all(np.isfinite(cuts)) or any(a >= b for a, b in zip(cuts, cuts[1:])):
                raise ModelFileError(f"inconsistent preprocessor: the thresholds of column {c!r} are not finite and "
                                     f"strictly increasing: {cuts}")

    def _thermometer_cuts(self) -> dict[str, list[float]] | None:
        return self.thresholds if self.numeric_encoding == "thermometer" else None

    # ---- construction ------------------------------------------------------------------------

    @staticmethod
    def _feature_names(columns, numeric, categorical, thresholds=None) -> list[str]:
        """Feature names in column order; ``thresholds`` (column -> cuts) for the thermometer encoding."""
        names: list[str] = []
        for c in columns:
            if c in numeric:
                names.extend([c] if thresholds is None else [f"{c}>{t!r}" for t in thresholds[c]])
            else:
                names.extend(f"{c}={cat}" for cat in categorical[c])
        return names

    @staticmethod
    def quantile_thresholds(values: np.ndarray, k: int) -> list[float]:
        """Thermometer thresholds of one column: the distinct quantiles at 1/(k+1), ..., k/(k+1)
        (numpy's default linear interpolation, to 10 significant digits) that lie in [min, max),
        so that every feature "x > t" is 1 for some training rows and 0 for others. (sklearn's KBinsDiscretizer drops
        repeated edges together with the bins around them: on a column that is mostly 0 it keeps
        no threshold at all, where this keeps "x > 0".)"""
        values = np.asarray(values, dtype=np.float64)
        quantiles = np.quantile(values, np.arange(1, k + 1) / (k + 1))
        cuts = np.unique([float(f"{q:.10g}") for q in quantiles])  # 10 digits: readable feature names
        return [float(t) for t in cuts if values.min() <= t < values.max()]

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        target: str,
        decimals: int = 4,
        categorical: list[str] | None = None,
        numeric_encoding: str = "minmax",
        thresholds: int = DEFAULT_THRESHOLDS,
    ) -> "Preprocessor":
        """Fit on the training rows ``df`` (all columns but ``target`` are inputs).

        ``categorical`` lists the categorical columns; by default bool and text (object/string)
        columns are categorical and the others numeric. ``numeric_encoding`` "thermometer" fits at
        most ``thresholds`` quantile thresholds per numeric column (:meth:`quantile_thresholds`)."""
        numeric_encoding, thresholds = check_numeric_encoding(numeric_encoding, thresholds)
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        df = df.rename(columns=str)
        if target not in df.columns:
            raise DataError(f"target column {target!r} not found; available columns: {_fmt_list(df.columns, 50)}")
        if len(df) == 0:
            raise DataError("cannot fit the preprocessing on zero rows")
        columns = [c for c in df.columns if c != target]
        if not columns:
            raise DataError(f"no input columns besides the target {target!r}")
        if categorical is None:
            cat_cols = {c for c in columns if _looks_categorical(df[c], c)}
        else:
            categorical = [str(c) for c in categorical]
            missing = [c for c in categorical if c not in columns]
            if missing:
                raise DataError(
                    f"categorical column(s) {_fmt_list(missing)} not among the input columns "
                    f"{_fmt_list(columns, 50)}"
                )
            cat_cols = set(categorical)
        num_list = [c for c in columns if c not in cat_cols]
        cat_list = [c for c in columns if c in cat_cols]

        numeric: dict[str, list[float]] = {}
        cuts: dict[str, list[float]] = {}
        if num_list:
            values = np.column_stack([_as_numeric(df[c], c) for c in num_list])
            scaler = MinMaxScaler(clip=True).fit(values)
            for j, (c, lo, hi) in enumerate(zip(num_list, scaler.data_min_, scaler.data_max_)):
                numeric[c] = [float(lo), float(hi)]
                if numeric_encoding == "thermometer":
                    cuts[c] = cls.quantile_thresholds(values[:, j], thresholds)
        cats: dict[str, list[str]] = {}
        if cat_list:
            values = np.column_stack([_as_category_strings(df[c], c) for c in cat_list])
            enc = OneHotEncoder(handle_unknown="ignore").fit(values)
            for c, cc in zip(cat_list, enc.categories_):
                cats[c] = [str(x) for x in cc]
        return cls(
            target=str(target),
            numeric=numeric,
            categorical=cats,
            columns=columns,
            features=cls._feature_names(columns, numeric, cats, cuts if numeric_encoding == "thermometer" else None),
            decimals=decimals,
            numeric_encoding=numeric_encoding,
            thresholds=cuts,
        )

    # ---- transform ---------------------------------------------------------------------------

    def _transformers(self):
        """Sklearn transformers rebuilt from the stored parameters (same path after fit and from_dict)."""
        if self._fitted is None:
            num_cols = [c for c in self.columns if c in self.numeric]
            cat_cols = [c for c in self.columns if c in self.categorical]
            scaler = None
            if num_cols:
                bounds = np.array([[self.numeric[c][0] for c in num_cols], [self.numeric[c][1] for c in num_cols]])
                scaler = MinMaxScaler(clip=True).fit(bounds)
            encoder = None
            if cat_cols:
                cats = [np.array(self.categorical[c], dtype=object) for c in cat_cols]
                # every category list is non-empty (checked in __post_init__); a dummy row fits it
                dummy = np.array([[cc[0] for cc in cats]], dtype=object)
                encoder = OneHotEncoder(
                    categories=cats, handle_unknown="ignore", sparse_output=False, dtype=np.float64
                ).fit(dummy)
            constant = np.array([self.numeric[c][0] == self.numeric[c][1] for c in num_cols], dtype=bool)
            pos, num_pos, cat_pos = 0, [], []
            cuts = self._thermometer_cuts()
            for c in self.columns:
                if c in self.numeric:
                    k = 1 if cuts is None else len(cuts[c])
                    num_pos.extend(range(pos, pos + k))
                    pos += k
                else:
                    k = len(self.categorical[c])
                    cat_pos.extend(range(pos, pos + k))
                    pos += k
            self._fitted = (num_cols, cat_cols, scaler, encoder, constant, np.array(num_pos, int), np.array(cat_pos, int))
        return self._fitted

    def transform(self, df: pd.DataFrame, where: str = "") -> np.ndarray:
        """Preprocess ``df`` (extra columns, e.g. the target, are ignored) into a float array
        (n, len(features)) on the 10^-decimals grid. ``where`` prefixes error messages (e.g. a file name)."""
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
        df = df.rename(columns=str)
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            prefix = f"{where}: " if where else ""
            raise DataError(f"{prefix}missing column(s) {_fmt_list(missing, 50)} needed by the preprocessing")
        num_cols, cat_cols, scaler, encoder, constant, num_pos, cat_pos = self._transformers()
        n = len(df)
        out = np.zeros((n, len(self.features)), dtype=np.float64)
        if n == 0:
            return out
        if num_cols:
            values = np.column_stack([_as_numeric(df[c], c, where) for c in num_cols])
            out[:, num_pos] = self._numeric_features(values, num_cols, scaler, constant)
        if cat_cols:
            values = np.column_stack([_as_category_strings(df[c], c, where) for c in cat_cols])
            out[:, cat_pos] = encoder.transform(values)
        out = np.round(out, self.decimals) + 0.0  # + 0.0 turns any -0.0 into 0.0
        return out

    def _numeric_features(self, values: np.ndarray, num_cols: list[str], scaler, constant) -> np.ndarray:
        """The numeric columns' features: min-max scaled values, or the thermometer's 0/1 "x > t"."""
        if self.numeric_encoding == "thermometer":
            blocks = [values[:, [j]] > np.asarray(self.thresholds[c], dtype=np.float64)[None, :]
                      for j, c in enumerate(num_cols)]
            return np.hstack(blocks).astype(np.float64)
        scaled = scaler.transform(values)
        scaled[:, constant] = 0.0
        return scaled

    # ---- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (see :meth:`from_dict`)."""
        return {
            "features": list(self.features),
            "numeric": {c: [float(lo), float(hi)] for c, (lo, hi) in self.numeric.items()},
            "decimals": int(self.decimals),
            "target": self.target,
            "categorical": {c: list(v) for c, v in self.categorical.items()},
            "columns": list(self.columns),
            **({"numeric_encoding": self.numeric_encoding,
                "thresholds": {c: list(v) for c, v in self.thresholds.items()}}
               if self.numeric_encoding != "minmax" else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessor":
        """Rebuild from :meth:`to_dict` output. A dict with only ``features``, ``numeric``,
        ``decimals`` (and optionally ``target``) also works: a feature that is not a numeric column
        is read as ``column=category``, split at its first ``=``."""
        if not isinstance(d, dict):
            raise ModelFileError(f"preprocessing must be a dict, got {type(d).__name__}")
        for key in ("features", "numeric"):
            if key not in d:
                raise ModelFileError(f"preprocessing dict lacks the key {key!r}")
        features = _file_strings(d["features"], "preprocessing.features")
        numeric = _file_ranges(d["numeric"], "preprocessing.numeric")
        if "categorical" in d and "columns" in d:
            cats = _file_mapping(d["categorical"], "preprocessing.categorical")
            categorical = {c: _file_strings(v, f"preprocessing.categorical[{c!r}]") for c, v in cats.items()}
            columns = _file_strings(d["columns"], "preprocessing.columns")
        else:
            columns, categorical = _columns_from_features(features, numeric)
        decimals = d.get("decimals", 4)
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 15:
            raise ModelFileError(f"malformed field preprocessing.decimals: {decimals!r} is not an integer in [0, 15]")
        target = d.get("target")
        if target is not None and not isinstance(target, str):
            raise ModelFileError(f"malformed field preprocessing.target: {target!r} is not a string")
        encoding = d.get("numeric_encoding", "minmax")
        if encoding not in NUMERIC_ENCODINGS:
            raise ModelFileError(f"malformed field preprocessing.numeric_encoding: {encoding!r} is not one of "
                                 f"{_fmt_list(NUMERIC_ENCODINGS)}")
        return cls(
            target=target or "",
            numeric=numeric,
            categorical=categorical,
            columns=columns,
            features=features,
            decimals=decimals,
            numeric_encoding=encoding,
            thresholds=_file_thresholds(d.get("thresholds", {}), "preprocessing.thresholds"),
        )


def _file_mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ModelFileError(f"malformed field {where}: must be an object, got {type(value).__name__}")
    return value


def _file_strings(value: Any, where: str) -> list[str]:
    """A JSON list of strings (the message names the first entry that is not one)."""
    if not isinstance(value, list):
        raise ModelFileError(f"malformed field {where}: must be a list of strings, got {type(value).__name__}")
    for k, v in enumerate(value):
        if not isinstance(v, str):
            raise ModelFileError(f"malformed field {where}[{k}]: {v!r} is not a string")
    return list(value)


def _file_ranges(value: Any, where: str) -> dict[str, list[float]]:
    """column -> [min, max], two finite numbers (not booleans) with min <= max."""
    out = {}
    for c, v in _file_mapping(value, where).items():
        ok = (isinstance(v, list) and len(v) == 2
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v))
        if not ok or v[0] > v[1]:
            raise ModelFileError(f"malformed field {where}[{c!r}]: {v!r} is not a range [min, max] of finite numbers")
        out[c] = [float(v[0]), float(v[1])]
    return out


def _file_thresholds(value: Any, where: str) -> dict[str, list[float]]:
    """column -> a list of finite numbers (not booleans); their order is checked by the Preprocessor."""
    out = {}
    for c, v in _file_mapping(value, where).items():
        ok = isinstance(v, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v)
        if not ok:
            raise ModelFileError(f"malformed field {where}[{c!r}]: {_shown_value(v)} is not a list of finite numbers")
        out[c] = [float(x) for x in v]
    return out


def _shown_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def check_numeric_encoding(encoding: Any, thresholds: Any) -> tuple[str, int]:
    """A valid (numeric encoding, thresholds per column) pair, or DataError."""
    if encoding not in NUMERIC_ENCODINGS:
        raise DataError(f"unknown numeric encoding {encoding!r}; expected one of {_fmt_list(NUMERIC_ENCODINGS)}")
    if isinstance(thresholds, bool) or not isinstance(thresholds, (int, np.integer)) \
            or not 1 <= thresholds <= MAX_THRESHOLDS:
        raise DataError(f"thresholds must be an integer in [1, {MAX_THRESHOLDS}], got {thresholds!r}")
    return str(encoding), int(thresholds)


def _columns_from_features(features: list[str], numeric: dict) -> tuple[list[str], dict[str, list[str]]]:
    """Columns and categories of a short preprocessing dict: a feature that is not a numeric
    column is ``column=category``, split at its first ``=``."""
    columns: list[str] = []
    categorical: dict[str, list[str]] = {}
    for f in features:
        if f in numeric:
            col = f
        else:
            col, sep, cat = f.partition("=")
            if not sep:
                raise ModelFileError(f"feature {f!r} is neither a numeric column nor 'column=category'")
            categorical.setdefault(col, []).append(cat)
        if col not in columns:
            columns.append(col)
    return columns, categorical


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A preprocessed pool of training rows and a test set."""

    name: str
    X_pool: np.ndarray
    y_pool: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list
    preprocessor: Preprocessor
    pool_rows: np.ndarray
    test_rows: np.ndarray
    source: dict

    @property
    def n_features(self) -> int:
        return int(self.X_pool.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def sample(self, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``n_train`` pool rows without replacement with ``np.random.default_rng(seed)``.

        Returns ``(X, y, train_indices)`` where ``train_indices`` are the 0-based data-row numbers in
        the training file, in the order of ``X``. Every class appears at least once: a draw lacking
        a class is redrawn (same generator, so deterministic) up to 100 times, then DataError."""
        n_pool = len(self.y_pool)
        try:
            n_train = int(n_train)
        except (TypeError, ValueError):
            raise DataError(f"n_train must be an integer, got {n_train!r}") from None
        if n_train > n_pool:
            raise DataError(f"n_train = {n_train} exceeds the {n_pool} rows in the pool of {self.name!r}")
        if n_train < self.n_classes:
            raise DataError(
                f"n_train = {n_train} is below the number of classes ({self.n_classes}); "
                f"every class needs at least one training row"
            )
        present = np.unique(self.y_pool)
        if len(present) < self.n_classes:
            lacking = [self.classes[k] for k in range(self.n_classes) if k not in set(present.tolist())]
            raise DataError(f"the pool of {self.name!r} has no row of class(es) {_fmt_list(lacking)}")
        rng = np.random.default_rng(seed)
        for _ in range(SAMPLE_MAX_DRAWS):
            idx = rng.choice(n_pool, size=n_train, replace=False)
            if len(np.unique(self.y_pool[idx])) == self.n_classes:
                return self.X_pool[idx].copy(), self.y_pool[idx].copy(), self.pool_rows[idx].copy()
        raise DataError(
            f"{SAMPLE_MAX_DRAWS} draws of {n_train} rows (seed {seed}) all missed a class; "
            f"use a larger n_train"
        )


# --------------------------------------------------------------------------------------------
# Adult
# --------------------------------------------------------------------------------------------


def _read_adult_file(fname: str, skiprows: int, expected_rows: int) -> pd.DataFrame:
    ref = importlib.resources.files("mipnn_pyomo.datasets").joinpath(fname)
    try:
        raw = ref.read_bytes()
    except FileNotFoundError:
        raise DataError(f"the bundled Adult file {fname} is missing from the package installation") from None
    text = gzip.decompress(raw)
    df = pd.read_csv(
        io.BytesIO(text),
        header=None,
        names=ADULT_COLUMNS,
        sep=",",
        skipinitialspace=True,
        na_filter=False,  # '?' stays a string (a category of its own); no cell is NaN
        skiprows=skiprows,
        dtype={c: str for c in ADULT_CATEGORICAL + [ADULT_TARGET]},
    )
    if len(df) != expected_rows:
        raise DataError(f"the bundled Adult file {fname} has {len(df)} rows instead of {expected_rows}")
    return df


def _encoding_source(encoding: str, thresholds: int) -> dict:
    """The data source's record of the numeric encoding (nothing for the default min-max)."""
    return {} if encoding == "minmax" else {"input_encoding": encoding, "thresholds": int(thresholds)}


@functools.lru_cache(maxsize=8)
def _load_adult_cached(decimals: int, encoding: str = "minmax", thresholds: int = DEFAULT_THRESHOLDS) -> Dataset:
    train = _read_adult_file("adult.data.gz", 0, ADULT_TRAIN_ROWS)
    test = _read_adult_file("adult.test.gz", 1, ADULT_TEST_ROWS)  # line 1: '|1x3 Cross validator'
    pre = Preprocessor.fit(train, ADULT_TARGET, decimals=decimals, categorical=ADULT_CATEGORICAL,
                           numeric_encoding=encoding, thresholds=thresholds)
    y_train_lab = train[ADULT_TARGET].str.rstrip(".")
    y_test_lab = test[ADULT_TARGET].str.rstrip(".")
    classes = sorted(pd.unique(y_train_lab).tolist())
    y_pool, y_test = _encode_labels(y_train_lab, y_test_lab, classes, "adult.test")
    return Dataset(
        name="adult",
        X_pool=pre.transform(train, "adult.data"),
        y_pool=y_pool,
        X_test=pre.transform(test, "adult.test"),
        y_test=y_test,
        classes=classes,
        preprocessor=pre,
        pool_rows=np.arange(len(train), dtype=np.int64),
        test_rows=np.arange(len(test), dtype=np.int64),
        source={"dataset": "adult", **_encoding_source(encoding, thresholds)},
    )


def load_adult(decimals: int = 4, encoding: str = "minmax", thresholds: int = DEFAULT_THRESHOLDS) -> Dataset:
    """The bundled UCI Adult data: the 32,561 rows of adult.data as the pool, the 16,281 rows of
    adult.test as the test set, 108 features (min-max), classes ``["<=50K", ">50K"]``.
    ``encoding`` / ``thresholds``: the numeric encoding (:class:`Preprocessor`), fitted on the pool.

    Parsed once per argument set and cached; each call returns an independent copy."""
    encoding, thresholds = check_numeric_encoding(encoding, thresholds)
    return copy.deepcopy(_load_adult_cached(int(decimals), encoding, thresholds))


# --------------------------------------------------------------------------------------------
# generic CSV
# --------------------------------------------------------------------------------------------


def _read_csv(path) -> pd.DataFrame:
    """Read a CSV with a header row; DataError for a missing, unreadable, empty or malformed file."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {str(path)!r} not found")
    if p.is_dir():
        raise DataError(f"data file {str(path)!r} is a directory")
    _check_unique_header(p, str(path))
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with more fields than the header is an error, not an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                p, skipinitialspace=True, keep_default_na=False, na_values=CSV_NA_VALUES, index_col=False
            )
    except pd.errors.ParserWarning:
        raise DataError(f"data file {str(path)!r} has rows with more fields than its header") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(path)!r} is empty") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else "parse error"
        raise DataError(f"data file {str(path)!r} is not a well-formed CSV ({msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"data file {str(path)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise DataError(f"cannot read data file {str(path)!r} ({exc.strerror or exc})") from None
    df = df.rename(columns=lambda c: str(c).strip())
    if len(df) == 0:
        raise DataError(f"data file {str(path)!r} has a header but no data rows")
    return df


def file_sha256(path) -> str:
    """Hex SHA-256 of a file's bytes (recorded with a trained model, so that a changed data file is
    told apart from a moved one)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DataError(f"cannot read data file {str(path)!r} ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _warn_about_target(classes: list, what: str) -> None:
    """A :class:`DataWarning` when a target looks like a regression target: non-integral numbers,
    or more than MAX_CLASSES_WITHOUT_WARNING distinct values (each distinct value is a class)."""
    non_integral = [c for c in classes if isinstance(c, float)]
    if non_integral:
        warnings.warn(
            f"{what} holds non-integral numbers ({len(classes)} distinct values, e.g. {_fmt_list(non_integral[:3])}); "
            "it looks continuous, but every distinct value is treated as a class (mipnn classifies, it does not regress)",
            DataWarning, stacklevel=3,
        )
    elif len(classes) > MAX_CLASSES_WITHOUT_WARNING:
        warnings.warn(
            f"{what} has {len(classes)} distinct values, each treated as a class (one output neuron each); "
            "is it a continuous target?",
            DataWarning, stacklevel=3,
        )


def _check_unique_header(p: Path, where: str) -> None:
    """DataError naming the duplicate column names of the header row (the first non-blank line),
    compared as the columns are used: stripped of surrounding spaces. pandas would rename them
    silently (``a, a`` -> ``a, a.1``)."""
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            header = next((row for row in csv.reader(f, skipinitialspace=True) if row), None)
    except UnicodeDecodeError:
        raise DataError(f"data file {where!r} is not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"data file {where!r} is not a well-formed CSV ({exc})") from None
    except OSError as exc:
        raise DataError(f"cannot read data file {where!r} ({exc.strerror or exc})") from None
    positions: dict[str, list[int]] = {}
    for k, name in enumerate(header or [], start=1):
        if name.strip():
            positions.setdefault(name.strip(), []).append(k)
    dups = {name: ks for name, ks in positions.items() if len(ks) > 1}
    if dups:
        parts = "; ".join(f"{name!r} (columns {', '.join(map(str, ks))})" for name, ks in dups.items())
        raise DataError(f"data file {where!r} has duplicate column names: {parts}; rename them")


def _check_no_nan(df: pd.DataFrame, where: str) -> None:
    counts = df.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        parts = ", ".join(f"{c!r} ({int(k)})" for c, k in counts.items())
        raise DataError(f"{where}: NaN/empty cells in column(s) {parts}; fill or remove them")


def _label_key(v):
    """A hashable, type-normalised key for a class label (1 and 1.0 are the same label)."""
    if isinstance(v, (bool, np.bool_)):
        return ("s", str(bool(v)))
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return ("n", int(f)) if f.is_integer() else ("n", f)
    return ("s", str(v))


def _class_labels(y: pd.Series) -> list:
    """Sorted class labels: numbers in numeric order (as int when integral), else strings sorted."""
    if pd.api.types.is_bool_dtype(y.dtype) or not pd.api.types.is_numeric_dtype(y.dtype):
        return sorted({str(v) for v in y})
    values = sorted(set(y.tolist()))
    if all(float(v).is_integer() for v in values):
        return [int(v) for v in values]
    return [float(v) for v in values]


def _encode_labels(y_train: pd.Series, y_test: pd.Series, classes: list, where: str) -> tuple[np.ndarray, np.ndarray]:
    index = {_label_key(c): k for k, c in enumerate(classes)}
    train_keys = [_label_key(v) for v in y_train.tolist()]
    test_keys = [_label_key(v) for v in y_test.tolist()]
    unseen = sorted({k[1] for k in test_keys if k not in index}, key=str)
    if unseen:
        raise DataError(f"{where}: label(s) {_fmt_list(unseen)} in the test data never occur in the training data")
    return (
        np.array([index[k] for k in train_keys], dtype=np.int64),
        np.array([index[k] for k in test_keys], dtype=np.int64),
    )


def load_csv(
    path,
    target: str,
    test_csv=None,
    test_size: float = 0.3,
    split_seed: int = 0,
    decimals: int = 4,
    categorical: list[str] | None = None,
    encoding: str = "minmax",
    thresholds: int = DEFAULT_THRESHOLDS,
) -> Dataset:
    """A generic CSV (header row) with a class column ``target``; ``encoding``, ``thresholds``: see Preprocessor.

    Without ``test_csv`` a stratified hold-out of ``test_size`` of the rows (seeded by
    ``split_seed``) is the test set and the rest the pool; with ``test_csv`` all rows of ``path``
    are the pool. The preprocessing is fitted on the pool rows only. ``categorical`` overrides the
    automatic detection of categorical columns (bool and text columns)."""
    where = str(path)
    encoding, thresholds = check_numeric_encoding(encoding, thresholds)
    df = _read_csv(path)
    target = str(target)
    if target not in df.columns:
        raise DataError(f"{where}: target column {target!r} not found; available columns: {_fmt_list(df.columns, 50)}")
    if len(df.columns) < 2:
        raise DataError(f"{where}: no input columns besides the target {target!r}")
    _check_no_nan(df, where)
    if test_csv is None:
        test_size = _checked_test_size(test_size)
    all_classes = _class_labels(df[target])
    if len(all_classes) < 2:
        raise DataError(f"{where}: the target column {target!r} has a single class {all_classes[0]!r}; need at least 2")
    _warn_about_target(all_classes, f"{where}: the target column {target!r}")

    if test_csv is None:
        pool_rows, test_rows = _holdout_split(df[target], all_classes, where, test_size, split_seed)
        train_df = df.iloc[pool_rows].reset_index(drop=True)
        test_df = df.iloc[test_rows].reset_index(drop=True)
        test_where = where
    else:
        test_where = str(test_csv)
        test_df = _read_csv(test_csv)
        if target not in test_df.columns:
            raise DataError(
                f"{test_where}: target column {target!r} not found; available columns: {_fmt_list(test_df.columns, 50)}"
            )
        _check_no_nan(test_df[[c for c in df.columns if c in test_df.columns]], test_where)
        train_df = df
        pool_rows = np.arange(len(df), dtype=np.int64)
        test_rows = np.arange(len(test_df), dtype=np.int64)

    if categorical is None:
        # column types are decided on the whole file, so they do not depend on the split
        try:
            categorical = [c for c in df.columns if c != target and _looks_categorical(df[c], c)]
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        source_categorical = None
    else:
        source_categorical = [str(c) for c in categorical]
    classes = _class_labels(train_df[target])
    if len(classes) < 2:
        raise DataError(f"{where}: the training rows have a single class {classes[0]!r}; need at least 2")
    try:
        pre = Preprocessor.fit(train_df, target, decimals=decimals, categorical=categorical,
                               numeric_encoding=encoding, thresholds=thresholds)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    y_pool, y_test = _encode_labels(train_df[target], test_df[target], classes, test_where)
    return Dataset(
        name=str(path),
        X_pool=pre.transform(train_df, where),
        y_pool=y_pool,
        X_test=pre.transform(test_df, test_where),
        y_test=y_test,
        classes=classes,
        preprocessor=pre,
        pool_rows=pool_rows,
        test_rows=test_rows,
        source=_csv_source(path, target, test_csv, test_size, split_seed, source_categorical, (encoding, thresholds)),
    )


def _checked_test_size(test_size) -> float:
    try:
        test_size = float(test_size)
    except (TypeError, ValueError):
        raise DataError(f"test_size must be a number in (0, 1), got {test_size!r}") from None
    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be in (0, 1), got {test_size}")
    return test_size


def _holdout_split(y: pd.Series, classes: list, where: str, test_size: float,
                   split_seed) -> tuple[np.ndarray, np.ndarray]:
    """Sorted pool and test row numbers of a stratified hold-out split (at least 2 rows per class)."""
    label_of = {str(_label_key(c)): c for c in classes}
    keys = np.array([str(_label_key(v)) for v in y.tolist()], dtype=object)
    counts = pd.Series(keys).value_counts()
    if counts.min() < 2:
        rare = [label_of[k] for k in counts[counts < 2].index]
        raise DataError(
            f"{where}: class(es) {_fmt_list(rare)} have a single row; a stratified hold-out split needs at least 2 per class"
        )
    n = len(keys)
    try:
        pool_rows, test_rows = train_test_split(
            np.arange(n, dtype=np.int64), test_size=test_size, random_state=int(split_seed), stratify=keys
        )
    except ValueError as exc:
        raise DataError(f"{where}: cannot split {n} rows with test_size={test_size} ({exc})") from None
    return np.sort(pool_rows), np.sort(test_rows)


def _csv_source(path, target: str, test_csv, test_size, split_seed, categorical: list[str] | None,
                encoding: tuple[str, int] = ("minmax", DEFAULT_THRESHOLDS)) -> dict:
    """The data source of a CSV data set: absolute paths and the SHA-256 of each file, so that a
    model trained on it is evaluated from anywhere and changed data is told apart from moved data."""
    source = {
        "dataset": "csv",
        "csv": str(Path(path).resolve()),
        "csv_sha256": file_sha256(path),
        "target": target,
        "test_csv": None if test_csv is None else str(Path(test_csv).resolve()),
        "test_size": float(test_size),
        "split_seed": int(split_seed),
    }
    if test_csv is not None:
        source["test_csv_sha256"] = file_sha256(test_csv)
    if categorical is not None:
        source["categorical"] = categorical
    return {**source, **_encoding_source(*encoding)}


# --------------------------------------------------------------------------------------------
# scikit-learn's small data sets (shipped inside scikit-learn; no download)
# --------------------------------------------------------------------------------------------

# name -> the sklearn.datasets loader (UCI data; see mipnn_pyomo/datasets/SKLEARN_README.md for credits)
SKLEARN_DATASETS = {
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "iris": "load_iris",
    "digits": "load_digits",
}
SKLEARN_TEST_SIZE = 0.3  # the fixed, documented split: stratified, 30 % test, seed 0
SKLEARN_SPLIT_SEED = 0


@functools.lru_cache(maxsize=16)
def _load_sklearn_cached(name: str, decimals: int, encoding: str, thresholds: int) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, SKLEARN_DATASETS[name])(as_frame=True)
    df = bunch.frame.rename(columns=str)
    codes = list(range(len(bunch.target_names)))
    pool_rows, test_rows = _holdout_split(df["target"], codes, name, SKLEARN_TEST_SIZE, SKLEARN_SPLIT_SEED)
    train_df = df.iloc[pool_rows].reset_index(drop=True)
    test_df = df.iloc[test_rows].reset_index(drop=True)
    pre = Preprocessor.fit(train_df, "target", decimals=decimals, categorical=[],
                           numeric_encoding=encoding, thresholds=thresholds)
    classes = [c.item() if hasattr(c, "item") else str(c) for c in bunch.target_names]
    return Dataset(
        name=name,
        X_pool=pre.transform(train_df, name),
        y_pool=train_df["target"].to_numpy(dtype=np.int64),
        X_test=pre.transform(test_df, name),
        y_test=test_df["target"].to_numpy(dtype=np.int64),
        classes=classes,
        preprocessor=pre,
        pool_rows=pool_rows,
        test_rows=test_rows,
        source={"dataset": name, "test_size": SKLEARN_TEST_SIZE, "split_seed": SKLEARN_SPLIT_SEED,
                **_encoding_source(encoding, thresholds)},
    )


def load_sklearn_dataset(name: str, decimals: int = 4, encoding: str = "minmax",
                         thresholds: int = DEFAULT_THRESHOLDS) -> Dataset:
    """scikit-learn's breast cancer (569 rows, 30 features, 2 classes), wine (178, 13, 3), iris
    (150, 4, 3) or digits (1,797 8x8 images, 64 features 0..16, 10 classes). The pool and the
    test set are a fixed stratified split (30 % test, seed 0, rows in scikit-learn's order); the
    preprocessing (all columns numeric) is fitted on the pool; ``Dataset.sample`` draws the
    training rows from the pool as for Adult. Cached; each call returns an independent copy."""
    if name not in SKLEARN_DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of {_fmt_list(['adult', *SKLEARN_DATASETS])}")
    encoding, thresholds = check_numeric_encoding(encoding, thresholds)
    return copy.deepcopy(_load_sklearn_cached(name, int(decimals), encoding, thresholds))


def load_named_dataset(name: str, decimals: int = 4, encoding: str = "minmax",
                       thresholds: int = DEFAULT_THRESHOLDS) -> Dataset:
    """A shipped data set by name: ``"adult"`` or one of :data:`SKLEARN_DATASETS`."""
    if name == "adult":
        return load_adult(decimals=decimals, encoding=encoding, thresholds=thresholds)
    return load_sklearn_dataset(name, decimals=decimals, encoding=encoding, thresholds=thresholds)


def load_dataset(source: dict, decimals: int = 4) -> Dataset:
    """Reload a data set from its ``Dataset.source`` dict."""
    if not isinstance(source, dict) or "dataset" not in source:
        raise DataError(f"a data source must be a dict with a 'dataset' key, got {source!r}")
    kind = source["dataset"]
    encoding = {"encoding": source.get("input_encoding", "minmax"),
                "thresholds": source.get("thresholds", DEFAULT_THRESHOLDS)}
    if kind == "adult":
        return load_adult(decimals=decimals, **encoding)
    if kind in SKLEARN_DATASETS:
        return load_sklearn_dataset(kind, decimals=decimals, **encoding)
    if kind == "csv":
        for key in ("csv", "target"):
            if key not in source:
                raise DataError(f"a csv data source needs the key {key!r}")
        return load_csv(
            source["csv"],
            source["target"],
            test_csv=source.get("test_csv"),
            test_size=source.get("test_size", 0.3),
            split_seed=source.get("split_seed", 0),
            decimals=decimals,
            categorical=source.get("categorical"),
            **encoding,
        )
    raise DataError(f"unknown dataset {kind!r}; expected one of {_fmt_list(['adult', 'csv', *SKLEARN_DATASETS])}")


def read_table_for_predict(path, preprocessor: Preprocessor) -> pd.DataFrame:
    """Read a CSV (header row) to predict on; DataError naming any column the preprocessor needs
    that the file lacks. The target column is not required. Returns all the file's columns."""
    df = _read_csv(path)
    missing = [c for c in preprocessor.columns if c not in df.columns]
    if missing:
        raise DataError(f"{str(path)}: missing column(s) {_fmt_list(missing, 50)} needed by the model")
    return df
