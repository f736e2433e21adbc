"""SCIP engine core, through Pyomo's ``scip_persistent`` interface (``pyscipopt`` wheel, SCIP inside).

Pyomo's persistent interface builds the ``pyscipopt.Model`` (``set_instance``) and keeps the map
Pyomo variable -> SCIP variable; the interface's ``solve`` sets the time limit, passes SCIP
parameters by name and reads the status and bounds. What it does not offer is reached through
the ``pyscipopt.Model`` it owns (``opt._solver_model``), before ``solve``:

* MIP start: a complete solution (every variable, from ``instance.start_values(network)``, and
  Pyomo's auxiliary objective variable set to the network's forward-pass objective) added with
  ``addSol``; Pyomo's own ``warmstart_discrete_vars`` gives only a partial solution that SCIP
  must complete by a sub-MIP;
* the incumbent callback and the accuracy-target stop: an event handler on ``BESTSOLFOUND``
  hands each new incumbent's weights, objective and dual bound to ``on_solution`` and calls
  ``interruptSolve()`` when it asks to stop. The same handler also listens to ``NODESOLVED`` and
  ``LPSOLVED`` to poll ``should_stop()`` (Python code runs in the main thread there, so the
  caller's SIGINT/SIGTERM flag handlers run too; SCIP's own Ctrl-C catching,
  ``misc/catchctrlc``, is off so that they see Ctrl-C).

Capabilities: time limit (``limits/time``), seed (``randomization/randomseedshift``), relative
gap (``limits/gap``), MIP start, incumbent callback, accuracy-target stop, interrupt. Threads:
**not available** — SCIP's branch and bound is sequential; its concurrent mode
(``solveConcurrent``) cannot run with Pyomo's ``solve`` or with event handlers, and ``lp/threads``
only concerns LP solvers that thread (SoPlex does not). ``threads`` is accepted and ignored.

Exactness: ``numerics/feastol`` = 1e-9 (SCIP's default 1e-6 is also its integrality tolerance:
u = 1 - 1e-6 times a big-M of ~100 would let a pre-activation of -1e-4 pass as >= 0).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import numpy as np
from pyomo.common.collections import ComponentMap

from mipnn_pyomo.errors import ModelConfigError, SolverUnavailableError
from mipnn_pyomo.solvers.standard_form import EngineResult

EXACTNESS_PARAMS = (("numerics/feastol", 1e-9),)  # (name, value) pairs
POLL_SECONDS = 0.05

OnSolution = Callable[[np.ndarray, float, float | None], bool]


def require_scip():
    try:
        import pyscipopt
        from pyomo.contrib.solver.solvers.scip.scip_persistent import ScipPersistent
    except ImportError as exc:
        raise SolverUnavailableError(f"SCIP needs pyscipopt ({exc}); pip install pyscipopt") from None
    return pyscipopt, ScipPersistent


def scip_version() -> str:
    try:
        import pyscipopt

        return f"SCIP {pyscipopt.Model().version()} (pyscipopt {pyscipopt.__version__})"
    except ImportError:
        return "not installed"


def solver_params(*, seed: int | None, mip_gap: float | None, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """SCIP parameters by name: seed, gap, then ``params``; the exactness tolerance and Ctrl-C off
    are always set last (``params`` cannot loosen them)."""
    out: dict[str, Any] = {}
    if seed is not None:
        out["randomization/randomseedshift"] = int(seed)
    if mip_gap is not None:
        out["limits/gap"] = float(mip_gap)
    out.update(params or {})
    out.update(EXACTNESS_PARAMS)
    out["misc/catchctrlc"] = False
    return out


def add_network_start(opt, instance, network) -> bool:
    """A complete solution from ``network``'s forward pass (every variable, the interface's fixed
    variables standing for mutable Params, and its auxiliary objective variable at the
    forward-pass objective). It is added only if SCIP's ``checkSol`` finds it feasible (a
    max-correct start with several non-negative outputs on a sample is not); returns that."""
    scip = opt._solver_model
    var_map = opt._pyomo_var_to_solver_var_map
    sol = scip.createSol()
    for var, value in instance.start_values(network).items():
        if var in var_map and value is not None:
            scip.setSolVal(sol, var_map[var], float(value))
    for param, svar in getattr(opt, "_pyomo_param_to_solver_param_map", {}).items():
        scip.setSolVal(sol, svar, float(param.value))  # the interface models mutable Params as fixed variables
    if getattr(opt, "_obj_var", None) is not None:
        scip.setSolVal(sol, opt._obj_var, float(instance.evaluate(network)))
    if not scip.checkSol(sol, printreason=False, original=True):
        scip.freeSol(sol)
        return False
    return bool(scip.addSol(sol, free=True))


def solve_scip(instance, *, time_limit: float | None, threads: int | None = None, seed: int | None,
               start_network=None, on_solution: OnSolution | None = None,
               should_stop: Callable[[], bool] | None = None, mip_gap: float | None = None,
               params: Mapping[str, Any] | None = None, verbose: bool = False) -> EngineResult:
    """Solve ``instance`` with SCIP (module docstring). ``threads`` is ignored (sequential B&B);
    ``time_limit`` covers building SCIP's model and adding the start too."""
    pyscipopt, ScipPersistent = require_scip()
    t0 = time.perf_counter()
    opt = ScipPersistent()
    opt.set_instance(instance.model)
    build_s = time.perf_counter() - t0
    scip = opt._solver_model
    weight_vars = [opt._pyomo_var_to_solver_var_map.get(v) for v in instance.weight_variables()]
    fallback = np.array([float(v.value) if v.fixed and v.value is not None else 0.0 for v in instance.weight_variables()])
    start_accepted = add_network_start(opt, instance, start_network) if start_network is not None else None
    handler = _incumbent_handler(pyscipopt, scip, weight_vars, fallback, on_solution, should_stop)
    scip.includeEventhdlr(handler, "mipnn_incumbents", "incumbents to the caller; stop on request")
    try:
        opt.solve(instance.model, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                  time_limit=None if time_limit is None else max(0.01, time_limit - (time.perf_counter() - t0)),
                  tee=bool(verbose),
                  solver_options=solver_params(seed=seed, mip_gap=mip_gap, params=params))
    except (KeyError, LookupError, ValueError) as exc:
        raise ModelConfigError(f"bad SCIP parameter: {exc}") from None
    if handler.error is not None:
        raise handler.error
    result = _result(opt, scip, handler, weight_vars, fallback, build_s)
    result.start_accepted = start_accepted
    return result


