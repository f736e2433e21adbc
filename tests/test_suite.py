"""The solver benchmark suite: export, portable files, runs and the report."""

from __future__ import annotations

import csv
import gzip
import json
import shutil

import numpy as np
import pytest

from mipnn_pyomo.suite.build import export_suite, load_suite
from mipnn_pyomo.suite.catalogue import SuiteInstance, suite_grid
from mipnn_pyomo.suite.report import profile_ratios, load_rows, shifted_geometric_mean, write_report
from mipnn_pyomo.suite.run import primal_gap, run_suite


@pytest.fixture(scope="module")
def smoke_suite(tmp_path_factory):
    directory = tmp_path_factory.mktemp("suite")
    export_suite(directory, grid="smoke", engine="highs", time_limit=30)
    return directory


def read_sol(path):
    lines = path.read_text().splitlines()
    objective = float(lines[0].split()[1])
    return objective, {name: float(v) for name, v in (line.split() for line in lines[1:])}


def highs_model(mps_gz, tmp_path):
    import highspy

    plain = tmp_path / mps_gz.name.removesuffix(".gz")
    plain.write_bytes(gzip.decompress(mps_gz.read_bytes()))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(plain)) == highspy.HighsStatus.kOk
    return h, plain


def test_every_point_of_the_grid_has_its_three_files(smoke_suite):
    names = {p.name for p in suite_grid("smoke")}
    for name in names:
        for suffix in (".mps.gz", ".sol", ".json"):
            assert (smoke_suite / f"{name}{suffix}").is_file()
    assert {m["name"] for m in load_suite(smoke_suite)} == names


def test_best_known_solution_is_feasible_in_the_mps_and_has_its_objective(smoke_suite, tmp_path):
    """Read by HiGHS from the .mps.gz alone: the .sol satisfies every row and bound (integers
    integral) and c x + c0 equals both the .sol's objective and the metadata's best known."""
    for meta in load_suite(smoke_suite):
        h, _ = highs_model(smoke_suite / f"{meta['name']}.mps.gz", tmp_path)
        lp = h.getLp()
        objective, values = read_sol(smoke_suite / f"{meta['name']}.sol")
        names = list(lp.col_names_)
        x = np.array([values[n] for n in names])
        assert objective == pytest.approx(meta["best_known"]["objective"], abs=1e-9)
        assert float(np.dot(lp.col_cost_, x) + lp.offset_) == pytest.approx(objective, abs=1e-7)
        assert np.all(x >= np.array(lp.col_lower_) - 1e-9) and np.all(x <= np.array(lp.col_upper_) + 1e-9)
        a = lp.a_matrix_
        activity = np.zeros(lp.num_row_)
        for j in range(lp.num_col_):
            for p in range(a.start_[j], a.start_[j + 1]):
                activity[a.index_[p]] += a.value_[p] * x[j]
        assert np.all(activity >= np.array(lp.row_lower_) - 1e-6) and np.all(activity <= np.array(lp.row_upper_) + 1e-6)
        integer = np.array([int(t) for t in lp.integrality_]) == 1
        assert np.allclose(x[integer], np.round(x[integer]))


def test_mps_solves_to_the_metadata_optimum_with_highs(smoke_suite, tmp_path):
    for meta in load_suite(smoke_suite):
        assert meta["best_known"]["termination"] == "optimal" and meta["best_known"]["exact"]
        h, _ = highs_model(smoke_suite / f"{meta['name']}.mps.gz", tmp_path)
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(meta["best_known"]["objective"], abs=1e-6)


def test_mps_is_readable_by_or_tools(smoke_suite, tmp_path):
    model_builder = pytest.importorskip("ortools.linear_solver.python.model_builder",
                                        reason="ortools is not installed")
    for meta in load_suite(smoke_suite):
        _, plain = highs_model(smoke_suite / f"{meta['name']}.mps.gz", tmp_path)
        model = model_builder.Model()
        assert model.import_from_mps_file(str(plain))
        assert model.num_variables == meta["columns"]


def test_instance_rebuilds_identically_from_its_metadata(smoke_suite):
    meta = load_suite(smoke_suite)[0]
    point = SuiteInstance.from_dict(meta)
    assert point.name == meta["name"]
    instance, _ = point.build()
    assert instance.sizes["variables"] == meta["variables"]


