"""CP-SAT engine core: a training instance compiled into an OR-Tools ``CpModel`` and solved.

Compilation (:func:`compile_cpsat`): the instance's standard form (``instance.standard_form()``:
numpy rows, :mod:`mipnn_pyomo.matrix_form`, or Pyomo's compiler as the ``.mps`` writer) made all-integer exactly by
:func:`~.standard_form.integer_form`:

* integer and binary variables (w, b, u, o, q) stay as they are;
* the products ``c[l,i,j,k]`` in [-P, P] become integer variables. This is exact. Where all four
  product rows (5)-(8) are present they force ``c = h w`` with ``h = 2u - 1 = +-1`` and ``w``
  integer, an integer. Where the output products are one-sided (sat-margin, min-hinge), ``c`` is
  only bounded on one side, ``Y c <= Y h w`` (an integer) and ``|c| <= P``, and ``c`` appears
  elsewhere only in the output rows through ``z = Y s``, which those objectives only ever want
  larger (sat-margin's ``Y s >= T - ...``; min-hinge's chords all have slope <= 0): any feasible
  fractional ``c`` can be replaced by ``Y ceil(Y c) `` (still <= ``Y h w``, still in [-P, P])
  without violating a row or worsening the objective. So every (w, b, u, q/o) projection and
  the optimum are unchanged, and the objective of a solution is still at most the forward
  pass's (``training.check_exactness``);
* any other continuous variable (min-hinge's epigraph ``t``) is replaced by ``T = D t``, T
  integer (exact: see :mod:`.standard_form`); its rows and the objective are scaled;
* every row is scaled by the smallest integer making its coefficients integral (first-layer rows
  on the 10^-d grid by 10^d); a coefficient is never rounded: a row that cannot be made integral
  within 1e-9 raises :class:`~.standard_form.InexactScalingError` (one line, the row's name).

Formulation advice: CP-SAT works better with two-sided output products
(``FormulationOptions(one_sided_output_products=False)``): every ``c`` is then fixed by (u, w), which
CP-SAT propagates; the one-sided rows only help LP-based solvers (Adult N = 100, sat-margin, P = 1,
hidden 16, 60 s, 2 workers, loaded machine: 183-186 of 200 two-sided against 138-170 one-sided).

Solve (:func:`solve_cpsat`): ``num_workers`` = threads, ``random_seed`` = seed,
``max_time_in_seconds`` = time limit; a network as a complete solution hint (the forward pass's
values of every variable, ``fix_variables_to_their_hinted_value`` off); every improving
solution goes to ``on_solution(weights, objective, bound) -> stop?`` (weights in
``instance.weight_variables()`` order); ``stop_search`` when it says stop or when
``should_stop()`` (polled every 50 ms from the calling thread, where Python's signal handlers
run; CP-SAT's own SIGINT catching is off so that those handlers see Ctrl-C). ``on_solution`` runs
in CP-SAT's callback thread, one call at a time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from pyomo.common.collections import ComponentMap

from mipnn_pyomo.errors import ModelConfigError, SolverError, SolverUnavailableError
from mipnn_pyomo.solvers.standard_form import (
    EngineResult,
    InexactScalingError,
    IntegerForm,
    integer_form,
    weight_columns,
)

PRODUCT_COMPONENT = "c"  # formulation's product variables c[l,i,j,k]: integral at every solution (module docstring)
POLL_SECONDS = 0.05

OnSolution = Callable[[np.ndarray, float, float | None], bool]


def require_ortools():
    try:
        from ortools.sat.python import cp_model
    except ImportError as exc:
        raise SolverUnavailableError(f"CP-SAT needs OR-Tools ({exc}); pip install ortools") from None
    return cp_model


def ortools_version() -> str:
    try:
        import ortools

        return ortools.__version__
    except ImportError:
        return "not installed"


def is_product_variable(var) -> bool:
    return var.parent_component().local_name == PRODUCT_COMPONENT


@dataclass
class CpsatModel:
    """A compiled instance: the CpModel, its variables (column j of ``form``), the weight columns."""

    model: Any  # cp_model.CpModel
    variables: list  # cp_model.IntVar, column order
    form: IntegerForm
    weight_cols: np.ndarray  # column of each weight variable, -1 if the variable is not in the model
    weight_fallback: np.ndarray  # value of weight variables absent from the model (fixed value or 0)
    build_s: float


def compile_cpsat(instance) -> CpsatModel:
    """The instance's model as an exact all-integer CpModel (module docstring)."""
    cp_model = require_ortools()
    t0 = time.perf_counter()
    try:
        form = integer_form(instance.standard_form(), is_product_variable)
    except InexactScalingError as exc:
        raise InexactScalingError(f"CP-SAT needs integer coefficients: {exc}; solve this instance with highs or scip") from None
    model = cp_model.CpModel()
    variables = [model.new_int_var(lo, hi, f"x{j}") for j, (lo, hi) in enumerate(zip(form.col_lower, form.col_upper))]
    A = form.A
    for r in range(A.shape[0]):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        expr = cp_model.LinearExpr.weighted_sum([variables[k] for k in A.indices[lo:hi].tolist()], A.data[lo:hi].tolist())
        lower, upper = form.row_lower[r], form.row_upper[r]
        model.add_linear_constraint(expr, cp_model.INT_MIN if lower is None else lower,
                                    cp_model.INT_MAX if upper is None else upper)
    nonzero = [j for j, c in enumerate(form.cost) if c != 0]
    objective = cp_model.LinearExpr.weighted_sum([variables[j] for j in nonzero], [form.cost[j] for j in nonzero])
    (model.maximize if form.sense == "maximize" else model.minimize)(objective)
    problem = model.validate()
    if problem:
        raise SolverError(f"CP-SAT rejects the compiled model: {problem}")
    cols, fallback = weight_columns(instance, form.standard)
    return CpsatModel(model, variables, form, cols, fallback, time.perf_counter() - t0)


