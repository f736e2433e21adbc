"""Gurobi through Pyomo's legacy ``gurobi_persistent`` interface.

Why the legacy interface: it is the one whose callbacks work here (``opt.set_callback(cb)`` with
``cb(model, solver, where)``), and it accepts ``warmstart=True``. The contrib.solver interface's
``Results`` object is not used; the adapter reads status, objective, bound and solution count from
the ``gurobipy.Model`` that the persistent interface owns (``opt._solver_model``), which is exact
and has no "raise on non-optimal" behaviour to work around.

* Hooks: options through ``opt.options`` (read back from ``Model.Params``), the MIP start by
  ``warmstart=True`` (the variables' values), and one callback: on ``MIPSOL`` the incumbent goes to
  the monitor and the heuristic (``ctx.on_solver_incumbent``); a better network is handed back by
  ``cbSetSolution`` + ``cbUseSolution`` at the next ``MIPNODE``. Once the target is met (or on
  SIGINT/SIGTERM) the callback calls ``terminate()``. For ``max-correct``
  ``BestObjStop = ceil(target * N)`` also stops Gurobi at the first incumbent that good.
* Licence: the size limit of the pip wheel is checked before solving (:mod:`.gurobi_licence`).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from mipnn_pyomo.errors import SolverError, SolverUnavailableError
from mipnn_pyomo.solvers.base import Capabilities, RunOutcome, SolveContext, SolverAdapter, SolverName, Termination
from mipnn_pyomo.solvers.gurobi_licence import SIZE_LIMIT, GurobiLicence  # noqa: F401 - SIZE_LIMIT re-exported

# Exactness (see solvers/highs.py): an integrality slack of 1e-5 (Gurobi's default) on u times a
# big-M of ~100 could let a pre-activation of -1e-3 pass as ">= 0". 1e-9 is Gurobi's minimum.


class GurobiAdapter(GurobiLicence, SolverAdapter):
    name: ClassVar[SolverName] = SolverName.GUROBI
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True, objective_stop=True, warm_start=True, threads=True, time_limit=True,
        mip_gap=True, seed=True, incumbent_callback=True, heuristic_injection=True)
    OPTION_NAMES = {"time_limit": "TimeLimit", "threads": "Threads", "mip_gap": "MIPGap", "seed": "Seed"}
    DEFAULT_OPTIONS = {"IntFeasTol": 1e-9, "FeasibilityTol": 1e-9}
    START_ACCEPTED = ("user mip start produced solution", "loaded user mip start")
    START_REJECTED = ("user mip start did not produce", "mip start violates", "user mip start violates")

    # ------------------------------------------------------------------ availability

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        try:
            import gurobipy  # noqa: F401
            from pyomo.environ import SolverFactory
        except ImportError as exc:
            return False, f"gurobipy is not installed ({exc}); pip install gurobipy"
        try:
            opt = SolverFactory("gurobi_persistent")
            if not opt.available(exception_flag=False):
                return False, "gurobipy is installed but no Gurobi licence could be started"
        except Exception as exc:
            return False, f"Gurobi cannot start: {exc}"
        return True, ""

    @classmethod
    def version(cls) -> str:
        try:
            import gurobipy

            return ".".join(str(p) for p in gurobipy.gurobi.version())
        except Exception:  # pragma: no cover
            return "unknown"

    def _load(self, instance):
        opt = self._persistent(instance)
        self._prepared = None  # one solve per load: a later solve rebuilds
        var_map = opt._pyomo_var_to_solver_var_map
        return SimpleNamespace(opt=opt, grb=opt._solver_model, var_map=var_map,
                               weights=[var_map[v] for v in instance.weight_variables()], pending=[], log=[])

    def _apply_options(self, session, params):
        for key, value in params.items():
            session.opt.options[key] = value
        return params  # read back from Model.Params after the solve (Pyomo sets them then)

    def _set_start(self, session, values):
        for var, value in values.items():
            var.set_value(value, skip_validation=True)  # gurobi_persistent's warmstart reads them
        session.warm = True
        return None

    def _wire_heuristic(self, session, ctx: SolveContext) -> None:
        session.inject = True

    def _callback(self, session, ctx: SolveContext):
        from gurobipy import GRB

        def callback(model, solver, where) -> None:  # noqa: ARG001
            m = session.grb
            if where == GRB.Callback.MESSAGE:
                session.log.append(m.cbGet(GRB.Callback.MSG_STRING))
                if ctx.options.verbose:
                    sys.stdout.write(session.log[-1])
            elif where == GRB.Callback.MIPSOL:
                vector = np.asarray(m.cbGetSolution(session.weights))
                better = ctx.on_solver_incumbent(vector, m.cbGet(GRB.Callback.MIPSOL_OBJ),
                                                 m.cbGet(GRB.Callback.MIPSOL_OBJBND))
                if better is not None and getattr(session, "inject", False):
                    values = ctx.solution_values(better)
                    session.pending[:] = [([session.var_map[v] for v in values], list(values.values()))]
            elif where == GRB.Callback.MIPNODE and session.pending:
                grb_vars, values = session.pending.pop()
                m.cbSetSolution(grb_vars, values)
                session.log.append(f"mipnn: heuristic solution handed to Gurobi, objective {m.cbUseSolution():g}\n")
            if ctx.should_stop:
                m.terminate()

        return callback

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        import gurobipy as gp
        from gurobipy import GRB

        stop = self.objective_stop(ctx.instance, ctx.options)
        if stop is not None:
            session.opt.options["BestObjStop"] = float(stop)
        session.opt.set_callback(self._callback(session, ctx))
        try:
            session.opt.solve(tee=False, load_solutions=False, warmstart=getattr(session, "warm", False))
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010:
                raise SolverUnavailableError(f"Gurobi refused the instance: {exc}; install a full licence") from None
            raise SolverError(f"Gurobi failed: {exc}") from None
        finally:
            session.opt.set_callback(None)
        grb = session.grb
        ctx.params = {key: grb.getParamInfo(key)[2] for key in ctx.params}
        status = _STATUS.get(grb.Status, Termination.OTHER)
        log, bound = "".join(session.log), None
        if grb.SolCount == 0:
            return RunOutcome(status, None, None, None, log)
        try:
            bound = float(grb.ObjBound)
        except (gp.GurobiError, AttributeError):
            pass
        pyomo_vars = list(session.var_map.keys())
        values = grb.getAttr("X", [session.var_map[v] for v in pyomo_vars])
        return RunOutcome(status, float(grb.ObjVal), bound, self.solution_map(pyomo_vars, values), log)


_STATUS = {2: Termination.OPTIMAL, 9: Termination.TIME_LIMIT, 3: Termination.INFEASIBLE, 4: Termination.INFEASIBLE,
           11: Termination.INTERRUPTED, 15: Termination.OTHER}  # GRB.OPTIMAL, TIME_LIMIT, ..., USER_OBJ_LIMIT
