"""Solver-independent pieces of the engine cores (:mod:`.cpsat_engine`, :mod:`.scip_engine`).

* :func:`compile_standard_form`: the Pyomo model as matrices, compiled by Pyomo's
  ``LinearStandardFormCompiler`` as the ``.mps`` writer (:mod:`mipnn_pyomo.export`) does:
  ``row_lower <= A x <= row_upper``, column bounds, integrality, objective ``cost . x + offset``.
* :func:`integer_form`: the same model with integer variables and integer coefficients only, for
  engines that need them (CP-SAT). Every step is exact, never a rounding:

  - Row scaling. Each row is multiplied by the smallest integer ``s`` (the smallest power of ten
    or the LCM of the coefficients' denominators, whichever is smaller) that makes every
    coefficient integral: ``|a s - round(a s)| <= 1e-9`` in exact arithmetic on the float ``a``,
    else :class:`InexactScalingError`. First-layer rows are on the 10^-d grid, so ``s = 10^d``
    (or a divisor). With integer coefficients and integer variables the row's activity is an
    integer, so an upper bound ``r`` becomes ``floor(r s)`` and a lower bound ``ceil(r s)``
    exactly (a bound within 1e-9 of an integer counts as that integer).
  - Continuous columns named integral by the caller (the products ``c = h w``: see
    :mod:`.cpsat_engine` for the argument) become integer columns with their bounds.
  - Any other continuous column ``t`` must be the only continuous column of each of its rows (an
    epigraph variable such as min-hinge's ``t``). It is replaced by ``T = D t`` with ``T``
    integer, ``D`` the LCM over its rows of the scale that makes that row, divided by ``t``'s
    coefficient, integral (bounds included). Given integer values of the other columns, each row
    then bounds ``T`` by an integer, so the feasible ``t`` form an interval whose ends are
    multiples of 1/D: the projection on the other columns is unchanged, and the best ``t`` (an
    end, the objective being linear) is exactly representable. An infinite bound of ``t`` on the
    side the objective pushes away from is replaced by the largest value its rows can force,
    which cuts off no optimal solution.
  - The objective is multiplied by the scale that makes its coefficients integral;
    ``objective = integer_objective / objective_scale + offset``.

:class:`EngineResult` is what both engine cores return.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from mipnn_pyomo.gcpause import paused_gc
from mipnn_pyomo.errors import ModelConfigError

INTEGRALITY_TOLERANCE = 1e-9  # |a s - round(a s)| allowed after scaling (exact arithmetic on the float a)
MAX_POWER_OF_TEN = 9
MAX_DENOMINATOR = 10**7


class InexactScalingError(ModelConfigError):
    """A row (or the objective) has no integer scale that makes its coefficients integral."""


@dataclass
class StandardForm:
    """``row_lower <= A x <= row_upper`` (infinite where a side is absent), ``col_lower <= x <=
    col_upper``, ``x_j`` integer where ``integer[j]``; objective ``cost . x + offset`` in ``sense``."""

    columns: list  # Pyomo VarData, column j
    A: Any  # scipy.sparse csr_array (rows x columns), float
    row_lower: np.ndarray
    row_upper: np.ndarray
    row_constraints: list | None  # Pyomo ConstraintData of row i (names are computed only for messages)
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray  # bool
    cost: np.ndarray
    offset: float
    sense: str  # "minimize" | "maximize"
    row_label: Callable[[int], str] | None = None  # rows without a ConstraintData (numpy rows: matrix_form.py)

    @property
    def n_rows(self) -> int:
        return len(self.row_lower)

    @property
    def n_cols(self) -> int:
        return len(self.columns)

    def row_name(self, i: int) -> str:
        return self.row_label(i) if self.row_label is not None else self.row_constraints[i].name

    def column_index(self) -> dict[int, int]:
        """id(Pyomo var) -> column."""
        return {id(v): j for j, v in enumerate(self.columns)}


def compile_standard_form(model) -> StandardForm:
    """Compile the active constraints and the single active objective of ``model``.

    Pyomo's compiler (``mixed_form``) writes a ``<=`` row as bound type 1, ``>=`` as -1, ``==``
    as 0, and a ranged constraint as two consecutive rows of the same constraint (upper, then
    lower) with the same coefficients: they are merged back into one row."""
    from pyomo.common.enums import ObjectiveSense
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    with paused_gc():
        form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    if len(form.objectives) != 1:
        raise ModelConfigError(f"the engine cores need exactly one active objective, the model has {len(form.objectives)}")
    rows = form.rows
    kind = np.fromiter((r.bound_type for r in rows), np.int8, len(rows))
    rhs = np.asarray(form.rhs, dtype=np.float64).reshape(-1)
    row_lower = np.where(kind <= 0, rhs, -np.inf)
    row_upper = np.where(kind >= 0, rhs, np.inf)
    A = form.A.tocsr()
    second = [i for i in range(1, len(rows)) if rows[i].constraint is rows[i - 1].constraint]
    if second:
        second = np.array(second)
        row_lower[second - 1] = row_lower[second]
        keep = np.ones(len(rows), dtype=bool)
        keep[second] = False
        row_lower, row_upper, A = row_lower[keep], row_upper[keep], A[keep, :]
        rows = [r for r, k in zip(rows, keep) if k]
    A.sort_indices()
    bounds = column_bounds(form.columns)
    return StandardForm(
        columns=list(form.columns),
        A=A,
        row_lower=row_lower,
        row_upper=row_upper,
        row_constraints=[r.constraint for r in rows],
        col_lower=bounds[0],
        col_upper=bounds[1],
        integer=np.array([v.is_integer() for v in form.columns], dtype=bool),
        cost=form.c.toarray()[0].astype(np.float64),
        offset=float(form.c_offset[0]),
        sense="maximize" if form.objectives[0].sense == ObjectiveSense.maximize else "minimize",
    )


def column_bounds(columns) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of each variable, -inf/inf where absent: the intersection of its own bounds
    and its domain's, as ``VarData.bounds`` computes them. A bound given by a Param (the weights'
    P) is evaluated once per Param object and a domain's bounds once per domain, not once per
    variable (that took ~25% of the compile at N = 3,000)."""
    from pyomo.core.expr.numvalue import value

    cache: dict[int, Any] = {}

    def evaluate(bound):
        if bound is None or isinstance(bound, (int, float)):
            return bound
        key = id(bound)
        if key not in cache:
            cache[key] = value(bound)
        return cache[key]

    lower, upper = np.full(len(columns), -np.inf), np.full(len(columns), np.inf)
    for j, var in enumerate(columns):
        if not hasattr(var, "_lb") or not hasattr(var, "_domain"):  # another VarData kind: Pyomo's own path
            lb, ub = var.bounds
        else:
            key = ("domain", id(var._domain))
            if key not in cache:
                cache[key] = var._domain.bounds()
            dlb, dub = cache[key]
            lb, ub = evaluate(var._lb), evaluate(var._ub)
            lb = dlb if lb is None else (lb if dlb is None else max(lb, dlb))
            ub = dub if ub is None else (ub if dub is None else min(ub, dub))
        if lb is not None:
            lower[j] = lb
        if ub is not None:
            upper[j] = ub
    return lower, upper


