"""One batch problem, solved in a worker process: build the MIP of the batch's rows, restrict it to
the allowed box (and local-branching row), solve it (or run the local search instead: the
ablation), and check the result's exactness.

Restrictions on the MIP of a batch (w: the weight-and-bias vector, w0: the task's start):

    lower_t <= w_t <= upper_t                       (per-parameter box; lower_t = upper_t fixes w_t)
    w_t - w0_t = d+_t - d-_t,  d+_t, d-_t >= 0      (for every parameter t not fixed)
    sum_t (d+_t + d-_t) <= k                        (local branching: L1 distance at most k, so at
                                                     most k parameters change)

A first-layer weight of a feature that is zero on every row of the batch appears in no row of the
MIP; it is fixed to ``unused_value`` (the start's value: it cannot change anything the batch sees).
The solver's own local-search heuristic moves every weight within [-P, P], outside these bounds:
batch solves always run with ``heuristic=False``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mipnn_pyomo.batch.vectors import first_layer_weight_positions, from_vector, to_vector


@dataclass
class BatchTask:
    """Everything a worker needs (plain arrays: cheap to send to a Dask worker)."""

    epoch: int
    batch: int
    X: np.ndarray
    y: np.ndarray
    sizes: list[int]
    P: int
    decimals: int
    objective: str
    engine: str  # "mip" | "ls"
    solver: str
    seed: int
    start: np.ndarray  # feasible start vector (inside [lower, upper])
    lower: np.ndarray
    upper: np.ndarray
    k: int | None = None
    time_limit: float = 10.0
    nodes: int | None = None
    ls_time: float = 2.0


@dataclass
class BatchOutcome:
    epoch: int
    batch: int
    vector: np.ndarray
    objective: float | None
    start_objective: float | None
    exact: bool
    termination: str
    wall_s: float
    n_changed: int
    details: dict = field(default_factory=dict)


def run_batch_task(task: BatchTask) -> BatchOutcome:
    """Solve one batch task (the function the executors send to workers)."""
    from mipnn_pyomo.formulation import FormulationOptions, ProblemData
    from mipnn_pyomo.instance import build_instance

    t0 = time.perf_counter()
    data = ProblemData(task.X, task.y, task.sizes[-1], tuple(task.sizes[1:-1]), task.P, task.decimals)
    instance = build_instance(data, task.objective, FormulationOptions(fix_unused_inputs=False))
    lower, upper, start = task.lower.copy(), task.upper.copy(), task.start.copy()
    unused = first_layer_weight_positions(task.sizes, np.flatnonzero(~np.any(data.X != 0, axis=0)))
    lower[unused] = upper[unused] = start[unused]
    start_network = from_vector(start, task.sizes, task.P, task.decimals)
    start_objective = float(instance.evaluate(start_network))
    signum = None
    if task.engine == "ls":
        vector, objective, termination = _local_search(instance, task, start_network, lower, upper)
        _load_values(instance, from_vector(vector, task.sizes, task.P, task.decimals))
    else:
        vector, objective, termination, signum = _solve_mip(instance, task, start_network, lower, upper)
    network = from_vector(vector, task.sizes, task.P, task.decimals)
    from mipnn_pyomo.training import check_exactness

    report = check_exactness(instance, network)
    return BatchOutcome(task.epoch, task.batch, vector, objective, start_objective, bool(report.ok), termination,
                        time.perf_counter() - t0, int(np.sum(vector != task.start)),
                        {"build_s": instance.build_s, "mismatched": report.mismatched_samples[:5],
                         "interrupt_signal": signum})


def _restrict(instance, task: BatchTask, lower: np.ndarray, upper: np.ndarray) -> list:
    """Box bounds on every parameter and the local-branching row (module docstring)."""
    import pyomo.environ as pyo

    variables = instance.weight_variables()
    for var, lo, hi in zip(variables, lower, upper):
        var.setlb(int(lo))
        var.setub(int(hi))
    free = [t for t in range(len(variables)) if lower[t] < upper[t]]
    if task.k is not None and free:
        m = instance.model
        span = 2 * task.P
        m.batch_free = pyo.Set(initialize=range(len(free)))
        m.batch_up = pyo.Var(m.batch_free, bounds=(0, span))
        m.batch_down = pyo.Var(m.batch_free, bounds=(0, span))
        m.batch_distance = pyo.Constraint(
            m.batch_free, rule=lambda m, s: variables[free[s]] - int(task.start[free[s]]) == m.batch_up[s] - m.batch_down[s])
        m.batch_branching = pyo.Constraint(expr=sum(m.batch_up[s] + m.batch_down[s] for s in m.batch_free) <= task.k)
    return variables


def _solve_mip(instance, task: BatchTask, start_network, lower, upper) -> tuple[np.ndarray, float | None, str, int | None]:
    """The restricted MIP from the start; (vector, objective, termination, signal that interrupted it)."""
    from mipnn_pyomo.errors import NoSolutionError
    from mipnn_pyomo.solvers import SolveOptions, get_solver

    variables = _restrict(instance, task, lower, upper)
    extra = {} if task.nodes is None else {"mip_max_nodes": int(task.nodes)}
    options = SolveOptions(time_limit=task.time_limit, threads=1, seed=task.seed, target_accuracy=None,
                           heuristic=False, extra=extra)
    try:
        result = get_solver(task.solver).solve(instance, options, warm_start=start_network)
    except NoSolutionError:
        _load_values(instance, start_network)  # keep the start: it is feasible
        return task.start.copy(), None, "no_solution", None
    values = []
    for t, var in enumerate(variables):
        if lower[t] == upper[t] or var.value is None:
            values.append(lower[t] if lower[t] == upper[t] else task.start[t])
        else:
            values.append(var.value)
    vector = np.clip(np.rint(np.asarray(values, dtype=float)).astype(np.int64), lower, upper)
    return vector, result.objective, result.termination.value, getattr(result, "interrupt_signal", None)


def _local_search(instance, task: BatchTask, start_network, lower, upper) -> tuple[np.ndarray, float, str]:
    """The ablation: the library's local search on the batch from the start, then projected into the
    box (parameters outside it are set to the nearest bound; fixed ones keep their value)."""
    from mipnn_pyomo.heuristics import IncumbentImprover

    improver = IncumbentImprover(instance, time_budget=task.ls_time, seed=task.seed, total_budget=None)
    improved, _, _ = improver.improve(start_network)
    vector = np.clip(to_vector(improved), lower, upper)
    network = from_vector(vector, task.sizes, task.P, task.decimals)
    return vector, float(instance.evaluate(network)), "local_search"


def _load_values(instance, network) -> None:
    """Put ``network`` (and the activations it implies) into the model's variables, so that the
    exactness check compares this network with the MIP point it defines."""
    for var, value in instance.start_values(network).items():
        var.set_value(value, skip_validation=True)
