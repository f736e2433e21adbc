"""The solver adapter layer's shared pieces: names, options, results, and the incumbent monitor.

Every adapter takes a :class:`~mipnn_pyomo.instance.TrainingInstance` and returns a
:class:`SolveResult` of one shape, whatever the solver. The incumbent monitor turns each improving
MIP solution into an integer network, measures its training accuracy by the numpy forward pass,
records it in the timeline, and says when the accuracy target is met.
"""

from __future__ import annotations

import enum
import functools
import math
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np

from mipnn_pyomo.errors import NoSolutionError, SolverError, SolverUnavailableError
from mipnn_pyomo.network import IntegerNetwork


class SolverName(str, enum.Enum):
    HIGHS = "highs"
    GUROBI = "gurobi"
    CBC = "cbc"


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
    heuristic: bool = True  # local-search primal heuristic on incumbents (where the adapter supports it)
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


@dataclass
class Incumbent:
    """One improving solution: when, its objective, the bound then, and its training accuracy."""

    time_s: float
    objective: float | None
    bound: float | None
    train_accuracy: float
    source: str = "solver"

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
    message: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-friendly fields (no network, no log)."""
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
            "incumbents": [i.to_dict() for i in self.incumbents],
            "message": self.message,
        }


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|incumbent - bound| / max(|incumbent|, 1e-9); 0 when equal; None without both."""
    if objective is None or bound is None or not math.isfinite(objective) or not math.isfinite(bound):
        return None
    diff = abs(objective - bound)
    if diff <= 1e-9:
        return 0.0
    return diff / max(abs(objective), 1e-9)


class IncumbentMonitor:
    """Evaluates incumbents by forward pass and decides when the accuracy target is met.

    ``on_solution(weight_vector, objective, bound)`` takes the weights and biases in
    :func:`~mipnn_pyomo.formulation.weight_variables` order."""

    def __init__(self, instance, options: SolveOptions, t0: float | None = None):
        self.instance = instance
        self.options = options
        self.t0 = time.perf_counter() if t0 is None else t0
        self.incumbents: list[Incumbent] = []
        self.best_network: IntegerNetwork | None = None
        self.target_met = False
        self.interrupt_requested = False
        # The first solution that met the target, as the adapter's own payload (e.g. the full
        # column vector): solvers may report later incumbents with a better objective but a lower
        # accuracy before they stop, and the result must be the network that met the target.
        self.target_payload: Any = None
        self.target_objective: float | None = None

    def network_from_vector(self, vector) -> IntegerNetwork:
        return network_from_vector(self.instance.data, vector)

    def on_solution(self, vector, objective: float | None, bound: float | None, source: str = "solver",
                    payload: Any = None) -> Incumbent:
        if bound is not None and not math.isfinite(bound):
            bound = None  # no dual bound yet (HiGHS reports +-inf before its search)
        network = self.network_from_vector(vector)
        d = self.instance.data
        acc = network.accuracy(d.X, d.y)
        inc = Incumbent(time.perf_counter() - self.t0, objective, bound, acc, source)
        self.incumbents.append(inc)
        self.best_network = network
        target = self.options.target_accuracy
        if target is not None and acc >= target - 1e-12 and not self.target_met:
            self.target_met = True
            self.target_payload = payload
            self.target_objective = objective
        if self.options.progress is not None:
            self.options.progress(inc)
        return inc

    @property
    def should_stop(self) -> bool:
        return self.target_met or self.interrupt_requested


def network_from_vector(data, vector) -> IntegerNetwork:
    """Weights then biases, each layer in (l, i, j) / (l, j) order, as built by instance_data."""
    vector = np.rint(np.asarray(vector, dtype=float)).astype(np.int64)
    sizes = data.layer_sizes
    weights, pos = [], 0
    for l in range(1, len(sizes)):
        n = sizes[l - 1] * sizes[l]
        weights.append(vector[pos : pos + n].reshape(sizes[l - 1], sizes[l]))
        pos += n
    biases = []
    for l in range(1, len(sizes)):
        biases.append(vector[pos : pos + sizes[l]])
        pos += sizes[l]
    weights = [np.clip(w, -data.P, data.P) for w in weights]
    biases = [np.clip(b, -data.P, data.P) for b in biases]
    return IntegerNetwork(weights=weights, biases=biases, P=data.P, preprocessing={"decimals": data.decimals})