def test_run_resumes_and_report_summarises(smoke_suite, tmp_path):
    out = tmp_path / "runs.csv"
    run_suite(smoke_suite, "highs", out, time_limit=20)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(suite_grid("smoke"))
    assert all(r["exact"] == "True" and r["solved"] == "True" and float(r["primal_gap"]) == 0 for r in rows)
    run_suite(smoke_suite, "highs", out, time_limit=20)  # all done: nothing appended
    assert len(list(csv.DictReader(out.open()))) == len(rows)
    report = write_report([out], tmp_path / "report")
    text = report.read_text()
    assert "| highs (20 s) | 2 | 2 |" in text
    assert (tmp_path / "report" / "performance-profile.png").stat().st_size > 1000


def test_export_resumes_from_existing_metadata(smoke_suite, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(smoke_suite, copy)
    stamp = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    export_suite(copy, grid="smoke", time_limit=30)
    assert {p.name: p.stat().st_mtime_ns for p in copy.iterdir()} == stamp


def test_metrics():
    assert shifted_geometric_mean([0, 0]) == pytest.approx(0.0)
    assert shifted_geometric_mean([10, 40]) == pytest.approx(np.sqrt(20 * 50) - 10)
    assert primal_gap(None, 5) == 1.0
    assert primal_gap(5, 5) == 0.0
    assert primal_gap(4, 5) == pytest.approx(0.2)
    assert primal_gap(-1, 5) == 1.0


def test_performance_profile_ratios(tmp_path):
    out = tmp_path / "r.csv"
    rows = [("a", "x", True, 2.0), ("a", "y", True, 4.0), ("b", "x", False, 60.0), ("b", "y", True, 1.0)]
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["instance", "solver", "heuristic", "time_limit_s", "solved", "wall_s", "primal_gap", "exact", "objective"])
        for inst, solver, solved, t in rows:
            w.writerow([inst, solver, False, 60, solved, t, 0.0, True, 1])
    ratios = profile_ratios(load_rows([out]))
    assert ratios.loc["a", "x (60 s)"] == 1.0 and ratios.loc["a", "y (60 s)"] == 2.0
    assert np.isinf(ratios.loc["b", "x (60 s)"]) and ratios.loc["b", "y (60 s)"] == 1.0


def test_suite_command_line(smoke_suite, tmp_path, capsys):
    from mipnn_pyomo.cli import main

    out = tmp_path / "cli.csv"
    assert main(["suite", "run", str(smoke_suite), "--solver", "highs", "--out", str(out), "--time-limit", "20"]) == 0
    assert len(list(csv.DictReader(out.open()))) == len(suite_grid("smoke"))
    assert main(["suite", "report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.md").is_file()
    assert main(["suite", "run", str(tmp_path / "empty"), "--solver", "highs", "--out", str(out)]) == 2
    assert main(["suite", "export", str(tmp_path / "x"), "--grid", "nope"]) == 2
    assert main(["suite", "run", str(smoke_suite), "--solver", "nosuch", "--out", str(out)]) == 2
    assert main(["suite", "export", str(tmp_path / "x"), "--grid", "smoke", "--best-known", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no suite instances" in err and "unknown suite grid 'nope'" in err and "unknown solver 'nosuch'" in err
    assert "--best-known" in err and "not a folder" in err


def test_best_known_network_files_replace_a_worse_reference_only(tmp_path):
    from engine_cases import random_network
    from mipnn_pyomo.network import IntegerNetwork
    from mipnn_pyomo.suite.build import better_known, load_networks

    point = suite_grid("smoke")[0]
    instance, _ = point.build()
    net = random_network(instance, 5)
    net.save(tmp_path / "run.json")
    (tmp_path / "notes.json").write_text('{"not": "a network"}')
    other = IntegerNetwork([np.ones((net.n_inputs, 3)), np.ones((3, 2))], [np.zeros(3), np.zeros(2)], P=1)
    other.save(tmp_path / "wider.json")
    candidates = load_networks(tmp_path)
    assert [name for name, _ in candidates] == ["run.json", "wider.json"]
    value = instance.evaluate(net)
    worse = value - 1 if instance.spec.maximises else value + 1
    found = better_known(instance, worse, candidates)
    assert found is not None and found[2] == "run.json" and found[1] == pytest.approx(value)
    assert better_known(instance, value, candidates) is None  # equal is not better; "wider" has another shape