@dataclass
class EngineResult:
    """What an engine core returns.

    ``status``: "optimal" (proven), "feasible" (a solution, not proven optimal), "infeasible", or
    "unknown" (no solution, nothing proven). ``stop_reason``: "target" (``on_solution`` asked to
    stop), "interrupt" (``should_stop()`` was true), or None (time limit or natural end).
    ``objective`` / ``bound`` are in the Pyomo model's own units and sense (the MIP's objective:
    with one-sided output products it may be worse than the network's forward-pass objective,
    never better; report ``instance.evaluate(network)``). ``values``: the final
    solution, Pyomo variable -> value (ComponentMap); ``weights``: the weight vector in
    ``instance.weight_variables()`` order. ``timeline``: (seconds since the solve began,
    objective, bound) of every improving solution."""

    engine: str
    engine_version: str
    status: str
    stop_reason: str | None
    objective: float | None
    bound: float | None
    wall_s: float
    build_s: float
    values: Any = None  # ComponentMap | None
    weights: np.ndarray | None = None
    timeline: list[tuple[float, float, float | None]] = field(default_factory=list)
    message: str = ""
    start_accepted: bool | None = None  # the start network was a feasible solution (None: no start given)

    @property
    def has_solution(self) -> bool:
        return self.values is not None

    def load_into_model(self) -> None:
        """Set every solved variable's value (so that ``training.check_exactness`` reads it)."""
        for var, value in (self.values or {}).items():
            var.set_value(value, skip_validation=True)