def add_network_hint(compiled: CpsatModel, instance, network) -> bool:
    """Hint every variable with the forward pass's value for ``network``
    (``instance.start_values``), in the integer model's units (replacing earlier hints). Returns
    whether the hint is complete and feasible, i.e. CP-SAT can take it as its first solution (a
    max-correct network with several non-negative outputs on a sample is not feasible)."""
    form = compiled.form
    index = form.standard.column_index()
    hint = np.zeros(len(compiled.variables), dtype=np.int64)
    given = np.zeros(len(compiled.variables), dtype=bool)
    for var, value in instance.start_values(network).items():
        j = index.get(id(var))
        if j is not None and value is not None:
            hint[j] = int(round(float(value) * int(form.col_scale[j])))
            given[j] = True
    compiled.model.clear_hints()
    for j in np.flatnonzero(given).tolist():
        compiled.model.add_hint(compiled.variables[j], int(hint[j]))
    return bool(given.all()) and form.is_feasible(hint)


def configure_solver(solver, *, time_limit, threads, seed, mip_gap=None, params: Mapping[str, Any] | None = None,
                     verbose: bool = False) -> None:
    """CP-SAT parameters: the normalised options, then ``params`` under CP-SAT's own names (a
    misspelt name is one clear error), then the two the engine relies on."""
    p = solver.parameters
    if time_limit is not None:
        p.max_time_in_seconds = float(time_limit)
    if threads is not None:
        p.num_workers = int(threads)
    if seed is not None:
        p.random_seed = int(seed)
    if mip_gap is not None:
        p.relative_gap_limit = float(mip_gap)
    p.log_search_progress = bool(verbose)
    for key, value in (params or {}).items():
        try:
            if isinstance(value, (list, tuple)):  # a repeated field, e.g. subsolvers = ["core", "max_lp"]
                getattr(p, key).clear()
                getattr(p, key).extend(value)
            else:
                setattr(p, key, value)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ModelConfigError(f"bad CP-SAT parameter {key} = {value!r}: {exc}") from None
    p.fix_variables_to_their_hinted_value = False  # set last: ``params`` cannot change these two
    p.catch_sigint_signal = False  # Python's handlers (the caller's should_stop) own Ctrl-C / SIGTERM


