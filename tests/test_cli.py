"""CLI smoke tests: exit codes, one-line errors, JSON output, and model files a stranger can re-check."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mipnn_pyomo.cli import main
from mipnn_pyomo.network import IntegerNetwork


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json_evaluate_predict(tmp_path, capsys):
    model = tmp_path / "m.json"
    code, out, err = run(capsys, "train", "--dataset", "adult", "--n-train", "30", "--hidden", "4", "--seed", "1",
                         "--objective", "min-hinge", "--time-limit", "60", "--out", str(model), "--json")
    assert code == 0, err
    s = json.loads(out)
    for key in ("objective", "P", "hidden", "solver", "n_train", "seed", "status", "target_reached",
                "train_accuracy", "test_accuracy", "objective_value", "objective_bound", "gap", "build_s",
                "solve_s", "runtime_s", "train_indices"):
        assert key in s, key
    assert s["n_train"] == 30 and s["hidden"] == [4] and s["seed"] == 1 and s["objective"] == "min-hinge"
    assert len(s["train_indices"]) == 30 and s["exact"] is True

    # A stranger recomputes both accuracies from the file and the raw data alone.
    code, out, err = run(capsys, "evaluate", "--model", str(model), "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["train_accuracy"] == pytest.approx(s["train_accuracy"])
    assert ev["test_accuracy"] == pytest.approx(s["test_accuracy"])
    assert ev["n_test"] == 16281

    net = IntegerNetwork.load(model)
    assert net.training["train_indices"] == s["train_indices"]
    from mipnn_pyomo.cli.options import DEFAULT_INPUT_ENCODING  # Adult: 108 features min-max, 118 thermometer

    assert len(net.preprocessing["features"]) == {"minmax": 108, "thermometer": 118}[DEFAULT_INPUT_ENCODING]
    assert net.preprocessing["decimals"] == 4

    # predict on raw rows written as a CSV with a header
    import gzip
    import importlib.resources

    raw = importlib.resources.files("mipnn_pyomo.datasets").joinpath("adult.data.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()[:5]
    header = ("age,workclass,fnlwgt,education,education-num,marital-status,occupation,relationship,race,sex,"
              "capital-gain,capital-loss,hours-per-week,native-country,income")
    csv = tmp_path / "rows.csv"
    csv.write_text(header + "\n" + "\n".join(l.replace(", ", ",") for l in lines) + "\n")
    code, out, err = run(capsys, "predict", "--model", str(model), "--csv", str(csv))
    assert code == 0, err
    rows = out.strip().splitlines()
    assert rows[0] == "row,prediction" and len(rows) == 6
    assert all(r.split(",")[1] in ("<=50K", ">50K") for r in rows[1:])


def test_train_on_a_generic_csv_with_three_classes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 60
    a = rng.random(n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(a < 0.33, "low", np.where(a < 0.66, "mid", "high"))
    csv = tmp_path / "d.csv"
    csv.write_text("a,colour,label\n" + "\n".join(f"{x:.3f},{c},{l}" for x, c, l in zip(a, colour, label)) + "\n")
    code, out, err = run(capsys, "train", "--csv", str(csv), "--target", "label", "--n-train", "20",
                         "--hidden", "3", "--P", "3", "--time-limit", "30", "--json", "--target-accuracy", "none")
    assert code == 0, err
    s = json.loads(out)
    assert s["exact"] is True and 0 <= s["test_accuracy"] <= 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--P", "0", "--n-train", "10"], "P must be an integer >= 1"),
        (["train", "--hidden", "0", "--n-train", "10"], "hidden width"),
        (["train", "--time-limit", "0"], "must be > 0"),
        (["train", "--target-accuracy", "1.5"], "target accuracy must be in (0, 1]"),
        (["train", "--solver", "cplex", "--n-train", "10"], "unknown solver 'cplex'"),
        (["train", "--n-train", "100000"], "exceeds"),
        (["train", "--csv", "/nonexistent.csv", "--target", "y"], "nonexistent.csv"),
        (["evaluate", "--model", "/nonexistent.json"], "does not exist"),
    ],
)
def test_bad_input_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]
    assert "Traceback" not in err


def test_solvers_lists_every_solver(capsys):
    code, out, err = run(capsys, "solvers", "--json")
    assert code == 0
    rows = {r["solver"]: r for r in json.loads(out)}
    assert set(rows) == {"highs", "gurobi", "cbc", "cpsat", "scip"}
    assert rows["highs"]["available"] is True and rows["highs"]["version"]


def test_console_script_runs_as_a_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mipnn_pyomo.cli", "train", "--P", "-1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "P must be" in proc.stderr


def test_train_gd_method_and_gd_warm_start(tmp_path, capsys):
    model = tmp_path / "gd.json"
    code, out, err = run(capsys, "train", "--method", "gd", "--n-train", "40", "--hidden", "4", "--json",
                         "--out", str(model))
    assert code == 0, err
    s = json.loads(out)
    assert s["method"] == "gd" and s["train_accuracy"] == IntegerNetwork.load(model).training["train_accuracy"]
    # the GD network is a valid start for the MIP, on the same rows
    code, out, err = run(capsys, "train", "--n-train", "40", "--hidden", "4", "--json", "--warm-start", "gd",
                         "--time-limit", "20", "--objective", "min-hinge")
    assert code == 0, err
    s2 = json.loads(out)
    assert s2["warm_start"]["method"] == "gd" and s2["warm_start"]["accepted"] is True
    assert s2["train_indices"] == s["train_indices"]
    # min-hinge minimises: the MIP is never worse than its start
    assert s2["objective_value"] <= s2["warm_start"]["objective_value"] + 1e-6


def test_two_sided_output_products_flag_reaches_the_model(tmp_path):
    """--two-sided-output-products writes all four product rows of the output layer: more rows
    in the exported model than the default one-sided form."""
    from mipnn_pyomo.cli import main

    sizes = {}
    for name, extra in (("one", []), ("two", ["--two-sided-output-products"])):
        out = tmp_path / f"{name}.lp"
        assert main(["export", "--n-train", "12", "--hidden", "2", "--out", str(out), "--quiet"] + extra) == 0
        sizes[name] = out.read_text().count("\nc_")
    assert sizes["two"] > sizes["one"] > 0
