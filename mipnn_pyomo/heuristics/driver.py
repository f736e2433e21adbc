"""The solver-independent heuristic driver: a first network, and an improvement hook on incumbents.

Every solver adapter uses the same driver and only wires it to its own mechanism
(``solvers/base.py``'s flow does the rest):

* :meth:`HeuristicDriver.construct` gives the MIP start when the caller has none (local search from
  the zero network, :meth:`IncumbentImprover.construct`); its time counts against the time limit.
* :meth:`HeuristicDriver.on_incumbent` is called with each solver incumbent and returns a better
  network (local search, :meth:`IncumbentImprover.improve`) or None. Adapters with a callback that
  accepts solutions hand it back to the running solver (HiGHS ``cbMipUserSolution``, Gurobi
  ``cbSetSolution``); CBC has no callbacks and uses the construction as its MIP start only.

Each network the heuristic offers is recorded in the monitor's timeline (source ``construction``
or ``local-search``); the monitor keeps the best of them (``own_best``), so a heuristic network the
solver never takes up is still the result when it is the best. The driver knows the monitor only
by duck typing (``on_solution``, ``best_accuracy``, ``target_met``, ``interrupt_requested``): no
import of the solver layer.
"""

from __future__ import annotations

from mipnn_pyomo.heuristics.improver import IncumbentImprover
from mipnn_pyomo.network import IntegerNetwork

CONSTRUCTION = "construction"
LOCAL_SEARCH = "local-search"


class HeuristicDriver:
    """Local search around one solve. ``options`` is the solve's SolveOptions (heuristic times,
    seed, time limit, accuracy target); ``monitor`` records every network offered."""

    def __init__(self, instance, options, monitor, time_left=None):
        self.instance = instance
        self.options = options
        self.monitor = monitor
        self.time_left = time_left or (lambda: None)  # seconds left of the solve's limit (None: no limit)
        self.improver = IncumbentImprover(instance, time_budget=options.heuristic_time, seed=options.seed or 0,
                                          total_budget=options.heuristic_total_time,
                                          stop=lambda: monitor.interrupt_requested)
        self.best: tuple[IntegerNetwork, float] | None = None  # the heuristic's own best (MIP sense)

    def _better(self, value: float, than: float | None) -> bool:
        if than is None:
            return True
        return value > than + 1e-9 if self.instance.sense == "maximize" else value < than - 1e-9

    def _offer(self, network: IntegerNetwork, value: float, bound, source: str) -> None:
        if getattr(self.instance, "holds", ()) and not self.instance.holds_met(network):
            return  # a recipe stage: a network that breaks a held value is no solution
        if self.best is None or self._better(value, self.best[1]):
            self.best = (network, value)
        self.monitor.on_solution(network, value, bound, source)

    def construct(self, time_left: float | None) -> IntegerNetwork:
        """The first network, from nothing. Budget: min(construct time, 0.01 N s), plus up to
        min(30 s, 5% of the limit, 0.02 N s) while the accuracy target is not met; both at most a
        third of the time left, so the solver keeps most of the limit."""
        options, n = self.options, self.instance.data.n_samples
        budget = min(options.heuristic_construct_time, 0.01 * n)
        extra = min(30.0, 0.05 * (options.time_limit or 600.0), 0.02 * n)
        if time_left is not None:
            budget, extra = min(budget, time_left / 3), min(extra, time_left / 3)
        network = self.improver.construct(budget, options.target_accuracy, extra_for_target=extra)
        self._offer(network, self.instance.evaluate(network), None, CONSTRUCTION)
        self._offer_candidates(None)
        return network

    def on_incumbent(self, network: IntegerNetwork, objective: float, bound) -> IntegerNetwork | None:
        """Local search from a solver incumbent: the improved network if it beats ``objective``
        (recorded as ``local-search``), else None. Candidates met on the way that beat the best
        training accuracy so far are recorded too (one of them may meet the target)."""
        left = self.time_left()
        if not self.improver.budget_left() or self.monitor.should_stop or (left is not None and left < 0.2):
            return None
        # a search runs inside the solver's callback, where the solver's clock cannot stop it
        self.improver.time_budget = self.options.heuristic_time if left is None else min(self.options.heuristic_time,
                                                                                         left / 4)
        improved, value, _ = self.improver.improve(network)
        result = None
        if self._better(value, objective):
            self._offer(improved, value, bound, LOCAL_SEARCH)
            result = improved
        self._offer_candidates(bound)
        return result

    def _offer_candidates(self, bound) -> None:
        """Networks the search met on the way whose training accuracy beats every recorded one."""
        d = self.instance.data
        for network, value in self.improver.candidates:
            if self.monitor.target_met:
                break
            if network.accuracy(d.X, d.y) > self.monitor.best_accuracy():
                self._offer(network, value, bound, LOCAL_SEARCH)
        self.improver.candidates.clear()
