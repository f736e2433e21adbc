"""This package's method ``neighbourhood``: block-coordinate ascent on the training accuracy, one
hidden neuron at a time, each step an exact search over all training rows (docs/batch.md).

* Start: as ``local`` (gradient descent on the training split, or the zero network).
* Epoch e visits the hidden neurons in the order derived_rng(seed, 59, e).permutation(H), in rounds
  of ``round_size`` neurons solved in parallel against the same current network v. The step of
  neuron j frees W1[:, j], b1_j, W2[j, :] and b2 within [-P, P] and the ball sum |p - v_p| <= k; only
  the rows a move in the ball can change (:func:`.neighbourhood.classify_rows`) are sent to the
  worker, which runs the local search and then (engine ``mip``) the exact MIP of
  :mod:`.neighbourhood_mip` warm-started from the local search's point.
* Every step is checked twice: the worker checks the MIP against the forward pass on the rows it
  was given; here, the new network's forward pass on all training rows must leave every safe row
  as it was and count exactly safe-correct + the worker's count. A step failing either is unused
  (and counted as not exact).
* Then, in step order, each change d = w - v is applied to the current network, clipped to
  [-P, P], and kept if the number of correct training rows rises strictly. The result is the
  network, among the start and the epochs' ends, with the best validation accuracy.
"""

from __future__ import annotations

import numpy as np

from mipnn_pyomo.batch.config import PURPOSE_NEURON, derived_rng, derived_seed
from mipnn_pyomo.batch.local import LocalMethod
from mipnn_pyomo.batch.neighbourhood import (NeighbourhoodTask, RowClasses, classify_rows, correct_mask, grid_inputs,
                                             neuron_view, tie_thresholds, unpack)

STEP_STATS = ("improving", "mismatches", "ls_gain", "mip_gain", "mip_improved", "gained", "sensitive_rows")


