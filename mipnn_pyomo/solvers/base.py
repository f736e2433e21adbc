"""The solver adapter layer: names, options, results, the incumbent monitor, and the ONE solve flow.

Every adapter takes a :class:`~mipnn_pyomo.instance.TrainingInstance` and returns a
:class:`SolveResult` of one shape, whatever the solver. :meth:`SolverAdapter.solve` is written
once, here; an adapter only fills in small hooks.

The flow (``SolverAdapter.solve``)::

    guard signals (SIGINT/SIGTERM -> flag)         one clock: the time limit covers all of it
    start   = warm start, else the heuristic's construction (heuristics.driver): first, so that
                                                   the timeline has it before the model is loaded
    session = _load(instance)                      build the solver's model
    if time is left and the target is not met yet:
        params = solver_params(...)                normalised options -> OPTION_NAMES, + DEFAULTS, + extra
        _apply_options(session, params)            -> the values the solver really holds
        _set_start(session, start values)          complete MIP start (every variable)
        _wire_heuristic(session, ctx)              callbacks (HiGHS, Gurobi); no-op: start only (CBC)
        outcome = _run(session, ctx)               RunOutcome(status, objective, bound, solution, log)
    finish: pick the result network (target network > better of solver's final / own best)

Template for a new adapter (one file, < 150 lines)::

    class MyAdapter(SolverAdapter):
        name = SolverName.MINE
        capabilities = Capabilities(...)           # what callers consult, never the name
        OPTION_NAMES = {"time_limit": ..., "threads": ..., "mip_gap": ..., "seed": ...}
        DEFAULT_OPTIONS = {...}                    # exactness tolerances (1e-9)
        START_ACCEPTED = ("phrase in the log when the start is used",)
        START_REJECTED = ("phrase when it is not",)
        @classmethod _check_available(cls) -> (bool, reason)
        @classmethod version(cls) -> str
        def _load(self, instance) -> session       # anything the other hooks need
        def _apply_options(self, session, params) -> dict   # params as set in the solver
        def _set_start(self, session, values) -> bool | None
        def _wire_heuristic(self, session, ctx)    # optional: callbacks that take solutions
        def _run(self, session, ctx) -> RunOutcome

In a solver callback for each new incumbent, call ``ctx.on_solver_incumbent(weight_vector,
objective, bound)``: it records the incumbent (forward pass, timeline, target) and runs the
heuristic; it returns a better network to hand back to the solver, or None. The weight vector is
in :meth:`IntegerNetwork.to_vector` order, the order of ``instance.weight_variables()``.
``ctx.solution_values(network)`` is a complete MIP solution of a network (every variable);
``self.solution_map(variables, values)`` builds ``RunOutcome.solution``; ``self.objective_stop``
gives ceil(target N) for max-correct; ``ctx.time_left()`` the seconds left.
``tests/test_solver_layer.py::FakeAdapter`` is a whole working adapter; highs.py (callbacks),
gurobi.py (callbacks) and cbc.py (no callbacks, start only) are the real ones.

Rules every adapter keeps:

* ``RunOutcome.solution`` holds the value of every model variable in the solver's final solution
  (a ``ComponentMap``), or None. Adapters never write solution values into the Pyomo model:
  ``SolveResult.solution`` is the returned network's full solution, and :func:`load_solution` is
  the ONE function that writes a solution into the model. The flow calls it once at the end (so
  the model holds the returned solution after ``solve``), and ``training.check_exactness`` calls
  it with the solution it is given, so the check does not depend on the model's state.
* Inside a callback, ``ctx.should_stop`` says when to stop the solver (target met, Ctrl-C, SIGTERM).
* Normalised option keys never reach the solver under their own names: ``OPTION_NAMES`` maps them.
* Errors from the solver library become :class:`SolverError` (the flow wraps unexpected
  exceptions from ``_run``); a solver that cannot take an instance raises SolverUnavailableError
  in ``check_instance``.
"""

from __future__ import annotations

import enum
import functools
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping

from pyomo.common.collections import ComponentMap

import numpy as np

from mipnn_pyomo.errors import NoSolutionError, SolverError, SolverUnavailableError
from mipnn_pyomo.network import IntegerNetwork