def weight_columns(instance, sf: StandardForm) -> tuple[np.ndarray, np.ndarray]:
    """For each variable of ``instance.weight_variables()``: its column in ``sf`` (-1 if absent,
    e.g. fixed), and the value to use when absent (its fixed value, else 0: a weight in no row
    changes nothing on the training data)."""
    index = sf.column_index()
    weight_vars = instance.weight_variables()
    cols = np.array([index.get(id(v), -1) for v in weight_vars], dtype=np.int64)
    fallback = np.array([float(v.value) if v.fixed and v.value is not None else 0.0 for v in weight_vars])
    return cols, fallback


# --------------------------------------------------------------------------- exact integer scaling


def _is_integral(value: float, scale: int) -> bool:
    """``value * scale`` is within 1e-9 of an integer, non-zero unless ``value`` is 0 (a tiny
    coefficient scaled to 0 would be dropped: a rounding)."""
    scaled = Fraction(value) * scale  # exact: a float is a dyadic rational
    nearest = round(scaled)
    return abs(scaled - nearest) <= INTEGRALITY_TOLERANCE and (nearest != 0 or value == 0)


def integral_scale(values: Sequence[float] | np.ndarray, what: str = "row") -> int:
    """The smallest integer ``s`` among {10^0..10^9, LCM of the values' denominators} with every
    ``value * s`` integral within 1e-9 (checked in exact arithmetic on the floats). Raises
    :class:`InexactScalingError` naming ``what`` when there is none: a coefficient is never rounded."""
    vals = np.unique(np.abs(np.asarray(values, dtype=np.float64)))
    vals = vals[(vals != 0) & np.isfinite(vals)]
    if vals.size == 0:
        return 1
    candidates = []
    for p in range(MAX_POWER_OF_TEN + 1):
        scaled = vals * 10.0**p
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6):  # cheap filter; verified exactly below
            candidates.append(10**p)
            break
    lcm = 1
    for v in vals.tolist():
        lcm = math.lcm(lcm, Fraction(v).limit_denominator(MAX_DENOMINATOR).denominator)
        if lcm > 10**12:
            break
    candidates.append(lcm)
    for scale in sorted(set(candidates)):
        if all(_is_integral(v, scale) for v in vals.tolist()):
            return int(scale)
    worst = max(vals.tolist(), key=lambda v: abs(Fraction(v) * min(candidates) - round(Fraction(v) * min(candidates))))
    raise InexactScalingError(
        f"{what}: coefficient {worst!r} has no exact integer scale (tried 10^0..10^{MAX_POWER_OF_TEN} and the LCM "
        f"of denominators up to {MAX_DENOMINATOR:,}); it cannot be given to an engine that needs integer "
        f"coefficients without rounding"
    )


def _scaled_bound(value: float, scale: int, upper: bool) -> int | None:
    """An integer-activity row's bound ``value`` times ``scale``: floor for an upper bound, ceil for
    a lower one (exact), snapping to an integer within 1e-9; None if infinite."""
    if not math.isfinite(value):
        return None
    approx = value * scale  # one float rounding: |approx - exact| <= |approx| 2^-52
    distance, float_error = abs(approx - round(approx)), abs(approx) * 2.0**-52
    if distance + float_error <= INTEGRALITY_TOLERANCE:  # certainly within 1e-9 of an integer
        return int(round(approx))
    if distance - float_error > INTEGRALITY_TOLERANCE:  # certainly not: floor/ceil agree with the exact value's
        return int(math.floor(approx) if upper else math.ceil(approx))
    scaled = Fraction(value) * scale
    nearest = round(scaled)
    if abs(scaled - nearest) <= INTEGRALITY_TOLERANCE:
        return int(nearest)
    return int(math.floor(scaled) if upper else math.ceil(scaled))


