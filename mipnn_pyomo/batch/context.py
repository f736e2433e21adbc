"""The data a run's driver holds: the training and validation splits as arrays, and helpers that
turn a network vector into accuracies (always by the integer network's numpy forward pass)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnn_pyomo.batch.config import BatchConfig, derived_seed
from mipnn_pyomo.batch.solve import BatchTask
from mipnn_pyomo.batch.split import Split
from mipnn_pyomo.batch.vectors import from_vector, layer_sizes


@dataclass
class RunContext:
    config: BatchConfig
    split: Split
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    n_classes: int

    @classmethod
    def from_dataset(cls, dataset, config: BatchConfig, split: Split) -> "RunContext":
        return cls(config, split, dataset.X_pool[split.train], dataset.y_pool[split.train],
                   dataset.X_pool[split.val], dataset.y_pool[split.val], dataset.n_classes)

    @property
    def sizes(self) -> list[int]:
        return layer_sizes(self.X_train.shape[1], self.config.hidden, self.n_classes)

    def network(self, vector):
        return from_vector(vector, self.sizes, self.config.P, self.config.decimals)

    def train_accuracy(self, vector) -> float:
        return self.network(vector).accuracy(self.X_train, self.y_train)

    def val_accuracy(self, vector) -> float:
        return self.network(vector).accuracy(self.X_val, self.y_val)

    def task(self, epoch: int, batch: int, rows: np.ndarray, start, lower, upper, k: int | None,
             time_limit: float) -> BatchTask:
        c = self.config
        return BatchTask(epoch=epoch, batch=batch, X=self.X_train[rows], y=self.y_train[rows], sizes=self.sizes,
                         P=c.P, decimals=c.decimals, objective=c.objective, engine=c.engine, solver=c.solver,
                         seed=derived_seed(c.seed, epoch, batch), start=np.asarray(start, dtype=np.int64),
                         lower=np.asarray(lower, dtype=np.int64), upper=np.asarray(upper, dtype=np.int64), k=k,
                         time_limit=time_limit, nodes=c.batch_nodes, ls_time=c.ls_time)
