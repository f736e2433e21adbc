"""This package's method ``local``: batch MIPs propose local moves of one current network.

* Start: a network trained by gradient descent on the training split (``start="gd"``) or the zero
  network with the majority class's output bias (``start="zero"``).
* Each batch b of an epoch gets a block of ``block`` hidden neurons chosen by
  derived_rng(seed, 37, epoch, b); its MIP, warm-started from the current network v, may change only
  the block's input weights, biases and output weights and the output biases (all other parameters
  fixed at v), by at most k in L1 distance (local branching: sum_t |w_t - v_t| <= k), maximising
  the objective (sat-margin) on the batch's rows.
* Batches run ``round_size`` at a time against the same v; then, in batch order, each proposal's
  change d_b = w_b - v is applied to the current network, v' = clip(current + d_b, -P, P), and kept
  if the training-split accuracy rises strictly.
* The result is the network, among the start and every epoch's end, with the best validation
  accuracy.
"""

from __future__ import annotations

import numpy as np

from mipnn_pyomo.batch.config import PURPOSE_BLOCK, PURPOSE_HARD, derived_rng
from mipnn_pyomo.batch.context import RunContext
from mipnn_pyomo.batch.split import epoch_batches
from mipnn_pyomo.batch.vectors import neuron_block_positions, to_vector


class LocalMethod:
    name = "local"

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def initial_state(self) -> dict:
        vector = self._start_vector()
        return {"current": vector.tolist(), "train_accuracy": self.ctx.train_accuracy(vector),
                "accepted": 0, "proposed": 0}

    def _start_vector(self) -> np.ndarray:
        ctx, c = self.ctx, self.ctx.config
        if c.start == "gd":
            from mipnn_pyomo.gd import train_gd

            gd = train_gd(ctx.X_train, ctx.y_train, ctx.n_classes, hidden=c.hidden, P=c.P, seed=c.seed,
                          target_accuracy=None, time_limit=c.start_time, max_epochs=c.start_epochs, lr=c.start_lr)
            return to_vector(gd.network)
        sizes = ctx.sizes
        vector = np.zeros(sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + sum(sizes[1:]), dtype=np.int64)
        majority = int(np.bincount(ctx.y_train, minlength=ctx.n_classes).argmax())
        out_bias = np.full(ctx.n_classes, -1, dtype=np.int64)
        out_bias[majority] = 1
        vector[-ctx.n_classes:] = out_bias
        return vector

    def _batches(self, epoch: int) -> list[np.ndarray]:
        c = self.ctx.config
        return epoch_batches(len(self.ctx.y_train), c.batch_size, c.seed, epoch)

    def rounds(self, epoch: int) -> list[list[int]]:
        ids = list(range(len(self._batches(epoch))))
        size = self.ctx.config.round_size
        return [ids[i: i + size] for i in range(0, len(ids), size)]

    def free_positions(self, epoch: int, batch: int) -> np.ndarray:
        c = self.ctx.config
        neurons = derived_rng(c.seed, PURPOSE_BLOCK, epoch, batch).choice(c.hidden[0], size=c.block, replace=False)
        return neuron_block_positions(self.ctx.sizes, neurons)

    def hard_rows(self, current: np.ndarray, epoch: int, batch: int) -> np.ndarray:
        """``batch_rows="hard"``: batch_size rows drawn by derived_rng(seed, 53, epoch, batch) from
        the 10 x batch_size training rows with the smallest |margin| under the current network
        (margin = true class score - best other score; ties by row order)."""
        c = self.ctx.config
        scores = self.ctx.network(current).output_scores(self.ctx.X_train)
        y = self.ctx.y_train
        true = scores[np.arange(len(y)), y]
        other = np.where(np.arange(scores.shape[1])[None, :] == y[:, None], np.iinfo(np.int64).min, scores).max(axis=1)
        pool = np.argsort(np.abs(true - other), kind="stable")[: 10 * c.batch_size]
        return np.sort(derived_rng(c.seed, PURPOSE_HARD, epoch, batch).choice(pool, size=min(c.batch_size, len(pool)),
                                                                               replace=False))

    def tasks(self, state: dict, epoch: int, batch_ids: list[int], time_limit: float) -> list:
        c = self.ctx.config
        current = np.asarray(state["current"], dtype=np.int64)
        batches = self._batches(epoch)
        if c.batch_rows == "hard":
            batches = {b: self.hard_rows(current, epoch, b) for b in batch_ids}
        out = []
        for b in batch_ids:
            lower, upper = current.copy(), current.copy()
            free = self.free_positions(epoch, b)
            lower[free], upper[free] = -c.P, c.P
            out.append(self.ctx.task(epoch, b, batches[b], current, lower, upper, c.k, time_limit))
        return out

    def combine(self, state: dict, epoch: int, outcomes: list) -> dict:
        """Apply each exact proposal's change in batch order; keep it if training accuracy rises."""
        P = self.ctx.config.P
        current = np.asarray(state["current"], dtype=np.int64)
        start = current.copy()
        accuracy = float(state["train_accuracy"])
        accepted = 0
        for outcome in sorted(outcomes, key=lambda o: o.batch):
            change = outcome.vector - start
            if not outcome.exact or not change.any():
                continue
            candidate = np.clip(current + change, -P, P)
            candidate_accuracy = self.ctx.train_accuracy(candidate)
            if candidate_accuracy > accuracy + 1e-12:
                current, accuracy, accepted = candidate, candidate_accuracy, accepted + 1
        return {"current": current.tolist(), "train_accuracy": accuracy,
                "accepted": int(state["accepted"]) + accepted, "proposed": int(state["proposed"]) + len(outcomes),
                "record": {"batches": len(outcomes), "exact_batches": sum(o.exact for o in outcomes),
                           "accepted": accepted}}

    def current(self, state: dict) -> np.ndarray | None:
        return np.asarray(state["current"], dtype=np.int64)