@contextmanager
def sigint_as_flag(monitor: IncumbentMonitor) -> Iterator[None]:
    """During a solve, Ctrl-C (SIGINT) and SIGTERM set ``monitor.interrupt_requested``: the adapter
    stops the solver cleanly at its next check and returns the incumbent, instead of an exception
    being raised (and lost) inside a solver callback. SIGINT ends there (the result is marked
    interrupted); a SIGTERM is handed on to the previous handler once the solve has returned, so a
    process asked to terminate still does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, frame):  # noqa: ARG001
        monitor.interrupt_requested = True
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if signal.SIGTERM in received:
        old = previous[signal.SIGTERM]
        if callable(old):
            old(signal.SIGTERM, None)
        elif old == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGTERM)


class SolverAdapter(ABC):
    """One solver behind the common interface. Subclasses set ``name`` and ``capabilities``."""

    name: ClassVar[SolverName]
    capabilities: ClassVar[Capabilities]
    licence: ClassVar[str] = ""

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

    @abstractmethod
    def solve(self, instance, options: SolveOptions, warm_start: IntegerNetwork | None = None) -> SolveResult: ...

    def finish(self, instance, monitor: "IncumbentMonitor", **kwargs) -> SolveResult:
        """:func:`finish_result` with this adapter's solver name and version filled in."""
        return finish_result(instance, monitor, solver=self.name.value, solver_version=self.version(), **kwargs)


def finish_result(
    instance,
    monitor: IncumbentMonitor,
    *,
    termination: Termination,
    final_vector,
    objective: float | None,
    bound: float | None,
    wall_s: float,
    solver: str,
    solver_version: str,
    options: SolveOptions,
    log: str = "",
    load_s: float = 0.0,
    warm_start_accepted: bool | None = None,
) -> SolveResult:
    """Common end of every adapter: rebuild the final network, measure it by forward pass, decide
    target_reached, and raise NoSolutionError when there is no network at all."""
    if final_vector is None:
        if termination == Termination.INFEASIBLE:
            raise NoSolutionError("the model is infeasible: no integer network satisfies the constraints")
        limit = f" within {options.time_limit:g} s" if options.time_limit else ""
        if termination == Termination.INTERRUPTED:
            raise NoSolutionError(f"the solve was interrupted before any feasible network was found{limit}")
        if termination == Termination.TIME_LIMIT:
            raise NoSolutionError(f"no feasible network found{limit} (time limit reached with no incumbent)")
        raise NoSolutionError(f"{solver} ended ({termination.value}) without a feasible network")
    network = network_from_vector(instance.data, final_vector)
    d = instance.data
    if bound is None and objective is not None:
        # No bound from the solver (stopped before its search): the objective's trivial bound
        # (N correct samples, 2N met margins, zero hinge loss) is still a valid one.
        from mipnn_pyomo.objectives import objective_upper_limit

        bound = float(objective_upper_limit(instance.objective, d))
    acc = network.accuracy(d.X, d.y)
    target = options.target_accuracy
    target_reached = target is not None and acc >= target - 1e-12
    if termination not in (Termination.OPTIMAL, Termination.INTERRUPTED, Termination.ERROR) and target_reached:
        termination = Termination.TARGET_REACHED
    if not monitor.incumbents or monitor.incumbents[-1].train_accuracy != acc or (
        objective is not None and monitor.incumbents[-1].objective != objective
    ):
        monitor.incumbents.append(Incumbent(wall_s, objective, bound, acc, "final"))
    return SolveResult(
        termination=termination,
        has_solution=True,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        wall_s=wall_s,
        solver=solver,
        solver_version=solver_version,
        network=network,
        target_reached=target_reached,
        train_accuracy=acc,
        incumbents=monitor.incumbents,
        warm_start_accepted=warm_start_accepted,
        load_s=load_s,
        log=log,
    )


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
            f"  [{inc.time_s:8.2f}s] incumbent {obj}  bound {bnd}  gap {gap_s}  train acc {100 * inc.train_accuracy:6.2f}%",
            file=stream,
        )

    return show


__all__ = [
    "Capabilities",
    "Incumbent",
    "IncumbentMonitor",
    "SolveOptions",
    "SolveResult",
    "SolverAdapter",
    "SolverError",
    "SolverName",
    "Termination",
    "finish_result",
    "network_from_vector",
    "progress_printer",
    "relative_gap",
    "sigint_as_flag",
]
