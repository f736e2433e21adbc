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
