"""HiGHS through Pyomo's ``contrib.solver`` interface (the open-source default).

The accuracy-target stop uses two HiGHS callbacks on the ``highspy.Highs`` object that Pyomo's
persistent interface owns: ``cbMipImprovingSolution`` hands every new incumbent to the
:class:`~mipnn_pyomo.solvers.base.IncumbentMonitor` (forward pass, timeline), and
``cbMipInterrupt`` stops the solve once the target is met or Ctrl-C was pressed.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from contextlib import ExitStack
from typing import ClassVar

import numpy as np

from mipnn_pyomo.errors import SolverError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.solvers.base import (
    Capabilities,
    IncumbentMonitor,
    SolveOptions,
    SolveResult,
    SolverAdapter,
    SolverName,
    Termination,
    sigint_as_flag,
)

# Exactness: an integrality slack of 1e-6 on u times a big-M of ~100 could let a pre-activation of
# -1e-4 pass as ">= 0". Tight tolerances keep the MIP's activations equal to the forward pass's.
DEFAULT_OPTIONS = {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}


class HighsAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.HIGHS
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True,
        objective_stop=True,
        warm_start=True,
        threads=True,
        time_limit=True,
        mip_gap=True,
        seed=True,
    )
    licence = "MIT (open source)"

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        try:
            import highspy  # noqa: F401
            from pyomo.contrib.solver.solvers.highs import Highs  # noqa: F401
        except ImportError as exc:
            return False, f"highspy is not installed ({exc}); pip install highspy"
        return True, ""

    @classmethod
    def version(cls) -> str:
        try:
            import highspy

            return f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
        except Exception:  # pragma: no cover
            return "unknown"

    def solve(self, instance, options: SolveOptions, warm_start: IntegerNetwork | None = None) -> SolveResult:
        self.require_available()
        from pyomo.contrib.solver.common.results import TerminationCondition as TC
        from pyomo.contrib.solver.solvers.highs import Highs
        import highspy

        model = instance.model
        opt = Highs()
        t_load = time.perf_counter()
        opt.set_instance(model)
        load_s = time.perf_counter() - t_load
        h = opt._solver_model
        col_of = opt._pyomo_var_to_solver_var_map
        # A weight in no constraint (a feature zero in every sample, paper variant) never reaches
        # HiGHS: it reads as 0, which changes nothing on the training data.
        weight_cols = np.array([col_of.get(id(v), -1) for v in instance.weight_variables()], dtype=np.int64)
        present = weight_cols >= 0

        def weights_in(columns: np.ndarray) -> np.ndarray:
            vec = np.zeros(len(weight_cols))
            vec[present] = columns[weight_cols[present]]
            return vec

        t0 = time.perf_counter()
        monitor = IncumbentMonitor(instance, options, t0)
        # Ctrl-C / SIGTERM from here on (heuristic included) stop the solve and keep the incumbent.
        signals = ExitStack()
        signals.enter_context(sigint_as_flag(monitor))
        n_cols = h.getNumCol()
        improver = None
        pending: list[np.ndarray] = []  # improved solutions waiting for the user-solution callback
        own_best: list = [None, None]  # best heuristic (objective, column vector), in case HiGHS never takes it
        # The heuristic moves every weight; with some weights fixed by the user it would leave the model.
        if options.heuristic and not any(v.fixed for v in instance.weight_variables()):
            from mipnn_pyomo.heuristics import IncumbentImprover

            improver = IncumbentImprover(instance, time_budget=options.heuristic_time,
                                         seed=options.seed or 0, total_budget=options.heuristic_total_time,
                                         stop=lambda: monitor.interrupt_requested)

        def weights_of(network) -> np.ndarray:
            return np.concatenate([w.ravel() for w in network.weights] + list(network.biases))

        def offer_candidates(bound=None) -> None:
            """Networks the heuristic met on the way that beat the best training accuracy so far:
            recorded (and returned if one meets the target)."""
            for net, value in improver.candidates:
                best_acc = max((inc.train_accuracy for inc in monitor.incumbents), default=-1.0)
                if net.accuracy(instance.data.X, instance.data.y) <= best_acc:
                    continue
                monitor.on_solution(weights_of(net), value, bound, source="local-search", payload=full_vector(net))
                if monitor.target_met:
                    break
            improver.candidates.clear()

        def full_vector(network) -> np.ndarray:
            vec = np.zeros(n_cols)
            for var, val in instance.start_values(network).items():
                col = col_of.get(id(var))
                if col is not None:
                    vec[col] = val
            return vec

        def on_improving(event) -> None:
            out = event.data_out
            sol = np.asarray(out.mip_solution)
            if sol.size == 0:
                return
            objective = float(out.objective_function_value)
            inc = monitor.on_solution(weights_in(sol), objective, float(out.mip_dual_bound), payload=sol.copy())
            if monitor.should_stop:
                event.interrupt()  # honoured where HiGHS passes input data with this event
                return
            if improver is not None and improver.budget_left():
                better, value, _ = improver.improve(monitor.best_network)
                if (value > objective + 1e-9) if instance.sense == "maximize" else (value < objective - 1e-9):
                    pending[:] = [full_vector(better)]
                    _keep_best(own_best, value, pending[0], instance.sense)
                    monitor.on_solution(weights_of(better), value, inc.bound, source="local-search",
                                        payload=pending[0].copy())
                if not monitor.target_met:
                    offer_candidates(inc.bound)

        def on_user_solution(event) -> None:
            if pending and event.data_in is not None:
                event.data_in.setSolution(pending.pop())

        def on_interrupt(event) -> None:
            if monitor.should_stop:
                event.interrupt()

        h.cbMipImprovingSolution += on_improving
        h.cbMipUserSolution += on_user_solution
        h.cbMipInterrupt += on_interrupt
        # The root LP can take long on big instances; HiGHS also polls these during LP solves.
        h.cbSimplexInterrupt += on_interrupt
        h.cbIpmInterrupt += on_interrupt

        warm_accepted = None
        start_network = warm_start
        if start_network is None and improver is not None:
            # construction heuristic: local search from the all-zero network (no outside information)
            budget = min(options.heuristic_construct_time, 0.01 * instance.data.n_samples)
            # while the accuracy target is not met, restarts may go on for up to 0.02 N s (at most
            # 5% of the time limit, 30 s): small instances are better left to the solver itself
            extra = min(30.0, 0.05 * (options.time_limit or 600.0), 0.02 * instance.data.n_samples)
            start_network = improver.construct(budget, options.target_accuracy, extra_for_target=extra)
            constructed = full_vector(start_network)
            _keep_best(own_best, instance.evaluate(start_network), constructed, instance.sense)
            monitor.on_solution(weights_of(start_network), instance.evaluate(start_network), None,
                                source="construction", payload=constructed)
            if not monitor.target_met:
                offer_candidates()
        if start_network is not None:
            values = instance.start_values(start_network)
            pairs = [(col_of[id(v)], val) for v, val in values.items() if id(v) in col_of]
            idx = np.array([c for c, _ in pairs], dtype=np.int32)
            vals = np.array([val for _, val in pairs], dtype=float)
            status = h.setSolution(len(idx), idx, vals)
            if warm_start is not None:
                warm_accepted = status == highspy.HighsStatus.kOk

        solver_options = dict(DEFAULT_OPTIONS)
        if options.seed is not None:
            solver_options["random_seed"] = int(options.seed)
        solver_options.update(options.extra)
        stream = io.StringIO()
        # HiGHS keeps one global thread pool per process, sized by the first solve; a later solve
        # asking for another thread count fails unless the pool is reset first.
        highspy.Highs.resetGlobalScheduler(True)
        # Pyomo does not map HiGHS's kInterrupt status and warns; the adapter maps it below.
        pyomo_logger = logging.getLogger("pyomo.contrib.solver.solvers.highs")
        previous_level = pyomo_logger.level
        pyomo_logger.setLevel(logging.ERROR)
        try:
            if monitor.interrupt_requested:  # Ctrl-C during the construction heuristic: do not start
                solver_options["time_limit"] = 1e-6
            res = opt.solve(
                model,
                tee=[stream] + ([sys.stdout] if options.verbose else []),
                load_solutions=False,
                raise_exception_on_nonoptimal_result=False,
                time_limit=solver_options.pop("time_limit", options.time_limit),
                threads=options.threads,
                rel_gap=options.mip_gap if options.mip_gap is not None else 0.0,
                solver_options=solver_options,
            )
        except Exception as exc:  # Pyomo/HiGHS failure: one clear message
            raise SolverError(f"HiGHS failed: {exc}") from None
        finally:
            pyomo_logger.setLevel(previous_level)
            signals.close()  # restores the handlers (and passes a SIGTERM on)
        wall = time.perf_counter() - t0
        log = stream.getvalue()

        model_status = h.getModelStatus()
        info = h.getInfo()
        has_solution = info.primal_solution_status == 2
        if monitor.interrupt_requested and not monitor.target_met:
            termination = Termination.INTERRUPTED
        elif model_status == highspy.HighsModelStatus.kInterrupt:
            termination = Termination.TARGET_REACHED if monitor.target_met else Termination.INTERRUPTED
        elif res.termination_condition == TC.convergenceCriteriaSatisfied:
            termination = Termination.OPTIMAL
        elif res.termination_condition == TC.maxTimeLimit:
            termination = Termination.TIME_LIMIT
        elif res.termination_condition in (TC.provenInfeasible, TC.infeasibleOrUnbounded):
            termination = Termination.INFEASIBLE
        elif res.termination_condition == TC.objectiveLimit:
            termination = Termination.TARGET_REACHED
        elif res.termination_condition == TC.error:
            termination = Termination.ERROR
        else:
            termination = Termination.OTHER
        if warm_start is not None and warm_accepted:
            warm_accepted = _start_was_used(log)
        final_vector = None
        objective = bound = None
        if np.isfinite(info.mip_dual_bound) and abs(info.mip_dual_bound) < 1e30:
            bound = float(info.mip_dual_bound)
        if has_solution or own_best[1] is not None:
            if has_solution:
                columns = np.asarray(h.getSolution().col_value)
                objective = float(info.objective_function_value)
            if own_best[1] is not None and (objective is None or _better(own_best[0], objective, instance.sense)):
                columns, objective = own_best[1], own_best[0]  # a heuristic network HiGHS did not take up
            if termination == Termination.OPTIMAL and bound is None:
                bound = objective
            if monitor.target_met and monitor.target_payload is not None:
                # Return the network that met the target, not a later incumbent of lower accuracy.
                columns, objective = monitor.target_payload, monitor.target_objective
                termination = Termination.TARGET_REACHED
            final_vector = weights_in(columns)
            # The model's variables hold the returned solution (for the exactness check).
            for var_id, col in col_of.items():
                var = opt._vars[var_id][0] if hasattr(opt, "_vars") else None
                if var is not None:
                    var.set_value(float(columns[col]), skip_validation=True)
        return self.finish(
            instance,
            monitor,
            termination=termination,
            final_vector=final_vector,
            objective=objective,
            bound=bound,
            wall_s=wall,
            options=options,
            log=log,
            load_s=load_s,
            warm_start_accepted=warm_accepted,
        )


def _better(a: float, b: float, sense: str) -> bool:
    return a > b + 1e-9 if sense == "maximize" else a < b - 1e-9


def _keep_best(slot: list, objective: float, columns: np.ndarray, sense: str) -> None:
    if slot[0] is None or _better(objective, slot[0], sense):
        slot[0], slot[1] = objective, columns.copy()


def _start_was_used(log: str) -> bool:
    """HiGHS logs "MIP start solution is feasible: objective value is ..." when it takes the start."""
    return "mip start solution is feasible" in log.lower()
