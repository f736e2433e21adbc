"""Which rows train and which validate, and the batches of each epoch.

Rule (recorded in the model file so that anyone can recompute it): the run's rows are
``dataset.sample(n_train, seed)`` (all pool rows, in pool order, when n_train is all); a permutation
drawn from ``derived_rng(seed, PURPOSE_SPLIT)`` puts the first ``round(val_fraction * n)`` of them
in the validation split and the rest in the training split. Epoch e shuffles the training split
with ``derived_rng(seed, PURPOSE_SHUFFLE, e)`` and cuts it into ceil(n_train / batch_size)
near-equal consecutive batches. The test rows are never touched here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnn_pyomo.batch.config import PURPOSE_SHUFFLE, PURPOSE_SPLIT, BatchConfig, derived_rng
from mipnn_pyomo.errors import DataError


@dataclass
class Split:
    """Positions into ``dataset.X_pool`` (``train``/``val``) and file row numbers (``*_rows``)."""

    train: np.ndarray
    val: np.ndarray
    train_rows: np.ndarray
    val_rows: np.ndarray

    def record(self, config: BatchConfig) -> dict:
        return {
            "rule": "rows = dataset.sample(n_train, seed) (all pool rows when n_train is null); "
                    "validation = first round(val_fraction * n) of numpy default_rng([seed, 11, 0, 0]).permutation(n)",
            "seed": config.seed,
            "n_train": config.n_train,
            "val_fraction": config.val_fraction,
            "train_indices": [int(i) for i in self.train_rows],
            "val_indices": [int(i) for i in self.val_rows],
        }


def make_split(dataset, config: BatchConfig) -> Split:
    """Training and validation splits of the pool (see the module docstring)."""
    n_pool = len(dataset.y_pool)
    if config.n_train is None:
        positions = np.arange(n_pool)
    else:
        if config.n_train > n_pool:
            raise DataError(f"n_train = {config.n_train} exceeds the {n_pool} rows in the pool")
        _, _, rows = dataset.sample(config.n_train, config.seed)
        position_of = {int(r): p for p, r in enumerate(dataset.pool_rows)}
        positions = np.array([position_of[int(r)] for r in rows], dtype=np.int64)
    n = len(positions)
    n_val = int(round(config.val_fraction * n))
    if n_val < 1 or n - n_val < config.batch_size // 2 + 1:
        raise DataError(f"{n} rows leave too few for a validation split of {config.val_fraction:g} "
                        f"and batches of {config.batch_size}")
    order = derived_rng(config.seed, PURPOSE_SPLIT).permutation(n)
    val, train = np.sort(positions[order[:n_val]]), np.sort(positions[order[n_val:]])
    return Split(train, val, dataset.pool_rows[train], dataset.pool_rows[val])


def epoch_batches(n_train: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Indices into the training split, one array per batch, for ``epoch``."""
    order = derived_rng(seed, PURPOSE_SHUFFLE, epoch).permutation(n_train)
    n_batches = max(1, int(np.ceil(n_train / batch_size)))
    return [np.asarray(b) for b in np.array_split(order, n_batches)]
