"""Model selection without hand tuning: choose the input encoding, recipe, objective, P and width by
k-fold cross-validation (``"cv"``) or a validation split (``"holdout"``) of the TRAINING rows only.

For each candidate c of the grid (the product of the listed values) and each fold f,

    score(c) = mean_f  accuracy of network(c, trained on rows not in f)  on the rows of f,

measured by the integer network's forward pass. The chosen candidate maximises score(c); ties go to
the first in grid order (list the simpler choice first). The final network is then trained with
the choice on all the training rows. The test rows are never seen. The choice, every candidate's
fold scores and the split are recorded in the model file (``training.selection``).

Encodings are refitted per candidate on the same rows (a data set's pool or the estimator's
arrays); the thermometer thresholds use the features of the pool without labels.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from mipnn_pyomo.errors import ModelConfigError

SELECT_METHODS = ("cv", "holdout")
DEFAULT_FOLDS = 3
HOLDOUT_FRACTION = 0.25
def _p_first_value(text: str) -> int | None:
    """A grid value of P_first: "none" (P everywhere) or an integer."""
    return None if text.lower() == "none" else int(text)


GRID_KEYS = {"encoding": str, "thresholds": int, "recipe": str, "objective": str, "P": int,
             "P_first": _p_first_value, "hidden": int}
GRID_ALIASES = {"p_first": "P_first"}
OPTIONAL_KEYS = {"P_first": None}  # keys a caller's defaults may leave out (their value then)
# Share of the time limit spent on the selection's fits (the rest trains the final network).
SELECTION_TIME_SHARE = 0.5


@dataclass
class Selection:
    """The outcome of a selection: the chosen candidate and every candidate's fold scores."""

    method: str
    folds: int
    seed: int
    choice: dict[str, Any]
    scores: list[dict[str, Any]] = field(default_factory=list)
    runtime_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "folds": self.folds, "seed": self.seed, "choice": dict(self.choice),
                "scores": [dict(s) for s in self.scores], "runtime_s": self.runtime_s}