class NeighbourhoodMethod(LocalMethod):
    name = "neighbourhood"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.X_int = grid_inputs(ctx.X_train, ctx.config.decimals)
        self._thresholds: np.ndarray | None = None

    def thresholds(self, tie_seed: int) -> np.ndarray:
        """Rule (correct)'s t + margin for every training row (computed once per run)."""
        if self._thresholds is None:
            t = tie_thresholds(self.ctx.X_train, self.ctx.y_train, self.ctx.n_classes, tie_seed, self.ctx.config.decimals)
            t += self.ctx.config.margin
            t[np.arange(len(t)), self.ctx.y_train] = 0
            self._thresholds = t
        return self._thresholds

    def correct(self, vector) -> np.ndarray:
        """Forward pass: which training rows have s_y - s_c >= t_c + margin for all c != y (with
        margin 0: exactly the rows the network classifies correctly)."""
        network = self.ctx.network(vector)
        return correct_mask(network.output_scores(self.ctx.X_train), self.ctx.y_train, self.thresholds(network.tie_seed))

    def initial_state(self) -> dict:
        vector = self._start_vector()
        correct = int(self.correct(vector).sum())
        return {"current": vector.tolist(), "train_correct": correct, "train_accuracy": correct / len(self.ctx.y_train),
                "accepted": 0, "proposed": 0}

    def order(self, epoch: int) -> np.ndarray:
        c = self.ctx.config
        return derived_rng(c.seed, PURPOSE_NEURON, epoch).permutation(c.hidden[0])

    def rounds(self, epoch: int) -> list[list[int]]:
        ids, size = list(range(self.ctx.config.hidden[0])), self.ctx.config.round_size
        return [ids[i: i + size] for i in range(0, len(ids), size)]

    def row_classes(self, vector: np.ndarray, neuron: int) -> RowClasses:
        c = self.ctx.config
        view = neuron_view(self.X_int, vector, self.ctx.sizes, neuron, c.decimals)
        thresholds = self.thresholds(self.ctx.network(vector).tie_seed)
        radius = c.k + (c.mip_k or 0)  # with mip_k the step may go mip_k beyond the local search's ball
        return classify_rows(view, unpack(vector, self.ctx.sizes)[2], self.ctx.y_train, thresholds, radius, self.X_int,
                             c.decimals)

    def tasks(self, state: dict, epoch: int, batch_ids: list[int], time_limit: float) -> list:
        c, ctx = self.ctx.config, self.ctx
        current = np.asarray(state["current"], dtype=np.int64)
        order, out = self.order(epoch), []
        for b in batch_ids:
            neuron = int(order[b])
            classes = self.row_classes(current, neuron)
            rows = classes.sensitive
            out.append(NeighbourhoodTask(
                epoch=epoch, batch=b, neuron=neuron, X=ctx.X_train[rows], y=ctx.y_train[rows],
                thresholds=self.thresholds(ctx.network(current).tie_seed)[rows], vector=current, sizes=ctx.sizes, P=c.P, k=int(c.k),
                decimals=c.decimals, engine=c.engine, seed=derived_seed(c.seed, epoch, b), time_limit=time_limit,
                nodes=c.batch_nodes, ls_time=c.ls_time, margin=c.margin, mip_k=c.mip_k, safe_correct=int(classes.safe_correct.sum()),
                n_train=len(ctx.y_train)))
        return out

    def verify(self, start: np.ndarray, outcome) -> np.ndarray | None:
        """The driver's half of the exactness check; the new network's correct rows, None if it fails."""
        classes = self.row_classes(start, outcome.details["neuron"])
        correct = self.correct(outcome.vector)
        ok = (correct[classes.safe_correct].all() and not correct[classes.safe_wrong].any()
              and int(correct.sum()) == outcome.details["claimed_total"])
        return correct if ok else None

    def combine(self, state: dict, epoch: int, outcomes: list) -> dict:
        """Verify each step, then apply the changes in step order, each kept if the count rises."""
        P = self.ctx.config.P
        start = np.asarray(state["current"], dtype=np.int64)
        current, base = start.copy(), int(state["train_correct"])
        best, stats = base, dict.fromkeys(STEP_STATS, 0)
        accepted = 0
        for outcome in sorted(outcomes, key=lambda o: o.batch):
            if not outcome.exact:
                continue
            correct = self.verify(start, outcome)
            if correct is None:
                outcome.exact = False  # counted as not exact by the runner
                stats["mismatches"] += 1
                continue
            self._step_stats(stats, outcome, int(correct.sum()) - base)
            if not np.any(outcome.vector != start):
                continue
            candidate = np.clip(current + (outcome.vector - start), -P, P)
            count = int(self.correct(candidate).sum())
            if count > best and self._validation_allows(candidate, current):
                current, best, accepted = candidate, count, accepted + 1
        stats["gained"] = best - base
        n = len(self.ctx.y_train)
        return {"current": current.tolist(), "train_correct": best, "train_accuracy": best / n,
                "accepted": int(state["accepted"]) + accepted, "proposed": int(state["proposed"]) + len(outcomes),
                "record": {"batches": len(outcomes), "exact_batches": sum(o.exact for o in outcomes),
                           "accepted": accepted, **stats}}

    def _validation_allows(self, candidate: np.ndarray, current: np.ndarray) -> bool:
        """``accept="train-val"``: the validation accuracy must not drop; ``"train"``: always."""
        return self.ctx.config.accept == "train" or self.ctx.val_accuracy(candidate) >= self.ctx.val_accuracy(current)

    @staticmethod
    def _step_stats(stats: dict, outcome, gain: int) -> None:
        d = outcome.details
        stats["improving"] += int(gain > 0)
        stats["ls_gain"] += int(d["ls_count"] - d["start_count"])
        stats["mip_gain"] += int(d["mip_gain"])
        stats["mip_improved"] += int(d["mip_gain"] > 0)
        stats["sensitive_rows"] += int(d["sensitive_rows"])