def _incumbent_handler(pyscipopt, scip, weight_vars, fallback, on_solution, should_stop):
    """An event handler (BESTSOLFOUND, NODESOLVED, LPSOLVED): incumbents to ``on_solution``,
    ``should_stop()`` polled at most every 50 ms, ``interruptSolve()`` on request."""
    EV = pyscipopt.SCIP_EVENTTYPE

    class IncumbentHandler(pyscipopt.Eventhdlr):
        def __init__(self) -> None:
            super().__init__()
            self.t0 = time.perf_counter()
            self.last_poll = 0.0
            self.reported = 0
            self.stop_reason: str | None = None
            self.timeline: list[tuple[float, float, float | None]] = []
            self.error: BaseException | None = None

        def eventinit(self) -> None:
            for kind in (EV.BESTSOLFOUND, EV.NODESOLVED, EV.LPSOLVED):
                self.model.catchEvent(kind, self)

        def eventexit(self) -> None:
            for kind in (EV.BESTSOLFOUND, EV.NODESOLVED, EV.LPSOLVED):
                self.model.dropEvent(kind, self)

        def eventexec(self, event) -> None:
            try:
                best_count = self.model.getNBestSolsFound()  # counts a MIP start too (found before the handler listened)
                if best_count > self.reported and self.model.getNSols() > 0:
                    self.reported = best_count
                    self.incumbent()
                now = time.perf_counter()
                if self.stop_reason is None and should_stop is not None and now - self.last_poll >= POLL_SECONDS:
                    self.last_poll = now
                    if should_stop():
                        self.stop_reason = "interrupt"
            except BaseException as exc:  # re-raised after the solve
                self.error, self.stop_reason = exc, "error"
            if self.stop_reason is not None:
                self.model.interruptSolve()

        def incumbent(self) -> None:
            sol = self.model.getBestSol()
            objective = self.model.getSolObjVal(sol)
            bound = self.model.getDualbound()
            self.timeline.append((time.perf_counter() - self.t0, objective, bound))
            if on_solution is not None and on_solution(weights_of(self.model, sol, weight_vars, fallback), objective, bound):
                self.stop_reason = "target"

    return IncumbentHandler()


def weights_of(scip, sol, weight_vars, fallback) -> np.ndarray:
    vec = fallback.copy()
    for pos, var in enumerate(weight_vars):
        if var is not None:
            vec[pos] = scip.getSolVal(sol, var)
    return vec


def _result(opt, scip, handler, weight_vars, fallback, build_s: float) -> EngineResult:
    status = scip.getStatus()
    has_solution = scip.getNSols() > 0
    name = "optimal" if status == "optimal" else "infeasible" if status == "infeasible" else (
        "feasible" if has_solution else "unknown")
    stop_reason = handler.stop_reason or ("interrupt" if status == "userinterrupt" else None)
    values = weights = objective = None
    if has_solution:
        sol = scip.getBestSol()
        values = ComponentMap((var, scip.getSolVal(sol, svar)) for var, svar in opt._pyomo_var_to_solver_var_map.items())
        weights = weights_of(scip, sol, weight_vars, fallback)
        objective = scip.getSolObjVal(sol)
    bound = None if name == "infeasible" else scip.getDualbound()
    if bound is not None and abs(bound) >= scip.infinity():
        bound = None
    message = f"SCIP status {status}"
    return EngineResult(
        engine="scip", engine_version=scip_version(), status=name, stop_reason=stop_reason,
        objective=objective, bound=bound, wall_s=scip.getSolvingTime(), build_s=build_s,
        values=values, weights=weights, timeline=list(handler.timeline), message=message,
    )

