"""Solver adapters: agreement on the optimum, accuracy-target stop, warm start, licence, exactness.

Every instance is small (Adult, 12-60 samples, 1-2 hidden neurons): each test takes seconds.
Gurobi tests stay within the pip wheel's size-limited licence (2,000 variables / constraints) and
skip with the reason when Gurobi is not available."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mipnn_pyomo.cli import main
from mipnn_pyomo.errors import SolverUnavailableError
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.solvers import SOLVERS, get_solver
from mipnn_pyomo.training import train_network

OBJECTIVES = ["max-correct", "min-hinge", "sat-margin"]
ALL_SOLVERS = ["highs", "gurobi", "cbc", "cpsat", "scip"]


from conftest import require_solver as _require  # noqa: E402


def _train(adult, n, seed, hidden=(2,), **kw):
    X, y, _ = adult.sample(n, seed)
    kw.setdefault("threads", 1)
    kw.setdefault("time_limit", 60)
    return train_network(X, y, n_classes=adult.n_classes, hidden=hidden, decimals=adult.preprocessor.decimals,
                         seed=seed, **kw)


def test_registry_has_every_solver():
    assert {n.value for n in SOLVERS} == set(ALL_SOLVERS)
    for name in ALL_SOLVERS:
        ok, reason = get_solver(name).availability()
        assert ok or reason  # unavailable always says why


def noisy_instance(seed: int = 2):
    """10 random points in 2 features (1 decimal), random labels: no network with 1 hidden neuron
    fits them all, so the optima are not trivial (seed 2: 8 correct, hinge 2.5, margin 16)."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.uniform(-1, 1, (10, 2)), 1)
    y = rng.integers(0, 2, 10)
    return X, y


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_solvers_agree_on_the_optimum(objective):
    """The same instance through every available solver: same optimal objective, exact networks
    (train_network checks the MIP's activations against the forward pass and raises otherwise)."""
    X, y = noisy_instance()
    values = {}
    for name in ALL_SOLVERS:
        if not get_solver(name).is_available():
            continue
        r = train_network(X, y, n_classes=2, hidden=(1,), decimals=1, objective=objective, solver=name,
                          target_accuracy=None, threads=1, time_limit=60)
        assert r.status == "optimal", (name, r.status)
        assert r.exactness.ok
        assert r.solve.objective == pytest.approx(r.instance.evaluate(r.network), abs=1e-6)
        values[name] = r.solve.objective
    assert "highs" in values
    ref = values["highs"]
    assert ref == pytest.approx({"max-correct": 8.0, "min-hinge": 2.5, "sat-margin": 16.0}[objective], abs=1e-6)  # not trivial
    for name, v in values.items():
        assert v == pytest.approx(ref, abs=1e-6), values


@pytest.mark.parametrize("solver", ALL_SOLVERS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_exactness_each_solver(adult, solver, objective):
    _require(solver)
    r = _train(adult, 20, 1, objective=objective, solver=solver, target_accuracy=0.9)  # strict: raises if inexact
    assert r.exactness.ok and r.exactness.forward_accuracy == r.train_accuracy


@pytest.mark.parametrize("solver", ["highs", "gurobi", "cbc"])
def test_target_stop_max_correct_before_optimality(adult, solver):
    """Adult, 40 samples, 2 hidden: the optimum classifies all 40; with a 0.75 target the solve
    stops at an incumbent that meets the target but is not proven optimal."""
    _require(solver)
    target = 0.75
    r = _train(adult, 40, 0, objective="max-correct", solver=solver, target_accuracy=target)
    assert r.status == "target_reached"
    assert r.solve.target_reached
    X, y, _ = adult.sample(40, 0)
    assert r.network.accuracy(X, y) >= target
    assert r.solve.objective >= math.ceil(target * 40)
    assert r.solve.bound is not None and r.solve.bound != r.solve.objective
    assert r.solve.gap > 0


@pytest.mark.parametrize("solver", ["highs", "gurobi"])
def test_target_stop_by_callback_min_hinge(adult, solver):
    """min-hinge has no objective equivalent of accuracy: the stop comes from the incumbent callback."""
    _require(solver)
    target = 0.75
    r = _train(adult, 60, 0, objective="min-hinge", solver=solver, target_accuracy=target)
    assert r.status == "target_reached"
    X, y, _ = adult.sample(60, 0)
    assert r.network.accuracy(X, y) >= target
    assert r.solve.incumbents and r.solve.incumbents[-1].train_accuracy >= target
    assert r.solve.gap is not None and r.solve.gap > 0  # stopped before optimality (optimum is 0)


@pytest.mark.parametrize("solver", ALL_SOLVERS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_warm_start_accepted(adult, solver, objective):
    adapter = _require(solver)
    if not adapter.capabilities.warm_start:
        pytest.skip(f"{solver} has no warm start")
    base = _train(adult, 20, 1, objective=objective, solver="highs", target_accuracy=None)
    r = _train(adult, 20, 1, objective=objective, solver=solver, target_accuracy=None, warm_start=base.network)
    assert r.solve.warm_start_accepted is True, r.solve.log[-2000:]
    assert r.warm_start["accepted"] is True
    assert r.solve.objective == pytest.approx(base.solve.objective, abs=1e-6)


def test_gurobi_licence_error_names_both_sizes(adult):
    g = _require("gurobi")
    if g.has_full_licence():
        pytest.skip("a full Gurobi licence is installed: no size limit to test")
    X, y, _ = adult.sample(12, 0)
    inst = build_instance(ProblemData(X, y, 2, (16,), 1, adult.preprocessor.decimals), "sat-margin")
    with pytest.raises(SolverUnavailableError) as info:
        g.check_instance(inst)
    msg = str(info.value)
    n_vars, n_cons = g.gurobi_size(inst)
    assert f"{n_vars:,} variables" in msg and f"{n_cons:,} constraints" in msg and "2,000" in msg
    assert n_vars > 2000 or n_cons > 2000
    with pytest.raises(SolverUnavailableError):  # through train_network too, before any solve
        _train(adult, 12, 0, hidden=(16,), objective="sat-margin", solver="gurobi")


def test_gurobi_licence_info():
    g = _require("gurobi")
    info = g.licence_info()
    assert "full licence" in info or "size-limited" in info


def test_cbc_version_parsed():
    c = _require("cbc")
    v = c.version()
    assert v and v != "unknown"


def test_cli_solvers_lists_every_solver(capsys):
    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    for name in ALL_SOLVERS:
        assert name in out
    assert "capabilities" in out
    assert main(["solvers", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["solver"] for r in rows} == set(ALL_SOLVERS)
