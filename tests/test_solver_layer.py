"""The solver layer's one flow: options and seed reach each solver, the heuristic driver works with
every solver, the monitor keeps the best, the gap rule, the timeline labels, the solution values a
result carries, and the adapter template (a whole solver in a few lines, here a fake one)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from mipnn_pyomo.data import load_adult
from mipnn_pyomo.errors import NoSolutionError, SolverError
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.solvers import SolveOptions, get_solver
from mipnn_pyomo.solvers.base import (Capabilities, IncumbentMonitor, RunOutcome, SolverAdapter, SolverName,
                                      Termination, relative_gap)
from mipnn_pyomo.training import check_exactness, train_network, train_on_dataset

ALL_SOLVERS = ["highs", "gurobi", "cbc"]


from conftest import require_solver as _require  # noqa: E402


def _instance(adult, n=20, hidden=(2,), objective="sat-margin", seed=0):
    X, y, _ = adult.sample(n, seed)
    return build_instance(ProblemData(X, y, 2, hidden, 1, adult.preprocessor.decimals), objective)


# ------------------------------------------------------------------------------------------ options


@pytest.mark.parametrize("solver, param, expected", [("highs", "random_seed", 7), ("gurobi", "Seed", 7),
                                                     ("cbc", "randomCbcSeed", "8")])
def test_seed_from_solver_options_reaches_the_solver(adult, solver, param, expected):
    """``seed = 7`` in the solver options (a --solver-options file) is the seed the solver holds:
    read back from the highspy object, Gurobi's Model.Params, CBC's command line (seed + 1: 0
    would mean 'from the clock')."""
    _require(solver)
    run = train_on_dataset(adult, 12, seed=3, hidden=(1,), solver=solver, time_limit=20, target_accuracy=None,
                           threads=1, solver_options={"seed": 7})
    assert run.result.solve.solver_params[param] == expected
    run = train_on_dataset(adult, 12, seed=3, hidden=(1,), solver=solver, time_limit=20, target_accuracy=None,
                           threads=1)
    assert run.result.solve.solver_params[param] != expected  # the sampling seed otherwise


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_normalised_keys_are_never_raw_solver_params(adult, solver):
    adapter = _require(solver)
    params = adapter.solver_params(None, SolveOptions(time_limit=5, threads=1, mip_gap=0.01, seed=3), 4.0)
    for key in ("time_limit", "threads", "mip_gap", "seed"):
        assert adapter.OPTION_NAMES[key] in params
        assert key not in params or adapter.OPTION_NAMES[key] == key
    with pytest.raises(SolverError, match="time_limit"):
        adapter.solver_params(None, SolveOptions(extra={"time_limit": 5}), None)


# ------------------------------------------------------------------------------------------ heuristic


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_heuristic_runs_with_every_solver_and_can_be_switched_off(adult, solver):
    _require(solver)
    X, y, _ = adult.sample(30, 2)
    kw = dict(n_classes=2, hidden=(2,), decimals=adult.preprocessor.decimals, objective="sat-margin",
              solver=solver, target_accuracy=None, time_limit=20, threads=1)
    on = train_network(X, y, **kw)
    assert on.solve.incumbents[0].source == "construction"
    assert on.exactness.ok
    off = train_network(X, y, heuristic=False, **kw)
    assert not {"construction", "local-search"} & {inc.source for inc in off.solve.incumbents}
    assert off.exactness.ok


# ------------------------------------------------------------------------------------------ monitor, gap


def test_monitor_keeps_the_best_not_the_latest(adult):
    inst = _instance(adult)
    monitor = IncumbentMonitor(inst, SolveOptions(target_accuracy=None))
    zero = IntegerNetwork.from_vector(np.zeros(inst.data.layer_sizes[0] * 2 + 2 * 2 + 2 + 2), inst.data.layer_sizes, 1)
    other = IntegerNetwork.from_vector(np.ones(zero.to_vector().size), inst.data.layer_sizes, 1)
    monitor.on_solution(zero, 30.0, None)
    monitor.on_solution(other, 20.0, None)  # worse (sat-margin is maximised), but later
    assert monitor.best_network is zero and monitor.best[1] == 30.0
    assert monitor.own_best is None  # both came from the solver
    monitor.on_solution(other, 25.0, None, source="local-search")
    assert monitor.own_best[1] == 25.0 and monitor.best[1] == 30.0


def test_gap_rule():
    assert relative_gap(0.0, 2e13) is None  # a solver's infinity stand-in: no bound
    assert relative_gap(0.0, 5.0) == 1.0  # objective 0: never an absurd percentage
    assert relative_gap(30.0, 40.0) == pytest.approx(0.25)
    assert relative_gap(2.5, 0.0) == pytest.approx(1.0)
    assert relative_gap(0.3, 0.0) == pytest.approx(0.3)  # small values: denominator at least 1
    assert relative_gap(7.0, 7.0) == 0.0 and relative_gap(None, 1.0) is None


# ------------------------------------------------------------------------------------------ vectors, solutions


def test_weight_vector_order_is_the_models(adult):
    inst = _instance(adult, hidden=(3,))
    rng = np.random.default_rng(0)
    sizes = inst.data.layer_sizes
    net = IntegerNetwork([rng.integers(-1, 2, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])],
                         [rng.integers(-1, 2, b) for b in sizes[1:]], 1)
    vector, L = net.to_vector(), len(sizes) - 1
    for position, var in enumerate(inst.weight_variables()):  # w[l, i, j] ... then b[l, j] ...
        index = var.index()
        expected = net.weights[index[0] - 1][index[1], index[2]] if len(index) == 3 else net.biases[index[0] - 1][index[1]]
        assert vector[position] == expected, (position, var.name)
    assert len(inst.weight_variables()) == vector.size and L == 2
    back = IntegerNetwork.from_vector(net.to_vector(), sizes, 1)
    assert all(np.array_equal(a, b) for a, b in zip(back.weights + back.biases, net.weights + net.biases))
    with pytest.raises(ValueError, match="does not fit"):
        IntegerNetwork.from_vector(np.zeros(3), sizes, 1)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
def test_exactness_uses_the_results_solution_not_the_models_state(adult, solver):
    _require(solver)
    X, y, _ = adult.sample(20, 1)
    r = train_network(X, y, n_classes=2, hidden=(2,), decimals=adult.preprocessor.decimals, solver=solver,
                      target_accuracy=None, time_limit=20, threads=1)
    assert r.solve.solution is not None and len(r.solve.solution) > 0
    for var in r.instance.model.u.values():
        var.set_value(None if var.value is None else 1 - var.value)  # scramble the model
    assert check_exactness(r.instance, r.network, r.solve.solution).ok


# ------------------------------------------------------------------------------------------ the template


class FakeAdapter(SolverAdapter):
    """A whole adapter on the template: it 'solves' by returning a fixed network's values."""

    name = SolverName.HIGHS  # any registered name; the fake is never put in the registry
    capabilities = Capabilities(accuracy_target_callback=False, objective_stop=False, warm_start=True,
                                threads=False, time_limit=True, mip_gap=False, seed=True)
    OPTION_NAMES = {"time_limit": "limit", "seed": "rng"}
    START_ACCEPTED = ("start used",)
    START_REJECTED = ("start refused",)

    def __init__(self, answer: IntegerNetwork | None, log: str = ""):
        self.answer, self.log = answer, log

    @classmethod
    def _check_available(cls):
        return True, ""

    @classmethod
    def version(cls):
        return "0"

    def _load(self, instance):
        return {}

    def _apply_options(self, session, params):
        return params

    def _set_start(self, session, values):
        return None

    def _run(self, session, ctx):
        if self.answer is None:
            return RunOutcome(Termination.TIME_LIMIT, log=self.log)
        values = ctx.solution_values(self.answer)
        return RunOutcome(Termination.TIME_LIMIT, ctx.instance.evaluate(self.answer), None, values, self.log)