@dataclass
class IntegerForm:
    """All-integer model: ``row_lower <= A x <= row_upper`` (None = no bound), integer bounds, integer
    objective ``cost . x``; original column j = ``x_j / col_scale[j]``; original objective =
    ``(cost . x) / objective_scale + offset``."""

    standard: StandardForm
    A: Any  # csr_array of int64
    row_lower: list  # int | None
    row_upper: list
    col_lower: list[int]
    col_upper: list[int]
    col_scale: np.ndarray  # int64, 1 except for scaled continuous columns
    row_scale: np.ndarray  # int64
    cost: list[int]
    objective_scale: int
    offset: float
    sense: str
    notes: list[str] = field(default_factory=list)

    def is_feasible(self, x: np.ndarray) -> bool:
        """Does the integer vector ``x`` satisfy every row and bound?"""
        x = np.asarray(x, dtype=np.int64)
        if np.any(x < np.asarray(self.col_lower)) or np.any(x > np.asarray(self.col_upper)):
            return False
        activity = self.A @ x
        lower = np.array([-np.inf if b is None else b for b in self.row_lower], dtype=np.float64)
        upper = np.array([np.inf if b is None else b for b in self.row_upper], dtype=np.float64)
        return bool(np.all(activity >= lower) and np.all(activity <= upper))

    def to_original(self, integer_values: np.ndarray) -> np.ndarray:
        return np.asarray(integer_values, dtype=np.float64) / self.col_scale

    def objective_of(self, integer_objective: float) -> float:
        return float(integer_objective) / self.objective_scale + self.offset


def integer_form(sf: StandardForm, integral: Callable[[Any], bool]) -> IntegerForm:
    """Exact all-integer version of ``sf`` (module docstring): ``integral(var)`` says which
    continuous columns take integer values at every solution that matters (they become integer
    as they are); the other continuous columns are scaled; rows and objective are scaled."""
    treat_integer = sf.integer | np.array([integral(v) for v in sf.columns], dtype=bool)
    col_scale = _column_scales(sf, treat_integer)
    A = sf.A.multiply(1.0 / col_scale[None, :]).tocsr()  # coefficient of the scaled column T = D t
    A.sort_indices()
    n = sf.n_rows
    row_scale = np.ones(n, dtype=np.int64)
    data = np.empty(A.nnz, dtype=np.int64)
    row_lower: list = [None] * n
    row_upper: list = [None] * n
    cache: dict[tuple, int] = {}
    for r in range(n):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        coefs = A.data[lo:hi]
        key = frozenset(map(abs, coefs.tolist()))
        scale = cache.get(key)
        if scale is None:
            scale = cache[key] = integral_scale(coefs, f"row {sf.row_name(r)}")
        row_scale[r] = scale
        data[lo:hi] = np.rint(coefs * scale).astype(np.int64)  # integral within 1e-9 (checked)
        row_lower[r] = _scaled_bound(sf.row_lower[r], scale, upper=False)
        row_upper[r] = _scaled_bound(sf.row_upper[r], scale, upper=True)
    int_A = type(A)((data, A.indices.copy(), A.indptr.copy()), shape=A.shape)
    col_lower, col_upper = _integer_column_bounds(sf, A, col_scale)
    cost = sf.cost / col_scale
    obj_scale = integral_scale(cost, "objective")
    return IntegerForm(
        standard=sf, A=int_A, row_lower=row_lower, row_upper=row_upper,
        col_lower=col_lower, col_upper=col_upper, col_scale=col_scale, row_scale=row_scale,
        cost=np.rint(cost * obj_scale).astype(np.int64).tolist(), objective_scale=obj_scale,
        offset=sf.offset, sense=sf.sense,
        notes=[f"{int(np.sum(col_scale > 1))} continuous columns scaled (T = D t, D up to {int(col_scale.max())})"],
    )


def _column_scales(sf: StandardForm, treat_integer: np.ndarray) -> np.ndarray:
    """D_j for every continuous column not treated as integer (1 elsewhere): the LCM over its rows
    of the integral scale of (row / its coefficient), bounds included. Such a column must be the
    only one of its kind in each of its rows."""
    scales = np.ones(sf.n_cols, dtype=np.int64)
    scaled_cols = np.flatnonzero(~treat_integer)
    if scaled_cols.size == 0:
        return scales
    At = sf.A.tocsc()
    cache: dict[tuple, int] = {}
    for j in scaled_cols.tolist():
        name = sf.columns[j].name
        D = 1
        for r, a_t in zip(At.indices[At.indptr[j]:At.indptr[j + 1]].tolist(), At.data[At.indptr[j]:At.indptr[j + 1]].tolist()):
            lo, hi = sf.A.indptr[r], sf.A.indptr[r + 1]
            cols = sf.A.indices[lo:hi]
            if np.sum(~treat_integer[cols]) > 1:
                raise InexactScalingError(
                    f"row {sf.row_name(r)} has more than one continuous variable ({name} and others); "
                    f"it has no exact all-integer form"
                )
            others = sf.A.data[lo:hi][cols != j] / a_t
            bounds = [b / a_t for b in (sf.row_lower[r], sf.row_upper[r]) if math.isfinite(b)]
            values = np.concatenate([others, bounds])
            key = frozenset(map(abs, values.tolist()))
            if key not in cache:
                cache[key] = integral_scale(values, f"row {sf.row_name(r)} (for {name})")
            D = math.lcm(D, cache[key])
        for b in (sf.col_lower[j], sf.col_upper[j]):
            if math.isfinite(b) and not _is_integral(b, D):
                raise InexactScalingError(f"bound {b!r} of {name} is not a multiple of 1/{D}")
        scales[j] = D
    return scales


