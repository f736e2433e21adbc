"""Export: deterministic LP/MPS files that other solvers read and solve to the same optimum."""

from __future__ import annotations

import re
import subprocess

import highspy
import pytest

from mipnn_pyomo.cli import main
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.export import export_instance
from mipnn_pyomo.formulation import ProblemData
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.solvers.cbc import cbc_executable
from mipnn_pyomo.training import train_network

from test_solvers import noisy_instance

OBJECTIVES = ["max-correct", "min-hinge", "sat-margin"]


def _instance(objective):
    X, y = noisy_instance()
    return build_instance(ProblemData(X, y, 2, (1,), 1, 1), objective)


@pytest.mark.parametrize("fmt", ["lp", "mps"])
def test_export_is_deterministic(tmp_path, fmt):
    a = export_instance(_instance("sat-margin"), tmp_path / f"a.{fmt}")
    b = export_instance(_instance("sat-margin"), tmp_path / f"b.{fmt}")
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0


def test_readable_names(tmp_path):
    p = export_instance(_instance("max-correct"), tmp_path / "m.lp", readable_names=True)
    text = p.read_text()
    assert "w(1_0_0)" in text or "w[1,0,0]" in text


def test_unknown_format(tmp_path):
    with pytest.raises(ModelConfigError):
        export_instance(_instance("max-correct"), tmp_path / "m.txt")


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_exported_mps_solved_elsewhere_matches_pyomo(tmp_path, objective):
    X, y = noisy_instance()
    ref = train_network(X, y, n_classes=2, hidden=(1,), decimals=1, objective=objective, solver="highs",
                        target_accuracy=None, threads=1)
    assert ref.status == "optimal"
    path = export_instance(_instance(objective), tmp_path / "m.mps")

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert h.getInfo().objective_function_value == pytest.approx(ref.solve.objective, abs=1e-6)

    exe = cbc_executable()
    if exe is None:
        pytest.skip("no cbc executable")
    out = subprocess.run([exe, str(path), "-ratioGap", "0", "-solve", "-quit"], capture_output=True, text=True, timeout=120).stdout
    assert "Optimal solution found" in out
    value = float(re.search(r"Objective value:\s*(-?[\d.eE+\-]+)", out).group(1))
    assert abs(value) == pytest.approx(abs(ref.solve.objective), abs=1e-6)  # CBC may print a max as -min


def test_cli_export_writes_same_bytes_twice(tmp_path, capsys):
    args = ["export", "--n-train", "12", "--hidden", "2", "--objective", "max-correct"]
    for fmt in ("lp", "mps"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        assert main(args + ["--out", str(a)]) == 0
        assert main(args + ["--out", str(b), "--format", fmt]) == 0
        assert a.read_bytes() == b.read_bytes()
    assert "wrote" in capsys.readouterr().out
    assert main(args + ["--out", str(tmp_path / "x.txt")]) == 2


def _read_and_solve(path):
    """(rows, columns, nonzeros, integer columns, MIP optimum) of a model file, as HiGHS reads it."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    lp = h.getLp()
    n_int = sum(t == highspy.HighsVarType.kInteger for t in lp.integrality_)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return (lp.num_row_, lp.num_col_, len(lp.a_matrix_.value_), n_int), h.getInfo().objective_function_value


@pytest.mark.parametrize("readable_names", [False, True])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_mps_matches_pyomo_lp_writer(tmp_path, objective, readable_names):
    """The .mps (Pyomo's standard-form compiler + HiGHS's writer) and the .lp (Pyomo's LP writer)
    of the same instance: same sizes and the same MIP optimum."""
    instance = _instance(objective)
    mps = export_instance(instance, tmp_path / "m.mps", readable_names=readable_names)
    lp = export_instance(instance, tmp_path / "m.lp", readable_names=readable_names)
    (mps_sizes, mps_opt), (lp_sizes, lp_opt) = _read_and_solve(mps), _read_and_solve(lp)
    assert mps_sizes == lp_sizes
    assert mps_opt == pytest.approx(lp_opt, abs=1e-6)
    if readable_names:
        assert "w[1,0,0]" in mps.read_text()


@pytest.mark.parametrize("sense", ["minimize", "maximize"])
def test_mps_keeps_ranges_constant_sense_and_integers(tmp_path, sense):
    """What the training instances do not (yet) have: ranged and >= rows, an objective constant,
    a fixed variable, general integers; checked against the LP writer's file."""
    import types

    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x = pyo.Var([0, 1, 2], domain=pyo.Integers, bounds=(-3, 4))
    m.z = pyo.Var(domain=pyo.Binary)
    m.u = pyo.Var(bounds=(None, 2.5))
    m.f = pyo.Var(initialize=1.5)
    m.f.fix()
    m.rng = pyo.Constraint(expr=pyo.inequality(-2, m.x[0] + 2 * m.x[1] - m.u, 3.5))
    m.ge = pyo.Constraint(expr=m.x[1] + m.x[2] + m.f >= -1)
    m.eq = pyo.Constraint(expr=m.x[0] - m.x[2] + 3 * m.z == 1)
    m.le = pyo.Constraint(expr=m.u - m.x[2] <= 0.7)
    coef = 1 if sense == "minimize" else -1
    m.obj = pyo.Objective(expr=coef * (m.x[0] - 2 * m.x[1] + m.x[2] + m.u - m.z) + 7.25 + m.f,
                          sense=getattr(pyo, sense))
    instance = types.SimpleNamespace(model=m)
    (mps_sizes, mps_opt), (lp_sizes, lp_opt) = (_read_and_solve(export_instance(instance, tmp_path / f"m.{f}"))
                                                for f in ("mps", "lp"))
    assert mps_sizes == (4, 5, 10, 4)  # one row per constraint; the fixed f is a constant
    assert lp_sizes == (5, 6, 13, 4)  # the LP writer splits the range and adds ONE_VAR_CONSTANT
    assert mps_opt == pytest.approx(lp_opt, abs=1e-9)
    assert mps_opt == pytest.approx(-2.75 if sense == "minimize" else 20.25, abs=1e-9)  # as Pyomo + HiGHS solve m
    assert "RANGES" in (tmp_path / "m.mps").read_text()