def parse_grid(text: str) -> dict[str, list]:
    """``"encoding=minmax,thermometer;recipe=paper,polish;P=1;p_first=none,3,7;hidden=4,16"`` ->
    {key: values}. Keys: encoding, thresholds, recipe, objective, P, P_first (also p_first; "none"
    or an integer), hidden (one width per value)."""
    grid: dict[str, list] = {}
    for part in (p.strip() for p in str(text).split(";")):
        if not part:
            continue
        key, sep, values = part.partition("=")
        key = GRID_ALIASES.get(key.strip(), key.strip())
        if not sep or key not in GRID_KEYS:
            raise ModelConfigError(f"selection grid: expected KEY=v1,v2 with KEY in {', '.join(GRID_KEYS)}, "
                                   f"got {part!r}")
        try:
            grid[key] = [GRID_KEYS[key](v.strip()) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ModelConfigError(f"selection grid: {key} takes integers, got {values!r}") from None
        if not grid[key]:
            raise ModelConfigError(f"selection grid: no values for {key}")
    return grid


def candidates(grid: dict[str, Sequence], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (in the order given), other keys from ``defaults``."""
    keys = list(GRID_KEYS)
    unknown = [k for k in grid if k not in GRID_KEYS]
    if unknown:
        raise ModelConfigError(f"selection grid: unknown key(s) {', '.join(unknown)}")
    lists = [list(grid[k]) if k in grid else [defaults.get(k, OPTIONAL_KEYS[k]) if k in OPTIONAL_KEYS else defaults[k]]
             for k in keys]
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def splits(y: np.ndarray, method: str, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (fit rows, validation rows) pairs of the training rows: ``folds`` folds, or one
    hold-out of HOLDOUT_FRACTION."""
    y = np.asarray(y)
    if method not in SELECT_METHODS:
        raise ModelConfigError(f"selection method must be one of {', '.join(SELECT_METHODS)}, got {method!r}")
    smallest = int(np.bincount(y).min()) if y.size else 0
    needed = folds if method == "cv" else 2
    if folds < 2 or smallest < needed:
        raise ModelConfigError(f"selection by {method} with {folds} folds needs at least {needed} training rows "
                               f"of every class (the rarest has {smallest}) and folds >= 2")
    if method == "cv":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=HOLDOUT_FRACTION, random_state=seed)
    return list(splitter.split(np.zeros((len(y), 1)), y))


def select(y: np.ndarray, grid: list[dict[str, Any]], fit: Callable[[dict, np.ndarray], Any],
           score: Callable[[Any, dict, np.ndarray], float], *, method: str = "cv", folds: int = DEFAULT_FOLDS,
           seed: int = 0) -> Selection:
    """Score every candidate on the splits of the training labels ``y``: ``fit(candidate, rows)``
    trains on those training rows, ``score(model, candidate, rows)`` is its accuracy there."""
    if not grid:
        raise ModelConfigError("selection grid is empty")
    t0 = time.perf_counter()
    pairs = splits(y, method, folds, seed)
    scores = []
    for cand in grid:
        fold_scores = [float(score(fit(cand, fit_rows), cand, val_rows)) for fit_rows, val_rows in pairs]
        scores.append({**cand, "fold_scores": fold_scores, "score": float(np.mean(fold_scores))})
    best = max(range(len(scores)), key=lambda k: (scores[k]["score"], -k))
    return Selection(method=method, folds=len(pairs), seed=int(seed), choice=dict(grid[best]), scores=scores,
                     runtime_s=time.perf_counter() - t0)


def split_time_limit(time_limit: float | None, n_fits: int) -> tuple[float | None, float | None]:
    """(per selection fit, final fit) time limits: SELECTION_TIME_SHARE of ``time_limit`` shared by
    the ``n_fits`` selection fits, the rest for the final fit; None stays None."""
    if time_limit is None:
        return None, None
    return SELECTION_TIME_SHARE * time_limit / max(n_fits, 1), (1 - SELECTION_TIME_SHARE) * time_limit


def candidate_train_kwargs(cand: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``train_network`` keyword arguments for a candidate: its objective, P, P_first, width (one
    hidden layer) and recipe over ``base`` ("paper" is passed only when the API takes recipes)."""
    kwargs = {**base, "objective": cand["objective"], "P": int(cand["P"]), "hidden": (int(cand["hidden"]),)}
    if cand.get("P_first") is not None or "P_first" in base:
        kwargs["P_first"] = cand.get("P_first")
    if cand.get("recipe", "paper") != "paper" or "recipe" in base:
        kwargs["recipe"] = cand["recipe"]
    return kwargs


def select_on_dataset(dataset, n_train: int, seed: int, grid: dict[str, Sequence], *, method: str = "cv",
                      folds: int = DEFAULT_FOLDS, **train_kwargs):
    """Select on the ``n_train`` rows that ``train_on_dataset`` draws with ``seed``, then train the
    choice on all of them. Returns its TrainingRecord, with ``training.selection`` in the network."""
    from mipnn_pyomo.data import load_dataset
    from mipnn_pyomo.training import train_network, train_on_dataset

    pre = dataset.preprocessor
    defaults = {"encoding": pre.numeric_encoding, "thresholds": _thresholds_of(dataset),
                "recipe": train_kwargs.get("recipe", "paper"), "objective": train_kwargs.get("objective", "sat-margin"),
                "P": train_kwargs.get("P", 1), "P_first": train_kwargs.get("P_first"),
                "hidden": tuple(train_kwargs.get("hidden", (16,)))[0]}
    grid_list = candidates(grid, defaults)
    variants: dict[tuple, Any] = {}

    def data_of(cand):
        key = (cand["encoding"], cand["thresholds"])
        if key not in variants:
            source = {**dataset.source, "input_encoding": key[0], "thresholds": key[1]}
            variants[key] = dataset if key == (defaults["encoding"], defaults["thresholds"]) \
                else load_dataset(source, decimals=pre.decimals)
        return variants[key]

    _, y, _ = dataset.sample(n_train, seed)
    n_fits = len(grid_list) * (folds if method == "cv" else 1)
    fit_limit, final_limit = split_time_limit(train_kwargs.get("time_limit"), n_fits)
    base = {**train_kwargs, "time_limit": fit_limit, "progress": None, "seed": train_kwargs.get("seed", seed)}

    def fit(cand, rows):
        X = data_of(cand).sample(n_train, seed)[0]
        kwargs = candidate_train_kwargs(cand, base)
        return train_network(X[rows], y[rows], n_classes=dataset.n_classes, **kwargs).network

    def score(network, cand, rows):
        return network.accuracy(data_of(cand).sample(n_train, seed)[0][rows], y[rows])

    selection = select(y, grid_list, fit, score, method=method, folds=folds, seed=seed)
    final_kwargs = candidate_train_kwargs(selection.choice, {**train_kwargs, "time_limit": final_limit})
    record = train_on_dataset(data_of(selection.choice), n_train, seed, **final_kwargs)
    return attach_selection(record, selection)


def _thresholds_of(dataset) -> int:
    from mipnn_pyomo.data import DEFAULT_THRESHOLDS

    return int(dataset.source.get("thresholds", DEFAULT_THRESHOLDS))


def attach_selection(record, selection: Selection):
    """Record the selection in the network's ``training`` metadata and the record's details."""
    record.network.training["selection"] = selection.to_dict()
    record.details["selection"] = selection.to_dict()
    return record
