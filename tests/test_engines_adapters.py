"""The cpsat and scip adapters (solvers/cpsat.py, solvers/scip.py) on the one solve flow: exact
results for every objective, the accuracy-target stop, seeds, the heuristic's construction as
the start, and a stop requested during the solve."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_instance
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.objectives import OBJECTIVES
from mipnn_pyomo.solvers import get_solver, solver_names
from mipnn_pyomo.solvers.base import SOURCE_CONSTRUCTION, SOURCE_SOLVER, SOURCE_TARGET, Termination
from mipnn_pyomo.training import train_network

ENGINES = ["cpsat", "scip"]
SEED_PARAM = {"cpsat": "random_seed", "scip": "randomization/randomseedshift"}


def _require(name: str):
    ok, reason = get_solver(name).availability()
    if not ok:
        pytest.skip(f"{name} not available: {reason}")


def _train(solver: str, objective: str = "sat-margin", n: int = 12, hidden=(2,), P: int = 1, seed: int = 1, **kw):
    X, y = random_instance(seed, n=n, d=3)
    kw.setdefault("time_limit", 30)
    kw.setdefault("threads", 1)
    return train_network(X, y, n_classes=2, hidden=hidden, P=P, objective=objective, solver=solver, **kw)


def test_engines_are_registered():
    assert {"cpsat", "scip"} <= set(solver_names())
    assert get_solver("CPSAT").capabilities.heuristic_injection is False
    assert get_solver("scip").capabilities.threads is False  # accepted and ignored


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("solver", ENGINES)
def test_every_objective_is_solved_exactly(solver, objective):
    _require(solver)
    run = _train(solver, objective, target_accuracy=None, heuristic=False)  # strict: the exactness check
    assert run.exactness.ok
    assert run.solve.termination == Termination.OPTIMAL
    assert run.solve.objective == pytest.approx(run.instance.evaluate(run.network))
    assert any(inc.source == SOURCE_SOLVER for inc in run.solve.incumbents)


def test_cpsat_model_without_exact_scale_is_one_clear_error():
    # min-hinge's chords are exact now (P = 3, H = 16 compiles: tests/test_cpsat_engine.py); at the
    # largest P the big-M coefficients, summed in floating point, have no exact integer scale
    _require("cpsat")
    with pytest.raises(ModelConfigError, match="CP-SAT needs integer coefficients") as info:
        _train("cpsat", n=8, hidden=(2,), P=1000, heuristic=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("solver", ENGINES)
def test_accuracy_target_stops_early(solver):
    _require(solver)
    run = _train(solver, n=40, hidden=(3,), target_accuracy=0.6, heuristic=False, time_limit=60)
    assert run.solve.termination == Termination.TARGET_REACHED and run.exactness.ok
    assert run.train_accuracy >= 0.6 and run.solve.wall_s < 30
    # the returned network is the target one, and the search stopped at it: no later incumbent
    assert run.solve.source == SOURCE_TARGET
    accs = [inc.train_accuracy for inc in run.solve.incumbents]
    first = next(i for i, acc in enumerate(accs) if acc >= 0.6)
    assert first == len(accs) - 1 or run.solve.incumbents[-1].source == SOURCE_TARGET


@pytest.mark.parametrize("solver", ENGINES)
def test_seed_reaches_the_engine(solver):
    _require(solver)
    run = _train(solver, target_accuracy=None, heuristic=False, solver_options={"seed": 7})
    assert run.solve.solver_params[SEED_PARAM[solver]] == 7
    run = _train(solver, target_accuracy=None, heuristic=False, seed=3)
    assert run.solve.solver_params[SEED_PARAM[solver]] != 7


@pytest.mark.parametrize("solver", ENGINES)
def test_heuristic_construction_is_the_start(solver):
    _require(solver)
    on = _train(solver, n=20, target_accuracy=None, time_limit=6)
    sources = [inc.source for inc in on.solve.incumbents]
    assert SOURCE_CONSTRUCTION in sources and on.exactness.ok
    assert get_solver(solver).START_ACCEPTED[0] in on.solve.log  # the construction was the engine's start
    off = _train(solver, n=20, target_accuracy=None, heuristic=False, time_limit=6)
    assert SOURCE_CONSTRUCTION not in [inc.source for inc in off.solve.incumbents]


@pytest.mark.parametrize("solver", ENGINES)
def test_stop_requested_during_the_solve_interrupts(solver):
    """As Ctrl-C does (the signal handler sets monitor.interrupt_requested): the flag set in the
    incumbent callback stops the engine; the incumbent is returned, termination INTERRUPTED."""
    _require(solver)
    adapter = get_solver(solver)

    class Interrupting(type(adapter)):
        def _run(self, session, ctx):
            on_incumbent = ctx.on_solver_incumbent

            def interrupt_after(vector, objective, bound):
                ctx.monitor.interrupt_requested = True
                return on_incumbent(vector, objective, bound)

            ctx.on_solver_incumbent = interrupt_after
            return super()._run(session, ctx)

    from mipnn_pyomo.formulation import ProblemData
    from mipnn_pyomo.instance import build_instance
    from mipnn_pyomo.solvers import SolveOptions

    X, y = random_instance(2, n=120, d=3)
    instance = build_instance(ProblemData(X, y, 2, (8,), 1), "sat-margin")
    result = Interrupting().solve(instance, SolveOptions(time_limit=60, threads=1, heuristic=False,
                                                         target_accuracy=None))
    assert result.termination == Termination.INTERRUPTED and result.wall_s < 30
    assert result.network is not None
    assert np.isfinite(result.objective)