def solve_cpsat(instance, *, time_limit: float | None, threads: int | None, seed: int | None,
                hint_network=None, on_solution: OnSolution | None = None,
                should_stop: Callable[[], bool] | None = None, mip_gap: float | None = None,
                params: Mapping[str, Any] | None = None, verbose: bool = False,
                compiled: CpsatModel | None = None) -> EngineResult:
    """Compile (unless ``compiled`` is given) and solve ``instance`` with CP-SAT (module docstring)."""
    cp_model = require_ortools()
    compiled = compiled or compile_cpsat(instance)
    hint_feasible = add_network_hint(compiled, instance, hint_network) if hint_network is not None else None
    solver = cp_model.CpSolver()
    configure_solver(solver, time_limit=time_limit, threads=threads, seed=seed, mip_gap=mip_gap,
                     params=params, verbose=verbose)
    callback = _solution_relay(compiled, on_solution, should_stop, time.perf_counter())
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["status"] = solver.solve(compiled.model, callback)
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="cpsat-solve", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            if should_stop is not None and callback.stop_reason is None and should_stop():
                callback.stop_reason = "interrupt"
                solver.stop_search()
    except BaseException:  # e.g. KeyboardInterrupt without a flag handler: leave no solver thread behind
        solver.stop_search()
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    result = _result(compiled, solver, outcome["status"], callback, cp_model)
    result.start_accepted = hint_feasible
    return result


def _solution_relay(compiled: CpsatModel, on_solution: OnSolution | None, should_stop, t0: float):
    """CP-SAT's solution callback: the weights, objective and bound of every improving solution to
    ``on_solution`` (and to the timeline); ``stop_search`` when it or ``should_stop()`` says so."""
    cp_model = require_ortools()

    class SolutionRelay(cp_model.CpSolverSolutionCallback):
        def __init__(self) -> None:
            super().__init__()
            self.stop_reason: str | None = None
            self.timeline: list[tuple[float, float, float | None]] = []

        def on_solution_callback(self) -> None:
            form = compiled.form
            objective = form.objective_of(self.objective_value)
            bound = form.objective_of(self.best_objective_bound)
            self.timeline.append((time.perf_counter() - t0, objective, bound))
            if on_solution is not None and on_solution(self.weights(), objective, bound):
                self.stop_reason = self.stop_reason or "target"
            if should_stop is not None and should_stop():
                self.stop_reason = self.stop_reason or "interrupt"
            if self.stop_reason is not None:
                self.stop_search()

        def weights(self) -> np.ndarray:
            vec = compiled.weight_fallback.copy()
            for pos, j in enumerate(compiled.weight_cols.tolist()):
                if j >= 0:
                    vec[pos] = self.value(compiled.variables[j])
            return vec

    return SolutionRelay()


def _result(compiled: CpsatModel, solver, status, callback, cp_model) -> EngineResult:
    form = compiled.form
    statuses = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible",
                cp_model.UNKNOWN: "unknown", cp_model.MODEL_INVALID: "invalid"}
    name = statuses.get(status, "unknown")
    if name == "invalid":
        raise SolverError(f"CP-SAT: model invalid ({solver.solution_info()})")
    has_solution = name in ("optimal", "feasible")
    values = weights = None
    objective = None
    if has_solution:
        integer_values = np.array([solver.value(v) for v in compiled.variables], dtype=np.int64)
        column_values = form.to_original(integer_values)
        values = ComponentMap(zip(form.standard.columns, column_values.tolist()))
        weights = compiled.weight_fallback.copy()
        present = compiled.weight_cols >= 0
        weights[present] = column_values[compiled.weight_cols[present]]
        objective = form.objective_of(solver.objective_value)
    bound = None if name == "infeasible" else form.objective_of(solver.best_objective_bound)
    return EngineResult(
        engine="cpsat", engine_version=ortools_version(), status=name, stop_reason=callback.stop_reason,
        objective=objective, bound=bound, wall_s=solver.wall_time, build_s=compiled.build_s,
        values=values, weights=weights, timeline=list(callback.timeline),
    )