def test_template_start_is_never_thrown_away_and_a_rejection_is_reported(adult):
    inst = _instance(adult, n=30)
    start = IntegerNetwork.from_vector(np.zeros(sum(a * b + b for a, b in zip(inst.data.layer_sizes[:-1],
                                                                              inst.data.layer_sizes[1:]))),
                                       inst.data.layer_sizes, 1)
    options = SolveOptions(target_accuracy=None, time_limit=10, heuristic=False, seed=5)
    r = FakeAdapter(None, log="... start refused ...").solve(inst, options, warm_start=start)
    assert r.source == "start" and r.objective == inst.evaluate(start)
    assert r.warm_start_accepted is False and "rejected the MIP start" in r.message and "kept" in r.message
    assert r.solver_params == {"limit": pytest.approx(10, abs=1), "rng": 5}
    with pytest.raises(NoSolutionError, match="no feasible network"):
        FakeAdapter(None).solve(inst, options)


def test_template_labels_the_target_network(adult):
    """The network that met the accuracy target is returned and ends the timeline as 'target',
    even when a later incumbent has a better objective but a lower accuracy."""
    inst = _instance(adult, n=30)
    d = inst.data
    heuristic_net = IntegerNetwork.from_vector(np.zeros(sum(a * b + b for a, b in zip(d.layer_sizes[:-1],
                                                                                      d.layer_sizes[1:]))),
                                               d.layer_sizes, 1)
    acc = heuristic_net.accuracy(d.X, d.y)
    options = SolveOptions(target_accuracy=acc, time_limit=10, heuristic=False)
    adapter = FakeAdapter(None)
    r = adapter.solve(inst, options, warm_start=heuristic_net)  # the start meets the target: no run
    assert r.termination == Termination.TARGET_REACHED and r.source == "target"
    assert r.incumbents[-1].source in ("start", "target")
    monitor_like = SolveOptions(target_accuracy=acc)
    m = IncumbentMonitor(inst, monitor_like)
    m.on_solution(heuristic_net, 5.0, None, source="local-search")
    m.on_solution(heuristic_net, 9.0, None)  # a later entry after the target
    SolverAdapter._label_result(m, 1.0, 5.0, 10.0, acc, "target")
    assert m.incumbents[-1].source == "target" and m.target_index == 0