class SolverName(str, enum.Enum):
    HIGHS = "highs"
    GUROBI = "gurobi"
    CBC = "cbc"
    CPSAT = "cpsat"
    SCIP = "scip"


class Termination(str, enum.Enum):
    """How a solve ended."""

    OPTIMAL = "optimal"
    TARGET_REACHED = "target_reached"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    OTHER = "other"


@dataclass(frozen=True)
class Capabilities:
    accuracy_target_callback: bool
    objective_stop: bool  # stop at an objective value (used for max-correct's accuracy target)
    warm_start: bool
    threads: bool
    time_limit: bool
    mip_gap: bool
    seed: bool
    incumbent_callback: bool = False  # the solver reports each incumbent during the solve (timeline)
    heuristic_injection: bool = False  # heuristic networks go back into a running solve (else: the start)


@dataclass
class SolveOptions:
    """Normalised options; ``extra`` passes through to the solver under its own names."""

    time_limit: float | None = None
    threads: int | None = None
    mip_gap: float | None = None
    seed: int | None = 0
    target_accuracy: float | None = 0.9
    extra: dict[str, Any] = field(default_factory=dict)
    verbose: bool = False  # stream the solver's own log
    heuristic: bool = True  # local-search primal heuristic (heuristics.driver): construction + improvement, every solver
    heuristic_time: float = 1.0  # seconds of local search per incumbent
    heuristic_total_time: float | None = 30.0  # at most this many seconds of local search on incumbents
    heuristic_construct_time: float = 3.0  # seconds of restarts for the first network
    progress: Callable[["Incumbent"], None] | None = None  # called on every improving solution

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None = None, **explicit: Any) -> "SolveOptions":
        """The one way every caller builds options. ``mapping`` is a preset or option file's table
        (normalised keys ``time_limit``, ``threads``, ``mip_gap``, ``seed``; any other key passes
        through to the solver under its own name). ``explicit`` are the caller's own values (CLI
        flags, function arguments): for a normalised key, a value that is not None wins over the
        mapping's; any other field of SolveOptions is taken as given. ``extra`` in ``explicit``
        is merged over the mapping's pass-through keys."""
        from mipnn_pyomo.solvers.options import NORMALISED_KEYS

        mapping = dict(mapping or {})
        fields = {k: mapping.pop(k) for k in NORMALISED_KEYS if k in mapping}
        extra = {**mapping, **dict(explicit.pop("extra", None) or {})}
        for key, value in explicit.items():
            if key in NORMALISED_KEYS and value is None:
                continue
            fields[key] = value
        return cls(extra=extra, **fields)

    def __post_init__(self) -> None:
        from mipnn_pyomo.errors import ModelConfigError

        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))
                                      or not 0 <= self.seed < 2**31):
            raise ModelConfigError(f"seed must be an integer in [0, 2^31), got {self.seed!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, (int, np.integer))):
            raise ModelConfigError(f"threads must be an integer >= 1, got {self.threads!r}")

        if self.time_limit is not None and not (self.time_limit > 0):
            raise ModelConfigError(f"time limit must be > 0 seconds, got {self.time_limit}")
        if self.target_accuracy is not None and not (0 < self.target_accuracy <= 1):
            raise ModelConfigError(f"target accuracy must be in (0, 1], got {self.target_accuracy}")
        if self.threads is not None and self.threads < 1:
            raise ModelConfigError(f"threads must be >= 1, got {self.threads}")
        if self.mip_gap is not None and self.mip_gap < 0:
            raise ModelConfigError(f"mip gap must be >= 0, got {self.mip_gap}")


# Incumbent.source values: where a timeline entry came from.
SOURCE_SOLVER = "solver"  # an incumbent the solver found
SOURCE_START = "start"  # the caller's warm-start network
SOURCE_CONSTRUCTION = "construction"  # the heuristic's first network (heuristics.driver)
SOURCE_LOCAL_SEARCH = "local-search"  # the heuristic's improvement of an incumbent, or a candidate it met
SOURCE_TARGET = "target"  # the returned network: the first one that met the accuracy target
SOURCE_FINAL = "final"  # the returned network, when no earlier entry shows it


@dataclass
class Incumbent:
    """One improving solution: when, its objective, the bound then, its training accuracy, and
    where it came from (one of the ``SOURCE_*`` names)."""

    time_s: float
    objective: float | None
    bound: float | None
    train_accuracy: float
    source: str = SOURCE_SOLVER

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SolveResult:
    termination: Termination
    has_solution: bool
    objective: float | None
    bound: float | None
    gap: float | None
    wall_s: float
    solver: str
    solver_version: str
    network: IntegerNetwork | None = None
    target_reached: bool = False
    train_accuracy: float | None = None
    incumbents: list[Incumbent] = field(default_factory=list)
    warm_start_accepted: bool | None = None
    load_s: float = 0.0
    log: str = ""
    message: str = ""  # e.g. why the MIP start was rejected (the CLI prints it)
    interrupt_signal: int | None = None  # signal number when SIGINT / SIGTERM stopped the solve
    solver_params: dict[str, Any] = field(default_factory=dict)  # as the solver held them
    solution: ComponentMap | None = None  # every model variable's value in the returned network's solution
    source: str = SOURCE_SOLVER  # where the returned network came from

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (and deep-copied) without ``solution``: its Pyomo variables would drag the whole
        model along (e.g. a pickled estimator's ``solve_result_``)."""
        return {**self.__dict__, "solution": None}

    def summary(self) -> dict[str, Any]:
        """JSON-friendly fields (no network, no log, no solution values)."""
        return {
            "termination": self.termination.value,
            "has_solution": self.has_solution,
            "objective_value": self.objective,
            "objective_bound": self.bound,
            "gap": self.gap,
            "solve_s": self.wall_s,
            "load_s": self.load_s,
            "solver": self.solver,
            "solver_version": self.solver_version,
            "target_reached": self.target_reached,
            "warm_start_accepted": self.warm_start_accepted,
            "result_source": self.source,
            "interrupt_signal": self.interrupt_signal,
            "incumbents": [i.to_dict() for i in self.incumbents],
            "message": self.message,
        }


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """The gap rule: |incumbent - bound| / max(|incumbent|, |bound|, 1); 0 when equal; None without
    both (or with a bound of magnitude >= 1e10, a solver's stand-in for infinity). It lies in
    [0, 1] when both have the same sign and never explodes at objective 0."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    if abs(bound) >= 1e10:
        return None
    diff = abs(objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), abs(bound), 1.0)


def better(a: float, b: float | None, sense: str) -> bool:
    """``a`` strictly better than ``b`` (None: anything is better) in the MIP's sense."""
    if b is None:
        return True
    return a > b + 1e-9 if sense == "maximize" else a < b - 1e-9


def is_mip_solution(instance, network: IntegerNetwork) -> bool:
    """Whether ``network`` (with its forward-pass activations) satisfies the MIP's rows: every
    network does, except for max-correct, whose rows need exactly one non-negative output per sample."""
    if instance.objective != "max-correct":
        return True
    return bool(np.all((network.output_scores(instance.data.X) >= 0).sum(axis=1) == 1))


class IncumbentMonitor:
    """The timeline of one solve: every network offered (by the solver, the start, the heuristic)
    is measured by forward pass and recorded. It keeps the BEST network by objective in the MIP's
    sense (``best``), the best one not found by the solver (``own_best``: start, construction,
    local search; never lost), and the first network that met the accuracy target."""

    def __init__(self, instance, options: SolveOptions, t0: float | None = None):
        self.instance = instance
        self.options = options
        self.t0 = time.perf_counter() if t0 is None else t0
        self.incumbents: list[Incumbent] = []
        self.best: tuple[IntegerNetwork, float] | None = None
        self.own_best: tuple[IntegerNetwork, float, str] | None = None
        self.target: tuple[IntegerNetwork, float, str] | None = None  # (network, objective, source)
        self.target_index: int | None = None  # its entry in the timeline
        self.interrupt_requested = False
        self.interrupt_signal: int | None = None

    @property
    def best_network(self) -> IntegerNetwork | None:
        return None if self.best is None else self.best[0]

    @property
    def target_met(self) -> bool:
        return self.target is not None

    @property
    def should_stop(self) -> bool:
        return self.target_met or self.interrupt_requested

    def network_from_vector(self, vector) -> IntegerNetwork:
        return network_from_vector(self.instance.data, vector)

    def best_accuracy(self) -> float:
        return max((inc.train_accuracy for inc in self.incumbents), default=-1.0)

    def on_solution(self, network: IntegerNetwork, objective: float | None, bound: float | None = None,
                    source: str = SOURCE_SOLVER) -> Incumbent:
        """Record ``network`` (weights as an IntegerNetwork; use :meth:`network_from_vector` for a
        canonical weight vector) with its objective and the bound at that moment."""
        if bound is not None and (not math.isfinite(bound) or abs(bound) >= 1e10):
            bound = None  # no dual bound yet (HiGHS reports +-inf before its search)
        d = self.instance.data
        acc = network.accuracy(d.X, d.y)
        inc = Incumbent(time.perf_counter() - self.t0, objective, bound, acc, source)
        self.incumbents.append(inc)
        if objective is not None:
            sense = self.instance.sense
            if self.best is None or better(objective, self.best[1], sense):
                self.best = (network, objective)
            if source != SOURCE_SOLVER and (self.own_best is None or better(objective, self.own_best[1], sense)):
                self.own_best = (network, objective, source)
        target = self.options.target_accuracy
        if target is not None and acc >= target - 1e-12 and self.target is None:
            self.target = (network, objective, source)
            self.target_index = len(self.incumbents) - 1
        if self.options.progress is not None:
            self.options.progress(inc)
        return inc


def network_from_vector(data, vector) -> IntegerNetwork:
    """The network of a canonical weight vector (:meth:`IntegerNetwork.to_vector` order)."""
    return IntegerNetwork.from_vector(vector, data.layer_sizes, data.P, getattr(data, "P_first", None),
                                      preprocessing={"decimals": data.decimals})


def load_solution(instance, solution: ComponentMap) -> None:
    """THE one place that writes a solution's values into the Pyomo model (``check_exactness``
    reads the model after calling it). Adapters never load values into the model themselves."""
    for var, value in solution.items():
        var.set_value(value, skip_validation=True)


@contextmanager
def sigint_as_flag(monitor: IncumbentMonitor) -> Iterator[None]:
    """During a solve, Ctrl-C (SIGINT) and SIGTERM set ``monitor.interrupt_requested`` and
    ``monitor.interrupt_signal``: the adapter stops the solver cleanly at its next check and returns
    the incumbent (termination INTERRUPTED, ``SolveResult.interrupt_signal``); nothing is re-raised
    and the caller decides the exit code. One exception: a SIGTERM handler that the caller
    installed itself (a Python function, e.g. the experiment runner's clean stop) is called once
    the solve has returned, so such a caller still stops; and a worker process (a multiprocessing
    child, e.g. of the experiment runner's pool) still ends on SIGTERM after the clean stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        monitor.interrupt_requested = True
        if monitor.interrupt_signal is None:
            monitor.interrupt_signal = signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    old_term = previous[signal.SIGTERM]
    if monitor.interrupt_signal == signal.SIGTERM:
        if callable(old_term):
            old_term(signal.SIGTERM, None)
        elif old_term == signal.SIG_DFL and multiprocessing.parent_process() is not None:
            os.kill(os.getpid(), signal.SIGTERM)  # a worker process: its parent asked it to end


@dataclass
class RunOutcome:
    """What ``SolverAdapter._run`` reports: status, the solver's final objective and bound (None if
    unknown), every variable's value in its final solution (None: no solution), and its log."""

    status: Termination
    objective: float | None = None
    bound: float | None = None
    solution: ComponentMap | None = None
    log: str = ""


@dataclass
class SolveContext:
    """The state of one solve that the hooks share: the instance, options, clock, monitor and
    heuristic driver (None when off)."""

    instance: Any
    options: SolveOptions
    monitor: IncumbentMonitor
    t0: float
    driver: Any = None
    start: IntegerNetwork | None = None
    start_source: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # solver parameters as the solver holds them

    @property
    def should_stop(self) -> bool:
        return self.monitor.should_stop

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def time_left(self) -> float | None:
        """Seconds left of the time limit (None: no limit), never negative."""
        limit = self.options.time_limit
        return None if limit is None else max(0.0, limit - self.elapsed())

    def on_solver_incumbent(self, vector, objective: float, bound: float | None) -> IntegerNetwork | None:
        """For adapters' incumbent callbacks: record the solver's incumbent (canonical weight vector)
        and let the heuristic improve it; returns a better network to hand back to the solver, or None."""
        network = self.monitor.network_from_vector(vector)
        inc = self.monitor.on_solution(network, objective, bound, SOURCE_SOLVER)
        if self.driver is None or self.should_stop:
            return None
        return self.driver.on_incumbent(network, objective, inc.bound)

    def solution_values(self, network: IntegerNetwork) -> ComponentMap:
        """A complete MIP solution for ``network`` (every variable, by forward pass)."""
        return self.instance.start_values(network)


class SolverAdapter(ABC):
    """One solver behind the common interface: set the class attributes, fill in the hooks (see the
    module docstring for the template); :meth:`solve` is the shared flow."""

    name: ClassVar[SolverName]
    capabilities: ClassVar[Capabilities]
    licence: ClassVar[str] = ""
    OPTION_NAMES: ClassVar[dict[str, str]] = {}  # normalised key -> the solver's parameter name
    DEFAULT_OPTIONS: ClassVar[dict[str, Any]] = {}  # e.g. exactness tolerances
    START_ACCEPTED: ClassVar[tuple[str, ...]] = ()  # lower-case log phrases: the MIP start was used
    START_REJECTED: ClassVar[tuple[str, ...]] = ()  # ... it was not
    LOADS_STANDARD_FORM: ClassVar[bool] = False  # _load reads instance.standard_form() (else: Pyomo constraints)

    # ------------------------------------------------------------------ availability

    @classmethod
    @functools.cache
    def availability(cls) -> tuple[bool, str]:
        """(available, reason if not); cached for the process."""
        try:
            return cls._check_available()
        except Exception as exc:  # pragma: no cover - defensive: any import failure means unavailable
            return False, f"{type(exc).__name__}: {exc}"

    @classmethod
    def is_available(cls) -> bool:
        return cls.availability()[0]

    @classmethod
    @abstractmethod
    def _check_available(cls) -> tuple[bool, str]: ...

    @classmethod
    @abstractmethod
    def version(cls) -> str: ...

    @classmethod
    def licence_info(cls) -> str:
        return cls.licence

    def require_available(self) -> None:
        ok, reason = self.availability()
        if not ok:
            raise SolverUnavailableError(f"solver {self.name.value!r} is not available: {reason}")

    def check_instance(self, instance) -> None:
        """Raise SolverUnavailableError if this solver cannot take ``instance`` (e.g. licence size)."""

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _load(self, instance) -> Any:
        """Build the solver's model of ``instance``; returns the session the other hooks use."""

    @abstractmethod
    def _apply_options(self, session, params: dict[str, Any]) -> dict[str, Any]:
        """Set ``params`` (solver names) in the solver; returns them as the solver holds them."""

    @abstractmethod
    def _set_start(self, session, values: ComponentMap) -> bool | None:
        """Hand the complete MIP start ``values`` to the solver; False if it refused at once."""

    def _wire_heuristic(self, session, ctx: SolveContext) -> None:
        """Connect ``ctx.on_solver_incumbent`` to the solver's callbacks (default: none; the
        heuristic then acts through the start only)."""

    @abstractmethod
    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        """Run the solver (stop early when ``ctx.should_stop``); report its outcome."""

    # ------------------------------------------------------------------ shared pieces

    def solver_params(self, instance, options: SolveOptions, time_left: float | None) -> dict[str, Any]:
        """DEFAULT_OPTIONS, then the normalised options under the solver's names (the time limit is
        what is left of it; mip_gap defaults to 0), then ``options.extra``. Normalised keys in
        ``extra`` are an error: they would reach the solver as unknown raw parameters."""
        clash = sorted(k for k in options.extra if k in self.OPTION_NAMES or k in ("time_limit", "threads", "mip_gap", "seed"))
        if clash:
            raise SolverError(f"normalised option(s) {', '.join(clash)} passed as raw {self.name.value} parameters; "
                              "use SolveOptions fields (SolveOptions.from_mapping)")
        values = {"time_limit": time_left, "threads": options.threads,
                  "mip_gap": 0.0 if options.mip_gap is None else options.mip_gap, "seed": options.seed}
        params = dict(self.DEFAULT_OPTIONS)
        for key, value in values.items():
            if value is not None and key in self.OPTION_NAMES:
                params[self.OPTION_NAMES[key]] = self.convert_option(key, value)
        params.update(options.extra)
        return params

    def convert_option(self, key: str, value: Any) -> Any:
        """A normalised value in the solver's terms (override e.g. for a seed that may not be 0)."""
        return float(value) if key in ("time_limit", "mip_gap") else int(value)

    @staticmethod
    def objective_stop(instance, options: SolveOptions) -> int | None:
        """ceil(target N) for max-correct with a target (its objective counts correct samples, so a
        solver may stop at the first incumbent this good); None otherwise."""
        target = options.target_accuracy
        if target is None or instance.objective != "max-correct":
            return None
        return int(math.ceil(target * instance.data.n_samples - 1e-9))

    def start_accepted(self, log: str) -> bool | None:
        """Whether the log says the MIP start was used (START_ACCEPTED / START_REJECTED phrases)."""
        lowered = log.lower()
        if any(p in lowered for p in self.START_ACCEPTED):
            return True
        if any(p in lowered for p in self.START_REJECTED):
            return False
        return None

    @staticmethod
    def solution_map(variables, values) -> ComponentMap:
        """``RunOutcome.solution`` from parallel sequences of Pyomo variables and their values."""
        return ComponentMap(zip(variables, (float(v) for v in values)))

    # ------------------------------------------------------------------ the flow

    def solve(self, instance, options: SolveOptions, warm_start: IntegerNetwork | None = None) -> SolveResult:
        """apply options -> set start -> run -> read status -> finish (see the module docstring)."""
        t0 = time.perf_counter()
        if not self.LOADS_STANDARD_FORM:
            instance.require_pyomo_rows(f"the {self.name.value} adapter")
        self.require_available()
        self.check_instance(instance)
        ctx = SolveContext(instance, options, IncumbentMonitor(instance, options, t0), t0)
        outcome, start_refused, load_s = None, None, 0.0
        with sigint_as_flag(ctx.monitor):
            self._prepare_start(ctx, warm_start)
            started_load = ctx.elapsed()
            session = self._load(instance)
            load_s = ctx.elapsed() - started_load
            left = ctx.time_left()
            if not ctx.should_stop and (left is None or left > 0.05):
                ctx.params = self._apply_options(session, self.solver_params(instance, options, left))
                if ctx.start is not None:
                    start_refused = self._set_start(session, ctx.solution_values(ctx.start)) is False
                if ctx.driver is not None:
                    self._wire_heuristic(session, ctx)
                try:
                    outcome = self._run(session, ctx)
                except (SolverError, SolverUnavailableError, NoSolutionError):
                    raise
                except Exception as exc:
                    raise SolverError(f"{self.name.value} failed: {type(exc).__name__}: {exc}") from None
        return self._finish(ctx, outcome, start_refused, load_s, warm_start)

    def _prepare_start(self, ctx: SolveContext, warm_start: IntegerNetwork | None) -> None:
        """The first network: the caller's warm start, else the heuristic's construction (when on
        and no weight is fixed by the user: the heuristic moves every weight)."""
        instance, options = ctx.instance, ctx.options
        if options.heuristic and not any(v.fixed for v in instance.weight_variables()):
            from mipnn_pyomo.heuristics.driver import HeuristicDriver

            ctx.driver = HeuristicDriver(instance, options, ctx.monitor, ctx.time_left)
        if warm_start is not None:
            ctx.start, ctx.start_source = warm_start, SOURCE_START
            if is_mip_solution(instance, warm_start):
                ctx.monitor.on_solution(warm_start, instance.evaluate(warm_start), None, SOURCE_START)
        elif ctx.driver is not None:
            ctx.start, ctx.start_source = ctx.driver.construct(ctx.time_left()), SOURCE_CONSTRUCTION

    def _pick_result(self, ctx: SolveContext, outcome: RunOutcome | None):
        """(network, objective, source, solution) returned by the solve, or None. Rules: the first
        network that met the accuracy target wins; else the better (by objective; ties: the
        solver's) of the solver's final solution and the monitor's own best (start, heuristic), so
        a valid start is never thrown away."""
        instance, monitor = ctx.instance, ctx.monitor
        solver_net = solver_obj = None
        if outcome is not None and outcome.solution is not None:
            for var in instance.weight_variables():  # a weight in no row never reached the solver
                if var not in outcome.solution:
                    outcome.solution[var] = float(var.value) if var.fixed and var.value is not None else 0.0
            vector = [outcome.solution[v] for v in instance.weight_variables()]
            solver_net = monitor.network_from_vector(vector)
            solver_obj = outcome.objective if outcome.objective is not None else instance.evaluate(solver_net)
            if not self.capabilities.incumbent_callback:  # the timeline's only view of the solver
                monitor.on_solution(solver_net, solver_obj, outcome.bound, SOURCE_SOLVER)
        if monitor.target is not None:
            net, obj, _ = monitor.target
            choice = (net, obj, SOURCE_TARGET)
        elif solver_net is not None and (monitor.own_best is None
                                         or not better(monitor.own_best[1], solver_obj, instance.sense)):
            choice = (solver_net, solver_obj, SOURCE_SOLVER)
        elif monitor.own_best is not None:
            choice = monitor.own_best
        else:
            return None
        net, obj, source = choice
        same = solver_net is not None and np.array_equal(net.to_vector(), solver_net.to_vector())
        solution = outcome.solution if same else ctx.solution_values(net)
        return net, (solver_obj if same else obj), (SOURCE_SOLVER if same and source != SOURCE_TARGET else source), solution

    def _termination(self, ctx: SolveContext, outcome: RunOutcome | None, source: str | None) -> Termination:
        """Interrupted (not at the target) > target reached > the solver's status (OPTIMAL only for
        the solver's own final solution)."""
        monitor = ctx.monitor
        if monitor.interrupt_requested and not monitor.target_met:
            return Termination.INTERRUPTED
        status = outcome.status if outcome is not None else (
            Termination.TARGET_REACHED if monitor.target_met else Termination.TIME_LIMIT)
        if status == Termination.OPTIMAL and source == SOURCE_SOLVER:
            return status
        if monitor.target_met:
            return Termination.TARGET_REACHED
        if source is not None and status in (Termination.OPTIMAL, Termination.INFEASIBLE):
            return Termination.OTHER  # the solver's search was cut off (e.g. CBC's target cutoff)
        return status

    def _no_solution(self, termination: Termination, options: SolveOptions) -> NoSolutionError:
        limit = f" within {options.time_limit:g} s" if options.time_limit else ""
        if termination == Termination.INFEASIBLE:
            return NoSolutionError("the model is infeasible: no integer network satisfies the constraints")
        if termination == Termination.INTERRUPTED:
            return NoSolutionError(f"the solve was interrupted before any feasible network was found{limit}")
        if termination == Termination.TIME_LIMIT:
            return NoSolutionError(f"no feasible network found{limit} (time limit reached with no incumbent)")
        return NoSolutionError(f"{self.name.value} ended ({termination.value}) without a feasible network")

    def _finish(self, ctx: SolveContext, outcome: RunOutcome | None, start_refused: bool | None,
                load_s: float, warm_start: IntegerNetwork | None) -> SolveResult:
        """Result assembly, the same for every solver."""
        instance, options, monitor = ctx.instance, ctx.options, ctx.monitor
        picked = self._pick_result(ctx, outcome)
        termination = self._termination(ctx, outcome, None if picked is None else picked[2])
        if picked is None:
            raise self._no_solution(termination, options)
        network, objective, source, solution = picked
        wall = ctx.elapsed()
        d = instance.data
        acc = network.accuracy(d.X, d.y)
        bound = outcome.bound if outcome is not None else None
        if termination == Termination.OPTIMAL and bound is None:
            bound = objective
        if bound is None or better(objective, bound, instance.sense):
            # no (valid) bound from the solver: the objective's trivial bound (N correct samples,
            # 2N met margins, zero hinge loss) is still one
            from mipnn_pyomo.objectives import objective_upper_limit

            bound = float(objective_upper_limit(instance.objective, d))
        self._label_result(monitor, wall, objective, bound, acc, source)
        load_solution(instance, solution)
        log = outcome.log if outcome is not None else ""
        accepted = None
        if warm_start is not None:
            valid = is_mip_solution(instance, warm_start)
            # no solver run (the start met the target, or no time was left): a valid start is the result
            accepted = valid if outcome is None else (False if start_refused or not valid else self.start_accepted(log))
        target = options.target_accuracy
        return SolveResult(
            termination=termination, has_solution=True, objective=objective, bound=bound,
            gap=relative_gap(objective, bound), wall_s=wall, solver=self.name.value, solver_version=self.version(),
            network=network, target_reached=target is not None and acc >= target - 1e-12, train_accuracy=acc,
            incumbents=monitor.incumbents, warm_start_accepted=accepted, load_s=load_s, log=log,
            message=self._start_message(ctx, outcome, start_refused, log, source),
            interrupt_signal=monitor.interrupt_signal, solver_params=ctx.params, solution=solution, source=source,
        )

    @staticmethod
    def _label_result(monitor: IncumbentMonitor, wall: float, objective, bound, acc: float, source: str) -> None:
        """The returned network ends the timeline: labelled ``target`` when it is the network that
        met the accuracy target (so a later, better-objective entry of lower accuracy is explained),
        ``final`` when no earlier entry shows it."""
        last = monitor.incumbents[-1] if monitor.incumbents else None
        if source == SOURCE_TARGET:
            if monitor.target_index != len(monitor.incumbents) - 1:
                monitor.incumbents.append(Incumbent(wall, objective, bound, acc, SOURCE_TARGET))
        elif last is None or last.train_accuracy != acc or (objective is not None and last.objective != objective):
            monitor.incumbents.append(Incumbent(wall, objective, bound, acc, SOURCE_FINAL))

    def _start_message(self, ctx: SolveContext, outcome, start_refused, log: str, source: str) -> str:
        """One line when the solver rejected the MIP start (the CLI prints it), else ""."""
        if ctx.start is None or outcome is None:
            return ""
        if not start_refused and self.start_accepted(log) is not False and is_mip_solution(ctx.instance, ctx.start):
            return ""
        kept = (" the solver's own solution is better" if source == SOURCE_SOLVER
                else " the start (or the heuristic's best) is kept: the solver found nothing better")
        value = ctx.instance.evaluate(ctx.start)
        return (f"{self.name.value} rejected the MIP start ({ctx.start_source} network, objective {value:g});"
                f"{kept}" if is_mip_solution(ctx.instance, ctx.start) else
                f"{self.name.value} rejected the MIP start ({ctx.start_source} network): it violates the model's rows")


def progress_printer(stream=None) -> Callable[[Incumbent], None]:
    """A progress callback printing one line per incumbent on a duplicate of stderr, so it stays
    visible while a solver captures the process's output."""
    if stream is None:
        try:
            stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        except (OSError, ValueError, AttributeError):
            stream = sys.stderr

    def show(inc: Incumbent) -> None:
        gap = relative_gap(inc.objective, inc.bound)
        gap_s = f"{100 * gap:6.2f}%" if gap is not None else "    - "
        obj = f"{inc.objective:10.4f}" if inc.objective is not None else "         -"
        bnd = f"{inc.bound:10.4f}" if inc.bound is not None else "         -"
        print(
            f"  [{inc.time_s:8.2f}s] incumbent {obj}  bound {bnd}  gap {gap_s}  train acc "
            f"{100 * inc.train_accuracy:6.2f}%  ({inc.source})",
            file=stream,
        )

    return show


__all__ = [
    "Capabilities",
    "Incumbent",
    "IncumbentMonitor",
    "RunOutcome",
    "SolveContext",
    "SolveOptions",
    "SolveResult",
    "SolverAdapter",
    "SolverError",
    "SolverName",
    "Termination",
    "load_solution",
    "network_from_vector",
    "progress_printer",
    "relative_gap",
    "sigint_as_flag",
]
