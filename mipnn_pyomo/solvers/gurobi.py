"""Gurobi through Pyomo's legacy ``gurobi_persistent`` interface.

Why the legacy interface: it is the one whose callbacks work here (``opt.set_callback(cb)`` with
``cb(model, solver, where)``), and it accepts ``warmstart=True``. The contrib.solver interface's
``Results`` object is not used; the adapter reads status, objective, bound and solution count from
the ``gurobipy.Model`` that the persistent interface owns (``opt._solver_model``), which is exact
and has no "raise on non-optimal" behaviour to work around.

* Accuracy-target stop: on every ``MIPSOL`` callback the incumbent's weights go to the
  :class:`~mipnn_pyomo.solvers.base.IncumbentMonitor` (forward pass, timeline); once the target is
  met (or Ctrl-C was pressed) the callback calls ``terminate()``. For ``max-correct`` the objective
  counts correctly classified samples, so ``BestObjStop = ceil(target * N)`` also stops Gurobi
  itself at the first incumbent that good.
* Licence: the pip wheel ships a size-limited licence (2,000 variables and 2,000 constraints).
  :meth:`GurobiAdapter.check_instance` compares the model as Gurobi sees it with that limit before
  solving and raises :class:`SolverUnavailableError` naming both sizes. A full licence is detected
  once per process (a 2,001-variable probe model) and lifts the check.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from typing import ClassVar

import numpy as np

from mipnn_pyomo.errors import SolverError, SolverUnavailableError
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

SIZE_LIMIT = 2000  # variables and constraints of the size-limited (pip) licence

# Exactness (see solvers/highs.py): an integrality slack of 1e-5 (Gurobi's default) on u times a
# big-M of ~100 could let a pre-activation of -1e-3 pass as ">= 0". 1e-9 is Gurobi's minimum.
DEFAULT_OPTIONS = {"IntFeasTol": 1e-9, "FeasibilityTol": 1e-9}


@functools.cache
def _licence_probe() -> tuple[bool, str]:
    """(full licence?, description), found once per process by optimising an empty model of
    SIZE_LIMIT + 1 variables: a size-limited licence refuses it with error 10010."""
    import gurobipy as gp

    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
    except gp.GurobiError as exc:
        return False, f"no usable Gurobi licence ({exc})"
    try:
        model = gp.Model(env=env)
        model.addVars(SIZE_LIMIT + 1)
        try:
            model.optimize()
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010 or "size-limited" in str(exc).lower():
                return False, f"size-limited (pip) licence: at most {SIZE_LIMIT:,} variables and {SIZE_LIMIT:,} constraints"
            return False, f"licence check failed ({exc})"
        finally:
            model.dispose()
        return True, "full licence (no size limit)"
    finally:
        env.dispose()


class GurobiAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.GUROBI
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True,
        objective_stop=True,
        warm_start=True,
        threads=True,
        time_limit=True,
        mip_gap=True,
        seed=True,
    )
    licence = "commercial (pip wheel: size-limited licence)"

    def __init__(self) -> None:
        self._prepared = None  # (model id, persistent solver, load seconds) from check_instance

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

    @classmethod
    def has_full_licence(cls) -> bool:
        return cls.is_available() and _licence_probe()[0]

    @classmethod
    def licence_info(cls) -> str:
        if not cls.is_available():
            return cls.licence
        return f"commercial; {_licence_probe()[1]}"

    # ------------------------------------------------------------------ instance checks

    def _load(self, instance):
        """A gurobi_persistent solver holding ``instance.model`` (built once, reused by solve)."""
        if self._prepared is not None and self._prepared[0] == id(instance.model):
            return self._prepared[1], self._prepared[2]
        from pyomo.common.tee import capture_output
        from pyomo.environ import SolverFactory

        opt = SolverFactory("gurobi_persistent")
        t0 = time.perf_counter()
        with capture_output(capture_fd=True):  # the licence banner goes to stdout
            opt.set_instance(instance.model)
            opt._solver_model.update()
        load_s = time.perf_counter() - t0
        self._prepared = (id(instance.model), opt, load_s)
        return opt, load_s

    def gurobi_size(self, instance) -> tuple[int, int]:
        """(variables, constraints) of the model as Gurobi sees it."""
        opt, _ = self._load(instance)
        m = opt._solver_model
        return int(m.NumVars), int(m.NumConstrs + m.NumSOS + m.NumQConstrs + m.NumGenConstrs)

    def check_instance(self, instance) -> None:
        self.require_available()
        if _licence_probe()[0]:
            return
        # Pyomo's counts are upper bounds of Gurobi's (unreferenced variables are not sent).
        if instance.sizes.get("variables", 0) <= SIZE_LIMIT and instance.sizes.get("constraints", 0) <= SIZE_LIMIT:
            return
        n_vars, n_cons = self.gurobi_size(instance)
        if n_vars > SIZE_LIMIT or n_cons > SIZE_LIMIT:
            self._prepared = None
            raise SolverUnavailableError(
                f"Gurobi cannot solve this instance: it needs {n_vars:,} variables and {n_cons:,} constraints; "
                f"the size-limited Gurobi licence allows {SIZE_LIMIT:,} of each; install a full licence "
                "(see solvers/README.md) or use a smaller instance"
            )

    # ------------------------------------------------------------------ solve

    def solve(self, instance, options: SolveOptions, warm_start: IntegerNetwork | None = None) -> SolveResult:
        self.require_available()
        self.check_instance(instance)
        import gurobipy as gp
        from gurobipy import GRB

        opt, load_s = self._load(instance)
        self._prepared = None  # one solve per load: a later solve rebuilds
        grb = opt._solver_model
        var_map = opt._pyomo_var_to_solver_var_map
        weight_vars = [var_map[v] for v in instance.weight_variables()]

        params = dict(DEFAULT_OPTIONS)
        params["MIPGap"] = options.mip_gap if options.mip_gap is not None else 0.0
        if options.time_limit is not None:
            params["TimeLimit"] = float(options.time_limit)
        if options.threads is not None:
            params["Threads"] = int(options.threads)
        if options.seed is not None:
            params["Seed"] = int(options.seed) % 2_000_000_000
        target = options.target_accuracy
        if target is not None and instance.objective == "max-correct":
            # the objective counts correctly classified samples: stop at the first incumbent that good
            params["BestObjStop"] = float(math.ceil(target * instance.data.n_samples - 1e-9))
        params.update(options.extra)

        warm_accepted = None
        if warm_start is not None:
            for var, value in instance.start_values(warm_start).items():
                var.set_value(value, skip_validation=True)

        t0 = time.perf_counter()
        monitor = IncumbentMonitor(instance, options, t0)
        log_lines: list[str] = []

        def callback(model, solver, where) -> None:  # noqa: ARG001
            m = solver._solver_model
            if where == GRB.Callback.MESSAGE:
                msg = m.cbGet(GRB.Callback.MSG_STRING)
                log_lines.append(msg)
                if options.verbose:
                    sys.stdout.write(msg)
                return
            if where == GRB.Callback.MIPSOL:
                vector = m.cbGetSolution(weight_vars)
                obj = m.cbGet(GRB.Callback.MIPSOL_OBJ)
                bnd = m.cbGet(GRB.Callback.MIPSOL_OBJBND)
                monitor.on_solution(np.asarray(vector), float(obj), float(bnd))
            if monitor.should_stop:
                m.terminate()

        opt.set_callback(callback)
        for key, value in params.items():
            opt.options[key] = value
        try:
            with sigint_as_flag(monitor):
                opt.solve(
                    tee=False,
                    load_solutions=False,
                    warmstart=warm_start is not None,
                )
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010:
                raise SolverUnavailableError(f"Gurobi refused the instance: {exc}; install a full licence") from None
            raise SolverError(f"Gurobi failed: {exc}") from None
        except Exception as exc:
            raise SolverError(f"Gurobi failed: {exc}") from None
        finally:
            opt.set_callback(None)
        wall = time.perf_counter() - t0
        log = "".join(log_lines)

        status = grb.Status
        if status == GRB.OPTIMAL:
            termination = Termination.OPTIMAL
        elif status == GRB.INTERRUPTED:
            termination = Termination.TARGET_REACHED if monitor.target_met else Termination.INTERRUPTED
        elif status == GRB.TIME_LIMIT:
            termination = Termination.TIME_LIMIT
        elif status in (GRB.INFEASIBLE, GRB.INF_OR_UNBD):
            termination = Termination.INFEASIBLE
        elif status == GRB.USER_OBJ_LIMIT:
            termination = Termination.OTHER  # finish_result turns it into target_reached after the forward pass
        else:
            termination = Termination.OTHER

        if warm_start is not None:
            warm_accepted = _start_was_accepted(log)

        final_vector = objective = bound = None
        if grb.SolCount > 0:
            final_vector = np.asarray(grb.getAttr("X", weight_vars))
            objective = float(grb.ObjVal)
            try:
                bound = float(grb.ObjBound)
            except (gp.GurobiError, AttributeError):
                bound = None
            opt.load_vars()  # the model's variables now hold the final solution (for exactness checks)
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


def _start_was_accepted(log: str) -> bool | None:
    """Gurobi's log says whether the MIP start gave a solution:
    "User MIP start produced solution with objective ..." (accepted) or
    "User MIP start did not produce a new incumbent solution" / "... violates ..." (not)."""
    lowered = log.lower()
    if "user mip start produced solution" in lowered or "loaded user mip start" in lowered:
        return True
    if "user mip start did not produce" in lowered or "mip start violates" in lowered or "user mip start violates" in lowered:
        return False
    return None