# ------------------------------------------------------------------------------------------ time, signals


def _hard(adult):
    X, y, _ = adult.sample(200, 0)
    return X, y


def test_solve_ends_within_the_time_limit(adult):
    X, y = _hard(adult)
    limit = 4.0
    t0 = time.perf_counter()
    r = train_network(X, y, n_classes=2, hidden=(8,), decimals=adult.preprocessor.decimals, objective="sat-margin",
                      target_accuracy=None, time_limit=limit, threads=1)
    assert r.solve.wall_s <= limit + 0.5, r.solve.wall_s  # construction + load + solver share the limit
    assert time.perf_counter() - t0 < limit + r.build_s + 3
    assert r.solve.solver_params["time_limit"] < limit  # the solver got what was left


def test_sigterm_during_a_solve_is_a_clean_stop(adult):
    """SIGTERM acts like Ctrl-C: the solve stops, keeps its incumbent, records the signal, and
    does not kill the process (the CLI decides the exit code)."""
    X, y = _hard(adult)
    before = signal.getsignal(signal.SIGTERM)
    seen = threading.Event()
    timer = threading.Timer(60, lambda: None)

    def on_incumbent(inc):
        if not seen.is_set():
            seen.set()
            timer.cancel()
            threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()

    r = train_network(X, y, n_classes=2, hidden=(16,), decimals=adult.preprocessor.decimals, objective="sat-margin",
                      target_accuracy=None, time_limit=60, threads=1, progress=on_incumbent)
    assert r.solve.termination == Termination.INTERRUPTED
    assert r.solve.interrupt_signal == signal.SIGTERM
    assert r.exactness.ok and r.solve.wall_s < 30
    assert signal.getsignal(signal.SIGTERM) == before


def test_gurobi_takes_the_heuristics_network_through_cbsetsolution(adult, monkeypatch):
    """The driver's improved network goes back into the running Gurobi solve (MIPNODE
    cbSetSolution + cbUseSolution): Gurobi reports it accepted with its objective. The driver is
    replaced by one that offers a known good network once (N = 120, hidden 2: within the pip
    licence's 2,000 variables / constraints)."""
    _require("gurobi")
    from mipnn_pyomo.heuristics import driver as driver_mod

    X, y, _ = adult.sample(120, 3)
    kw = dict(n_classes=2, hidden=(2,), decimals=adult.preprocessor.decimals, objective="sat-margin",
              target_accuracy=None, threads=1)
    good = train_network(X, y, solver="highs", time_limit=5, **kw)
    offered = []

    def offer_once(self, network, objective, bound):
        if offered or objective >= good.solve.objective:
            return None
        offered.append(objective)
        self._offer(good.network, good.solve.objective, bound, "local-search")
        return good.network

    monkeypatch.setattr(driver_mod.HeuristicDriver, "on_incumbent", offer_once)
    monkeypatch.setattr(driver_mod.HeuristicDriver, "construct", lambda self, left: self.improver._zero_network())
    r = train_network(X, y, solver="gurobi", time_limit=8, **kw)
    assert offered, "Gurobi reported no incumbent worse than the offered network"
    assert f"heuristic solution handed to Gurobi, objective {good.solve.objective:g}" in r.solve.log
    assert r.solve.objective >= good.solve.objective and r.exactness.ok


def test_a_pickled_result_leaves_the_model_behind(adult):
    import pickle

    X, y, _ = adult.sample(12, 0)
    r = train_network(X, y, n_classes=2, hidden=(1,), decimals=adult.preprocessor.decimals, target_accuracy=None,
                      time_limit=10, threads=1)
    assert r.solve.solution is not None
    back = pickle.loads(pickle.dumps(r.solve))
    assert back.solution is None and back.objective == r.solve.objective and back.network.P == 1


def _solve_forever(ready):
    X, y = _hard(load_adult())
    train_network(X, y, n_classes=2, hidden=(16,), objective="sat-margin", target_accuracy=None, time_limit=120,
                  threads=1, progress=lambda inc: ready.set())


def test_a_worker_process_still_ends_on_sigterm():
    """In a multiprocessing child (the experiment runner's pool) SIGTERM stops the solve cleanly
    and then ends the process, as its parent asked."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_solve_forever, args=(ready,))
    proc.start()
    try:
        assert ready.wait(90), "no incumbent in the child"
        proc.terminate()  # SIGTERM
        proc.join(30)
        assert proc.exitcode == -signal.SIGTERM
    finally:
        if proc.is_alive():
            proc.kill()
