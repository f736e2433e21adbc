"""Issue 12 item 2 (no sensible limit on P) and its kind: P has a documented upper bound with one
clear error; min-hinge's cuts are built only for min-hinge, capped, without a quadratic duplicate
check; the heuristic's moves over 2P + 1 values honour the stop callback and time budgets."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import random_instance

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import FormulationOptions, ProblemData
from mipnn_pyomo.gd import train_gd
from mipnn_pyomo.heuristics import IncumbentImprover, ScoreFunction, local_search
from mipnn_pyomo.heuristics.local_search import CHUNK_ENTRIES
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.numerics import MAX_HINGE_BREAKPOINTS, MAX_P
from mipnn_pyomo.objectives import OutputContext, get_objective, hinge_cuts
from mipnn_pyomo.training import train_network


@pytest.mark.parametrize("P", [MAX_P + 1, 10**6, 10**9])
def test_P_above_the_limit_is_one_clear_error(P):
    X, y = random_instance(0, n=6, d=2)
    with pytest.raises(ModelConfigError, match=f"P must be at most {MAX_P}.*got {P}"):
        ProblemData(X, y, 2, (2,), P)
    with pytest.raises(ModelConfigError, match=f"P must be at most {MAX_P}"):
        train_gd(X, y, 2, hidden=(2,), P=P, max_epochs=1)


def test_cli_refuses_a_huge_P_with_one_line():
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mipnn")), "train", "--n-train", "20", "--hidden", "2", "--P", "1000000000",
         "--time-limit", "5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"error: P must be at most {MAX_P}")


def test_hinge_cuts_at_the_largest_P_are_capped_and_fast():
    data = ProblemData(np.zeros((2, 1)), np.array([0, 1]), 2, (16,), MAX_P)
    t = time.perf_counter()
    cuts = hinge_cuts(data, FormulationOptions())
    assert time.perf_counter() - t < 2.0  # was a quadratic duplicate check over 2P(H+1)+1 = 34001 chords
    assert OutputContext.of(data).hinge_breakpoints == MAX_HINGE_BREAKPOINTS
    assert 0 < len(cuts) < MAX_HINGE_BREAKPOINTS
    with pytest.raises(ModelConfigError, match=f"hinge_breakpoints must be in 2..{MAX_HINGE_BREAKPOINTS}"):
        FormulationOptions(hinge_breakpoints=MAX_HINGE_BREAKPOINTS + 1)


def test_only_min_hinge_gets_hinge_rows_and_construction_is_quick_at_large_P():
    X, y = random_instance(1, n=30, d=4)
    data = ProblemData(X, y, 2, (4,), MAX_P)
    inst = build_instance(data, "sat-margin")
    assert not hasattr(inst.model, "hinge_epigraph") and not hasattr(inst.model, "HINGE_CUTS")
    t = time.perf_counter()
    imp = IncumbentImprover(inst, time_budget=0.3, seed=0)
    net = imp.construct(1.0)
    assert time.perf_counter() - t < 10.0  # the improver built all 34001-breakpoint cuts, quadratically
    assert np.isfinite(inst.evaluate(net))


def test_a_large_P_move_is_scored_in_bounded_chunks_and_stops_between_them():
    rng = np.random.default_rng(0)
    N, P = 3000, MAX_P
    X = np.round(rng.random((N, 3)), 4)
    y = rng.integers(0, 2, N)
    net = IntegerNetwork([np.zeros((3, 4)), np.zeros((4, 2))], [np.zeros(4), np.array([1, -1])], P)
    objective = get_objective("sat-margin")
    inner = ScoreFunction.for_objective(objective, OutputContext(y, 2, P, 4))
    sizes, calls = [], []

    def recording(S):
        sizes.append(S.size)
        return inner(S)

    score = ScoreFunction(recording, inner.outputs, tie_break=False)
    t = time.perf_counter()
    local_search(net, X, score, time_budget=120.0, stop=lambda: calls.append(1) or len(calls) > 3)
    assert time.perf_counter() - t < 10.0
    assert max(sizes) <= CHUNK_ENTRIES  # (2P + 1) N n_out = 12 million entries at once before
    assert len(sizes) <= 6  # the stop callback is asked between chunks of one move's values


def test_training_at_the_largest_P_keeps_the_time_limit():
    X, y = random_instance(2, n=40, d=4)
    t = time.perf_counter()
    r = train_network(X, y, hidden=(4,), P=MAX_P, objective="sat-margin", target_accuracy=None, time_limit=5)
    assert time.perf_counter() - t < 30.0
    assert r.exactness.ok


def test_symmetry_breaking_is_refused_in_the_paper_variant():
    with pytest.raises(ModelConfigError, match="symmetry breaking is not part of the paper's model"):
        FormulationOptions(variant="paper", symmetry_breaking=True)
    assert FormulationOptions(variant="tight", symmetry_breaking=True).symmetry_breaking
