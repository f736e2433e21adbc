"""The incumbent improver: runs the local search of :mod:`.local_search` on a solver's incumbents
and builds a first network from nothing (construction heuristic)."""

from __future__ import annotations

import time

import numpy as np

from mipnn_pyomo.heuristics.local_search import ScoreFunction, guided_local_search, local_search, pair_outputs
from mipnn_pyomo.network import IntegerNetwork


class IncumbentImprover:
    """Runs local search on a solver's incumbents and keeps the improved networks to hand back.

    ``construct()`` gives a first network from nothing (all weights zero, output biases chosen so
    that max-correct's one-positive-output rows hold) improved by local search: a construction
    heuristic that uses no outside information."""

    def __init__(self, instance, time_budget: float = 2.0, seed: int = 0, total_budget: float | None = None,
                 stop=None):
        d = instance.data
        self.instance = instance
        self.data = d
        self.objective = instance.spec
        outputs = instance.outputs
        self.score = ScoreFunction.for_objective(self.objective, outputs)
        # The hinge guide stays inside the objective's feasible set (max-correct: one non-negative
        # output per sample) only for more than two classes; with two, pair_outputs repairs it.
        feasible = (lambda S: self.objective.feasible(S, outputs)) if d.n_classes > 2 else None
        if getattr(instance, "holds", ()):  # a recipe stage: never leave the held values (instance.Hold)
            self.score, feasible = self._keeping_holds(instance, feasible)
        self.guide = ScoreFunction.hinge_guide(outputs, feasible)
        # Toward a training-accuracy target: count of strictly correct samples, hinge tie-break.
        self.accuracy_guide = ScoreFunction.accuracy_guide(outputs)
        self.time_budget = time_budget
        self.total_budget = total_budget
        self.spent = 0.0
        self.seed = seed
        self.calls = 0
        self.stop = stop or (lambda: False)
        self.candidates: list[tuple[IntegerNetwork, float]] = []
        self.fixed_zero_inputs = np.flatnonzero(~np.any(d.X != 0, axis=0))

    def _keeping_holds(self, instance, feasible):
        """The search score and the guide's feasible set, -inf / False where a hold is broken."""
        base, keeps = self.score, instance.scores_keep_holds
        score = ScoreFunction(lambda S: np.where(keeps(S), base.value(S), -np.inf), base.outputs,
                              tie_break=base.tie_break, guided=base.guided, name=base.name)
        return score, (keeps if feasible is None else (lambda S: keeps(S) & feasible(S)))

    def sign_objective(self, value: float) -> float:
        """Search values are 'larger is better': back to the objective's own sense."""
        return self.objective.in_mip_sense(value)

    def budget_left(self) -> bool:
        return self.total_budget is None or self.spent < self.total_budget

    def improve(self, network: IntegerNetwork, done=None) -> tuple[IntegerNetwork, float, float]:
        """(network, objective, objective of the input) with objectives in the MIP's own sense.
        Other feasible networks met on the way are appended to ``self.candidates``. ``done(S)``
        ends the search early (see :meth:`target_reached`)."""
        t = time.perf_counter()
        budget = self.time_budget if self.total_budget is None else min(self.time_budget,
                                                                        self.total_budget - self.spent)
        found = guided_local_search(network, self.data.X, self.score, self.guide, time_budget=max(budget, 0.05),
                                    seed=self.seed + 7919 * self.calls, fixed_zero_inputs=self.fixed_zero_inputs,
                                    stop=self.stop, done=done)
        self.calls += 1
        self.spent += time.perf_counter() - t
        if found.guided is not None:
            self.candidates.append((found.guided[0], self.sign_objective(found.guided[1])))
        return found.network, self.sign_objective(found.value), self.sign_objective(found.start_value)

    def target_reached(self, target_accuracy: float | None):
        """``done(S)`` for the searches: ceil(target N) samples strictly correct (None: never)."""
        if target_accuracy is None:
            return None
        goal = float(np.ceil(target_accuracy * self.data.n_samples - 1e-9))
        return lambda S: self.accuracy_guide.objective_value(S) >= goal

    def toward_target(self, network: IntegerNetwork, target_accuracy: float,
                      time_budget: float) -> IntegerNetwork | None:
        """Local search by training accuracy from ``network`` (a local optimum of the objective),
        stopping as soon as ceil(target N) samples are strictly correct. The objective's local
        optimum often sits a few samples short of the target (min-hinge with P >= 7 above all); any
        network is a sat-margin / min-hinge solution, and max-correct's two-output networks are
        made one by :func:`pair_outputs`. A result that is a MIP solution and meets the target is
        appended to ``candidates`` (with its objective) and returned; otherwise None."""
        d = self.data
        t = time.perf_counter()
        net, _, _ = local_search(network, d.X, self.accuracy_guide, time_budget=max(time_budget, 0.05),
                                 seed=self.seed + 104729 + self.calls, fixed_zero_inputs=self.fixed_zero_inputs,
                                 stop=self.stop, done=self.target_reached(target_accuracy))
        self.calls += 1
        self.spent += time.perf_counter() - t
        value = float(self.score.objective_value(net.output_scores(d.X)))
        if not np.isfinite(value) and net.n_outputs == 2:
            net = pair_outputs(net)
            value = float(self.score.objective_value(net.output_scores(d.X)))
        if not np.isfinite(value) or net.accuracy(d.X, d.y) < target_accuracy:
            return None
        self.candidates.append((net, self.sign_objective(value)))
        return net

    def construct(self, time_budget: float = 3.0, target_accuracy: float | None = None,
                  extra_for_target: float = 0.0) -> IntegerNetwork:
        """Restarts of the search from the zero network (each with its own random move order) until
        ``time_budget`` seconds are spent (up to ``extra_for_target`` more while no network meets
        ``target_accuracy``), a network (or a candidate) meets the target, or the objective reaches
        its trivial bound; the best network by objective. While the target is not met, each
        restart's result is also pushed toward it by :meth:`toward_target` (a candidate)."""
        d = self.data
        t_end = time.perf_counter() + time_budget
        best, best_value = None, None
        while not self.stop():
            now = time.perf_counter()
            if now >= t_end and best is not None and (target_accuracy is None or now >= t_end + extra_for_target):
                break  # out of time (longer while the target is not met)
            if now >= t_end + max(time_budget, extra_for_target):
                break  # (and while no network is feasible yet)
            # with a target, each search stops as soon as it meets it: the solve stops there anyway
            net, value, _ = self.improve(self._zero_network(), done=self.target_reached(target_accuracy))
            if not np.isfinite(value):
                continue  # not a MIP solution (max-correct: an output pattern its rows forbid)
            if self.objective.better(value, best_value):
                best, best_value = net, value
            if self.objective.at_bound(best_value, self.instance.outputs):
                break
            if target_accuracy is None:
                continue
            if any(n.accuracy(d.X, d.y) >= target_accuracy for n in [best] + [c for c, _ in self.candidates]):
                break
            left = t_end + max(time_budget, extra_for_target) - time.perf_counter()
            if self.toward_target(net, target_accuracy, min(max(left, 0.05), 2 * self.time_budget)) is not None:
                break
        return best if best is not None else self._zero_network()

    def _zero_network(self) -> IntegerNetwork:
        d = self.data
        sizes = d.layer_sizes
        weights = [np.zeros((a, b), dtype=np.int64) for a, b in zip(sizes[:-1], sizes[1:])]
        biases = [np.zeros(b, dtype=np.int64) for b in sizes[1:]]
        majority = int(np.bincount(d.y, minlength=d.n_classes).argmax())
        biases[-1][:] = -1
        biases[-1][majority] = 1
        return IntegerNetwork(weights, biases, d.P, preprocessing={"decimals": d.decimals},
                              P_first=getattr(d, "P_first", None))
