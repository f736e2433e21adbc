"""HiGHS through highspy, loaded straight from the standard-form matrices (the open-source default).

``_load`` compiles the Pyomo model once (:func:`.standard_form.compile_standard_form`, the compiler
the ``.mps`` writer and the CP-SAT/SCIP engines use) and hands the matrices to ``Highs.passModel``
in one call (column-wise ``A``, ``row_lower <= A x <= row_upper``, bounds, integrality, cost and
offset in the model's sense); column j is the compiled model's variable j, which maps every
solution back. This replaces Pyomo's persistent interface, whose per-constraint loading took most
of the time on large instances (docs/results/batch.md). Options by ``setOptionValue`` (read back
by ``getOptionValue``), the MIP start by ``setSolution``, and the callbacks ``cbMipImprovingSolution`` (each incumbent -> monitor + heuristic),
``cbMipUserSolution`` (hands the heuristic's network back to HiGHS) and ``cb*Interrupt`` (stops
once the target is met or on SIGINT/SIGTERM).
"""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
from pyomo.common.tee import TeeStream, capture_output

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
        except ImportError as exc:
            return False, f"highspy is not installed ({exc}); pip install highspy"
        return True, ""

    @classmethod
    def version(cls) -> str:
        import highspy

        return f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"

    def _load(self, instance):
        from mipnn_pyomo.solvers.standard_form import compile_standard_form

        sf = compile_standard_form(instance.model)
        h = load_standard_form(sf)
        # A weight in no row (a feature zero in every sample, paper variant) is not a column: 0.
        return SimpleNamespace(h=h, col_of=sf.column_index(), variables=sf.columns,
                               columns=np.arange(sf.n_cols, dtype=np.int64), params={}, pending=[], build_s=0.0)

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
        with capture_output(output=TeeStream(stream, *([sys.stdout] if ctx.options.verbose else [])), capture_fd=True):
            h.setOptionValue("log_to_console", True)
            h.run()
        info = h.getInfo()
        status = _STATUS.get(str(h.getModelStatus()).split(".")[-1], Termination.OTHER)
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
        if info.primal_solution_status != 2:
            return RunOutcome(status, None, bound, None, stream.getvalue())
        return RunOutcome(status, float(info.objective_function_value), bound,
                          self.solution_map(session.variables, np.asarray(h.getSolution().col_value)[session.columns]),
                          stream.getvalue())


def load_standard_form(sf):
    """A ``highspy.Highs`` holding ``sf``: one ``passModel`` call with the column-wise matrix
    (``a_format`` 1), ``row_lower <= A x <= row_upper`` (infinite sides as ``kHighsInf``), column
    bounds, integrality (1 = integer), cost, offset and sense (1 minimise, -1 maximise)."""
    import highspy

    with capture_output(output=io.StringIO(), capture_fd=True):  # the constructor prints a banner to stdout
        h = highspy.Highs()
    h.setOptionValue("log_to_console", False)
    A = sf.A.tocsc()
    A.sort_indices()
    integrality = np.where(sf.integer, 1, 0).astype(np.int32)
    status = h.passModel(sf.n_cols, sf.n_rows, int(A.nnz), 1, -1 if sf.sense == "maximize" else 1, float(sf.offset),
                         np.ascontiguousarray(sf.cost, dtype=np.float64), _inf(sf.col_lower), _inf(sf.col_upper),
                         _inf(sf.row_lower), _inf(sf.row_upper), A.indptr[:-1].astype(np.int32),
                         A.indices.astype(np.int32), A.data.astype(np.float64), integrality)
    if status == highspy.HighsStatus.kError:
        raise SolverError(f"HiGHS refused the model ({sf.n_rows} rows, {sf.n_cols} columns): passModel returned {status}")
    return h


def _inf(values: np.ndarray) -> np.ndarray:
    import highspy

    return np.clip(np.ascontiguousarray(values, dtype=np.float64), -highspy.kHighsInf, highspy.kHighsInf)


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
