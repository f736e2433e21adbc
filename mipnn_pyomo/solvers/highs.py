"""HiGHS through Pyomo's ``contrib.solver`` interface (the open-source default).

Hooks on the ``highspy.Highs`` object that Pyomo's persistent interface owns: options by
``setOptionValue`` (read back by ``getOptionValue``), the MIP start by ``setSolution``, and the
callbacks ``cbMipImprovingSolution`` (each incumbent -> monitor + heuristic),
``cbMipUserSolution`` (hands the heuristic's network back to HiGHS) and ``cb*Interrupt`` (stops
once the target is met or on SIGINT/SIGTERM).
"""

from __future__ import annotations

import io
import logging
import sys
from types import SimpleNamespace
from typing import ClassVar

import numpy as np

from mipnn_pyomo.errors import SolverError
from mipnn_pyomo.solvers.base import (Capabilities, RunOutcome, SolveContext, SolverAdapter, SolverName,
                                      Termination)

_STATUS = {"kOptimal": Termination.OPTIMAL, "kTimeLimit": Termination.TIME_LIMIT,
           "kInfeasible": Termination.INFEASIBLE, "kUnboundedOrInfeasible": Termination.INFEASIBLE,
           "kObjectiveTarget": Termination.TARGET_REACHED, "kInterrupt": Termination.INTERRUPTED,
           "kSolveError": Termination.ERROR}


class HighsAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.HIGHS
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True, objective_stop=True, warm_start=True, threads=True, time_limit=True,
        mip_gap=True, seed=True, incumbent_callback=True, heuristic_injection=True)
    licence = "MIT (open source)"
    OPTION_NAMES = {"time_limit": "time_limit", "threads": "threads", "mip_gap": "mip_rel_gap", "seed": "random_seed"}
    # Exactness: an integrality slack of 1e-6 on u times a big-M of ~100 could let a pre-activation of
    # -1e-4 pass as ">= 0". Tight tolerances keep the MIP's activations equal to the forward pass's.
    DEFAULT_OPTIONS = {"mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
    START_ACCEPTED = ("mip start solution is feasible",)
    START_REJECTED = ("infeasibility of",)  # setSolution's row check: "Row n has infeasibility of ..."

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
        import highspy

        return f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"

    def _load(self, instance):
        from pyomo.contrib.solver.solvers.highs import Highs

        opt = Highs()
        opt.set_instance(instance.model)
        col_of = opt._pyomo_var_to_solver_var_map
        # A weight in no row (a feature zero in every sample, paper variant) never reaches HiGHS: 0.
        variables = [opt._vars[var_id][0] for var_id in col_of]
        return SimpleNamespace(opt=opt, h=opt._solver_model, col_of=col_of, variables=variables,
                               columns=np.array(list(col_of.values()), dtype=np.int64), params={}, pending=[])

    def _apply_options(self, session, params):
        import highspy

        session.params = dict(params)
        for key, value in params.items():
            if session.h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
                raise SolverError(f"HiGHS rejected option {key} = {value!r} (unknown name or bad value)")
        read = {key: session.h.getOptionValue(key) for key in params}
        return {key: value[-1] if isinstance(value, tuple) else value for key, value in read.items()}  # (status, value)

    def _set_start(self, session, values):
        import highspy

        pairs = [(session.col_of[id(v)], val) for v, val in values.items() if id(v) in session.col_of]
        idx = np.array([c for c, _ in pairs], dtype=np.int32)
        status = session.h.setSolution(len(idx), idx, np.array([val for _, val in pairs], dtype=float))
        return status == highspy.HighsStatus.kOk

    def _wire_heuristic(self, session, ctx: SolveContext) -> None:
        def on_user_solution(event) -> None:
            if session.pending and event.data_in is not None:
                event.data_in.setSolution(session.pending.pop())

        session.h.cbMipUserSolution += on_user_solution

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        import highspy

        h, weight_cols = session.h, _weight_columns(session, ctx.instance)

        def on_improving(event) -> None:
            out = event.data_out
            sol = np.asarray(out.mip_solution)
            if sol.size == 0:
                return
            vector = np.where(weight_cols >= 0, sol[np.maximum(weight_cols, 0)], 0.0)
            better = ctx.on_solver_incumbent(vector, float(out.objective_function_value), float(out.mip_dual_bound))
            if better is not None:
                session.pending[:] = [_columns(session, h.getNumCol(), ctx.solution_values(better))]

        def on_interrupt(event) -> None:
            if ctx.should_stop:
                event.interrupt()

        h.cbMipImprovingSolution += on_improving
        for cb in (h.cbMipInterrupt, h.cbSimplexInterrupt, h.cbIpmInterrupt):  # LPs poll these too
            cb += on_interrupt
        # HiGHS keeps one global thread pool per process, sized by the first solve: reset it.
        highspy.Highs.resetGlobalScheduler(True)
        stream = io.StringIO()
        pyomo_logger = logging.getLogger("pyomo.contrib.solver.solvers.highs")  # kInterrupt is unmapped: warns
        level = pyomo_logger.level
        pyomo_logger.setLevel(logging.ERROR)
        try:
            session.opt.solve(ctx.instance.model, tee=[stream] + ([sys.stdout] if ctx.options.verbose else []),
                              load_solutions=False, raise_exception_on_nonoptimal_result=False,
                              solver_options=session.params)
        finally:
            pyomo_logger.setLevel(level)
        info = h.getInfo()
        status = _STATUS.get(str(h.getModelStatus()).split(".")[-1], Termination.OTHER)
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
        if info.primal_solution_status != 2:
            return RunOutcome(status, None, bound, None, stream.getvalue())
        return RunOutcome(status, float(info.objective_function_value), bound,
                          self.solution_map(session.variables, np.asarray(h.getSolution().col_value)[session.columns]),
                          stream.getvalue())


def _weight_columns(session, instance) -> np.ndarray:
    """The column of each weight variable, in canonical order (-1: not in HiGHS)."""
    return np.array([session.col_of.get(id(v), -1) for v in instance.weight_variables()], dtype=np.int64)


def _columns(session, n_cols: int, values) -> np.ndarray:
    vec = np.zeros(n_cols)
    for var, val in values.items():
        col = session.col_of.get(id(var))
        if col is not None:
            vec[col] = val
    return vec
