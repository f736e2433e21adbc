"""The reference method ``average`` (Thorbjarnarson & Yorke-Smith, PLoS ONE 2023; their code
mip_nn, src/scripts/experiment_4.py and src/helper/misc.py), reproduced:

* every epoch reshuffles the training split into batches and solves each batch's MIP on its own,
  within per-parameter bounds [lower, upper] (epoch 0: [-P, P]);
* the batch networks v_b are combined by a weighted mean, batch b weighted by its validation
  accuracy a_b min-max scaled, c_b = (a_b - min a) / (max a - min a) (the worst batch weighs 0):
  mean = round(sum_b c_b v_b / sum_b c_b)  (numpy's round, half to even, as theirs);
* the next epoch's bounds are mean -+ window, clipped to [-P, P]; with E = P + 1 epochs (theirs)
  the window of epoch e >= 1 is P - (e - 1), narrowing from P to 1; with fewer epochs (the
  scaled budget) it narrows linearly, window_e = round(P - (e - 1)(P - 1) / (E - 2));
* the result is the epoch mean with the best validation accuracy.

Differences, all documented in docs/batch.md: a fixed validation split (theirs re-draws it every
epoch from the same file, so validation rows are trained on in other epochs); the solver gets the
current mean (clipped into the bounds; epoch 0: the zero network) as a MIP start, so that a short
time limit still yields a network; if every batch has the same validation accuracy the weights are
equal (theirs divides by zero).
"""

from __future__ import annotations

import numpy as np

from mipnn_pyomo.batch.context import RunContext
from mipnn_pyomo.batch.split import epoch_batches
from mipnn_pyomo.batch.vectors import n_parameters


def window(epoch: int, P: int, epochs: int) -> int:
    """Half-width of the bounds used in ``epoch`` (>= 1) around the previous epoch's mean."""
    if epochs <= 2:
        return P
    return int(round(P - (epoch - 1) * (P - 1) / (epochs - 2)))


def weighted_mean(vectors: np.ndarray, val_accuracies: np.ndarray) -> np.ndarray:
    """round(sum_b c_b v_b / sum_b c_b) with c the min-max scaled validation accuracies."""
    acc = np.asarray(val_accuracies, dtype=float)
    spread = acc.max() - acc.min()
    c = (acc - acc.min()) / spread if spread > 0 else np.ones_like(acc)
    return np.round(c @ np.asarray(vectors, dtype=float) / c.sum()).astype(np.int64)


class AverageMethod:
    name = "average"

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def initial_state(self) -> dict:
        n, P = n_parameters(self.ctx.sizes), self.ctx.config.P
        return {"lower": [-P] * n, "upper": [P] * n, "mean": None}

    def rounds(self, epoch: int) -> list[list[int]]:
        """One round per epoch: the mean needs every batch."""
        n_batches = len(self._batches(epoch))
        return [list(range(n_batches))]

    def _batches(self, epoch: int) -> list[np.ndarray]:
        c = self.ctx.config
        return epoch_batches(len(self.ctx.y_train), c.batch_size, c.seed, epoch)

    def tasks(self, state: dict, epoch: int, batch_ids: list[int], time_limit: float) -> list:
        lower, upper = np.asarray(state["lower"]), np.asarray(state["upper"])
        start = np.zeros_like(lower) if state["mean"] is None else np.asarray(state["mean"])
        start = np.clip(start, lower, upper)
        batches = self._batches(epoch)
        return [self.ctx.task(epoch, b, batches[b], start, lower, upper, None, time_limit) for b in batch_ids]

    def combine(self, state: dict, epoch: int, outcomes: list) -> dict:
        """Weighted mean of the batch networks and the next epoch's bounds."""
        usable = [o for o in outcomes if o.exact]
        if not usable:
            return {**state, "record": {"batches": len(outcomes), "exact_batches": 0}}
        vectors = np.stack([o.vector for o in usable])
        val = np.array([self.ctx.val_accuracy(v) for v in vectors])
        mean = weighted_mean(vectors, val)
        P, epochs = self.ctx.config.P, self.ctx.config.n_epochs
        half = window(epoch + 1, P, epochs)
        record = {
            "batches": len(outcomes), "exact_batches": len(usable), "window_used": None if epoch == 0 else window(epoch, P, epochs),
            "batch_val_accuracy_min": float(val.min()), "batch_val_accuracy_max": float(val.max()),
        }
        return {"lower": np.clip(mean - half, -P, P).tolist(), "upper": np.clip(mean + half, -P, P).tolist(),
                "mean": mean.tolist(), "record": record}

    def current(self, state: dict) -> np.ndarray | None:
        return None if state["mean"] is None else np.asarray(state["mean"])