def _integer_column_bounds(sf: StandardForm, A_scaled, col_scale: np.ndarray):
    """Integer bounds of every column (a scaled column's are D times the original's, rounded
    inward). An infinite bound of a scaled column on the side its objective coefficient pushes
    away from is replaced by the extreme value its rows can force (module docstring)."""
    lower = [None if not math.isfinite(b) else int(math.ceil(Fraction(b) * s - INTEGRALITY_TOLERANCE))
             for b, s in zip(sf.col_lower.tolist(), col_scale.tolist())]
    upper = [None if not math.isfinite(b) else int(math.floor(Fraction(b) * s + INTEGRALITY_TOLERANCE))
             for b, s in zip(sf.col_upper.tolist(), col_scale.tolist())]
    At = A_scaled.tocsc()
    for j in range(sf.n_cols):
        if lower[j] is not None and upper[j] is not None:
            continue
        pushed_down = sf.cost[j] != 0 and (sf.cost[j] > 0) == (sf.sense == "minimize")
        pushed_up = sf.cost[j] != 0 and not pushed_down
        if col_scale[j] > 1 and upper[j] is None and pushed_down:
            forced = _most_forced(A_scaled, At, sf, j, lower, upper, toward_upper=True)
            upper[j] = None if forced is None else max(forced, lower[j] if lower[j] is not None else forced)
        if col_scale[j] > 1 and lower[j] is None and pushed_up:
            forced = _most_forced(A_scaled, At, sf, j, lower, upper, toward_upper=False)
            lower[j] = None if forced is None else min(forced, upper[j] if upper[j] is not None else forced)
        if lower[j] is None or upper[j] is None:
            raise InexactScalingError(f"variable {sf.columns[j].name} is unbounded; an all-integer engine needs finite bounds")
    return lower, upper


def _most_forced(A_scaled, At, sf: StandardForm, j: int, lower: list, upper: list, toward_upper: bool) -> int | None:
    """``toward_upper``: the largest lower bound that column j's rows can force on it over the box
    of the other columns (``a x_j + rest >= L`` with a > 0 forces ``x_j >= (L - rest_min) / a``;
    ``a x_j + rest <= U`` with a < 0 forces ``x_j >= (U - rest_max) / a``), rounded up; otherwise
    the smallest upper bound, rounded down. None if some row's rest is unbounded."""
    best = None
    for r, a in zip(At.indices[At.indptr[j]:At.indptr[j + 1]].tolist(), At.data[At.indptr[j]:At.indptr[j + 1]].tolist()):
        lo, hi = A_scaled.indptr[r], A_scaled.indptr[r + 1]
        rest_min = rest_max = 0.0
        for k, coef in zip(A_scaled.indices[lo:hi].tolist(), A_scaled.data[lo:hi].tolist()):
            if k == j:
                continue
            if lower[k] is None or upper[k] is None:
                return None
            rest_min += min(coef * lower[k], coef * upper[k])
            rest_max += max(coef * lower[k], coef * upper[k])
        for bound, is_lower_row in ((sf.row_lower[r], True), (sf.row_upper[r], False)):
            if not math.isfinite(bound) or (is_lower_row == (a > 0)) != toward_upper:
                continue
            rest = rest_min if is_lower_row else rest_max
            value = (bound - rest) / a
            value = math.ceil(value - INTEGRALITY_TOLERANCE) if toward_upper else math.floor(value + INTEGRALITY_TOLERANCE)
            best = value if best is None else (max(best, value) if toward_upper else min(best, value))
    return best
