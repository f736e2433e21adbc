"""Issue 12 on the command line: outputs checked before the work and written atomically, one seed
rule, valid CSV from ``predict``, SIGTERM keeps the best network, and the CLI package's shape
(no module outside ``mipnn_pyomo.cli`` imports it; options reach the solver through one path)."""

from __future__ import annotations

import ast
import io
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mipnn_pyomo.cli import build_parser, main
from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.outputs import atomic_path, atomic_write_text, check_writable, check_writable_directory

REPO = Path(__file__).resolve().parents[1]
MIPNN = [sys.executable, "-m", "mipnn_pyomo.cli"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc: int, err: str, *needles: str) -> str:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def labelled_csv(path: Path, labels: list[str], n: int = 24, seed: int = 0) -> Path:
    """A small CSV (written by pandas, so labels with commas or quotes are quoted) whose label
    follows the first feature."""
    rng = np.random.default_rng(seed)
    a = np.round(rng.random(n), 3)
    df = pd.DataFrame({"a": a, "b": np.round(rng.random(n), 3),
                       "label": [labels[int(v * len(labels)) % len(labels)] for v in a]})
    df.loc[: len(labels) - 1, "label"] = labels  # every class appears
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli-reliability")
    return {"dir": d, "csv": labelled_csv(d / "d.csv", ["yes", "no"]),
            "odd": labelled_csv(d / "odd.csv", ['a,b', 'say "hi"', "plain"], n=30)}


def quick_train(data, *extra) -> list[str]:
    return ["train", "--csv", data["csv"], "--target", "label", "--n-train", "10", "--hidden", "2",
            "--time-limit", "20", "--threads", "1", *extra]


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any training starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("training started although an output could not be written")

    monkeypatch.setattr("mipnn_pyomo.training.train_on_dataset", refuse)
    monkeypatch.setattr("mipnn_pyomo.training.train_gd_on_dataset", refuse)


# ------------------------------------------------------------------------------- outputs module


def test_check_writable_creates_parents_and_refuses_directories(tmp_path):
    target = tmp_path / "a" / "b" / "m.json"
    assert check_writable(target) == target and target.parent.is_dir() and not target.exists()
    with pytest.raises(ConfigError, match="it is a directory"):
        check_writable(tmp_path)
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        check_writable(blocker / "sub" / "m.json")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        check_writable_directory(blocker)
    assert list(tmp_path.glob("**/.mipnn-probe-*")) == []  # the writability probe leaves nothing


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]  # no temporary file left
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"


def test_network_save_is_atomic(tmp_path, monkeypatch):
    net = IntegerNetwork([np.ones((2, 1)), np.ones((1, 2))], [np.zeros(1), np.zeros(2)], P=1)
    path = tmp_path / "m.json"
    net.save(path)
    before = path.read_text()

    def broken(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(IntegerNetwork, "to_json", broken)
    with pytest.raises(RuntimeError):
        net.save(path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["m.json"]


# ------------------------------------------------------------------------------- output paths


def test_train_out_in_missing_directories_is_created(data, capsys, tmp_path):
    out = tmp_path / "not" / "yet" / "m.json"
    rc, stdout, err = cli(capsys, *quick_train(data, "--out", out))
    assert rc == 0, err
    assert IntegerNetwork.load(out).training["n_train"] == 10
    assert f"model written to {out}" in stdout


@pytest.mark.parametrize("method", ["mip", "gd"])
def test_train_out_directory_fails_before_training(data, capsys, tmp_path, no_training, method):
    rc, out, err = cli(capsys, *quick_train(data, "--method", method, "--out", tmp_path))
    one_line_error(rc, err, "--out", "is a directory")


def test_train_out_under_a_file_fails_before_training(data, capsys, tmp_path, no_training):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = cli(capsys, *quick_train(data, "--out", blocker / "m.json"))
    one_line_error(rc, err, f"{blocker} is a file, not a directory")


def test_predict_out_rules(data, capsys, tmp_path, monkeypatch):
    model = tmp_path / "m.json"
    assert cli(capsys, *quick_train(data, "--out", model))[0] == 0

    def refuse(*a, **k):
        raise AssertionError("predicted although the output cannot be written")

    with monkeypatch.context() as m:
        m.setattr("mipnn_pyomo.evaluate.predict_csv", refuse)
        rc, out, err = cli(capsys, "predict", "--model", model, "--csv", data["csv"], "--out", tmp_path)
        one_line_error(rc, err, "is a directory")
    target = tmp_path / "new" / "p.csv"
    rc, out, err = cli(capsys, "predict", "--model", model, "--csv", data["csv"], "--out", target)
    assert rc == 0, err
    assert len(pd.read_csv(target)) == len(pd.read_csv(data["csv"]))


def test_export_compare_experiment_outputs_checked_first(data, capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, out, err = cli(capsys, "export", "--csv", data["csv"], "--target", "label", "--n-train", "10",
                       "--out", blocker / "x.lp")
    one_line_error(rc, err, "is a file, not a directory")
    monkeypatch.setattr("mipnn_pyomo.compare.compare", lambda *a, **k: pytest.fail("compared before checking --out"))
    rc, out, err = cli(capsys, "compare-solvers", "--csv", data["csv"], "--target", "label", "--n-train", "10",
                       "--solvers", "highs", "--out", tmp_path)
    one_line_error(rc, err, "is a directory")
    rc, out, err = cli(capsys, "experiment", "report", "--db", tmp_path / "none.sqlite", "--out", tmp_path / "rep")
    one_line_error(rc, err, "none.sqlite' not found")
    assert not (tmp_path / "rep").exists()  # an input error leaves no output directory behind
    db = tmp_path / "r.sqlite"
    from mipnn_pyomo.experiments.store import ResultStore

    ResultStore(db).close()
    rc, out, err = cli(capsys, "experiment", "report", "--db", db, "--out", blocker)
    one_line_error(rc, err, "is a file, not a directory")
    config = REPO / "experiments" / "exp1.toml"
    monkeypatch.setattr("mipnn_pyomo.experiments.runner.run_experiment",
                        lambda *a, **k: pytest.fail("ran before checking --db"))
    rc, out, err = cli(capsys, "experiment", "run", config, "--db", tmp_path)
    one_line_error(rc, err, "--db", "is a directory")


def test_export_writes_atomically_into_new_directories(data, capsys, tmp_path):
    out = tmp_path / "deep" / "er" / "x.lp"
    rc, stdout, err = cli(capsys, "export", "--csv", data["csv"], "--target", "label", "--n-train", "10",
                          "--hidden", "2", "--out", out)
    assert rc == 0, err
    assert out.read_text().startswith("\\*") and [p.name for p in out.parent.iterdir()] == ["x.lp"]


# ------------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("argv", [
    ["train", "--seed", "-1"],
    ["train", "--seed", "2147483648"],
    ["train", "--seed", "1.5"],
    ["train", "--split-seed", "-3"],
    ["export", "--seed", "-1", "--out", "x.lp"],
    ["compare-solvers", "--seeds", "0,-1"],
])
def test_bad_seeds_are_one_line(capsys, argv):
    rc, out, err = cli(capsys, *argv)
    one_line_error(rc, err, "seed must be an integer in [0, 2^31)")


def test_largest_seed_is_accepted(data, capsys, tmp_path):
    rc, out, err = cli(capsys, "export", "--csv", data["csv"], "--target", "label", "--n-train", "10",
                       "--hidden", "2", "--seed", str(2**31 - 1), "--out", tmp_path / "x.lp")
    assert rc == 0, err


# ------------------------------------------------------------------------------- predict CSV


def test_predict_output_is_valid_csv_with_commas_and_quotes(data, capsys, tmp_path):
    model = tmp_path / "odd.json"
    rc, out, err = cli(capsys, "train", "--csv", data["odd"], "--target", "label", "--n-train", "20", "--hidden", "3",
                       "--P", "2", "--time-limit", "30", "--threads", "1", "--target-accuracy", "none", "--out", model)
    assert rc == 0, err
    labels = {'a,b', 'say "hi"', "plain"}
    rc, out, err = cli(capsys, "predict", "--model", model, "--csv", data["odd"], "--out", tmp_path / "p.csv")
    assert rc == 0, err
    stdout = cli(capsys, "predict", "--model", model, "--csv", data["odd"])[1]
    for frame in (pd.read_csv(tmp_path / "p.csv"), pd.read_csv(io.StringIO(stdout))):
        assert list(frame.columns) == ["row", "prediction"] and list(frame["row"]) == list(range(30))
        assert set(frame["prediction"]) <= labels
    # the predictions equal the network's own, label for label (quoting lost nothing)
    from mipnn_pyomo.evaluate import predict_csv

    assert list(pd.read_csv(tmp_path / "p.csv")["prediction"]) == [str(p) for p in predict_csv(model, data["odd"])]


# ------------------------------------------------------------------------------- header, options


def test_header_says_none_for_no_target(data, capsys):
    rc, out, err = cli(capsys, *quick_train(data, "--target-accuracy", "none"))
    assert rc == 0, err
    assert "target training accuracy none (solve to optimality)" in err and "None" not in err


def test_hidden_default_is_given_once():
    parser = build_parser()
    assert parser.parse_args(["train"]).hidden == (16,)
    assert parser.parse_args(["train", "--hidden", "4", "--hidden", "3"]).hidden == (4, 3)
    assert parser.parse_args(["export", "--out", "x.lp"]).hidden == (16,)  # no state kept between parses


@pytest.fixture
def received_options(monkeypatch):
    """The SolveOptions the HiGHS adapter receives."""
    from mipnn_pyomo.solvers import get_solver

    cls = type(get_solver("highs"))
    seen = []
    original = cls.solve

    def spy(self, instance, options, *a, **k):
        seen.append(options)
        return original(self, instance, options, *a, **k)

    monkeypatch.setattr(cls, "solve", spy)
    return seen


def test_solver_options_file_reaches_the_solver_and_flags_win(data, capsys, tmp_path, received_options):
    options = tmp_path / "o.toml"
    options.write_text("seed = 7\ntime_limit = 9\nthreads = 1\nmip_gap = 0.5\n")
    rc, out, err = cli(capsys, "train", "--csv", data["csv"], "--target", "label", "--n-train", "10", "--hidden", "2",
                       "--solver-options", options)  # no --time-limit, --threads, --mip-gap or --seed
    assert rc == 0, err
    first = received_options[-1]
    assert (first.seed, first.time_limit, first.threads, first.mip_gap) == (7, 9, 1, 0.5)
    assert "seed" not in first.extra and "time_limit" not in first.extra
    rc, out, err = cli(capsys, *quick_train(data, "--solver-options", options, "--seed", "3", "--mip-gap", "0.25"))
    assert rc == 0, err
    second = received_options[-1]
    assert (second.seed, second.time_limit, second.threads, second.mip_gap) == (3, 20, 1, 0.25)


def test_compare_notes_solvers_without_an_accuracy_callback(data, monkeypatch):
    """The note comes from the adapter's capability flag, not from its name."""
    import dataclasses

    from mipnn_pyomo.compare import compare
    from mipnn_pyomo.data import load_csv
    from mipnn_pyomo.solvers import get_solver

    cls = type(get_solver("highs"))
    dataset = load_csv(data["csv"], "label")
    kwargs = dict(objectives=["sat-margin"], solvers=["highs"], seeds=[0], target_accuracy=0.9, hidden=(2,),
                  time_limit=20, threads=1)
    assert "no incumbent callback" not in compare(dataset, 10, **kwargs).note[0]
    monkeypatch.setattr(cls, "capabilities", dataclasses.replace(cls.capabilities, accuracy_target_callback=False))
    assert "no incumbent callback" in compare(dataset, 10, **kwargs).note[0]


def test_evaluate_finds_moved_data(data, capsys, tmp_path):
    train_csv, test_csv = tmp_path / "train.csv", tmp_path / "test.csv"
    shutil.copy(data["csv"], train_csv)
    labelled_csv(test_csv, ["yes", "no"], n=12, seed=5)
    model = tmp_path / "m.json"
    rc, out, err = cli(capsys, "train", "--csv", train_csv, "--test-csv", test_csv, "--target", "label",
                       "--n-train", "10", "--hidden", "2", "--time-limit", "20", "--json", "--out", model)
    assert rc == 0, err
    trained = json.loads(out)
    moved = tmp_path / "moved"
    moved.mkdir()
    train_csv.rename(moved / "train.csv")
    test_csv.rename(moved / "test.csv")
    rc, out, err = cli(capsys, "evaluate", "--model", model, "--csv", moved / "train.csv",
                       "--test-csv", moved / "test.csv", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["train_accuracy"] == pytest.approx(trained["train_accuracy"])
    assert report["test_accuracy"] == pytest.approx(trained["test_accuracy"])


# ------------------------------------------------------------------------------- package shape


def test_no_module_outside_the_cli_imports_it():
    package = REPO / "mipnn_pyomo"
    offenders = []
    for path in package.rglob("*.py"):
        if package / "cli" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "mipnn_pyomo.cli" or n.startswith("mipnn_pyomo.cli.") for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


# ------------------------------------------------------------------------------- signals


def _collect(stream, sink):
    for line in iter(stream.readline, ""):
        sink.append(line)


def _run_and_signal(argv, sig, ready, delay: float, timeout: float = 120):
    """Start the real CLI, wait until a stderr line satisfies ``ready``, wait ``delay`` s, send ``sig``."""
    proc = subprocess.Popen(MIPNN + [str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    out_lines: list[str] = []
    err_lines: list[str] = []
    readers = [threading.Thread(target=_collect, args=(stream, sink), daemon=True)
               for stream, sink in ((proc.stdout, out_lines), (proc.stderr, err_lines))]
    for reader in readers:
        reader.start()
    try:
        deadline = time.time() + timeout
        while ready and time.time() < deadline and proc.poll() is None and not any(ready(s) for s in err_lines):
            time.sleep(0.05)
        assert proc.poll() is None, "".join(err_lines)
        time.sleep(delay)
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    for reader in readers:
        reader.join(5)
    return proc.returncode, "".join(out_lines), "".join(err_lines)


def test_sigterm_mid_solve_saves_the_best_network(tmp_path):
    """Issue 12.3: `kill PID` during a solve saves the incumbent and the summary, says so, exits 143."""
    model = tmp_path / "x.json"
    rc, out, err = _run_and_signal(
        ["train", "--n-train", "100", "--hidden", "8", "--target-accuracy", "none", "--time-limit", "30",
         "--input-encoding", "minmax",  # thermometer inputs can solve to optimality before the signal
         "--threads", "1", "--out", model],
        signal.SIGTERM, lambda s: "incumbent" in s, 4.0)
    assert "Traceback" not in err, err
    assert rc == 143, (rc, err)
    assert f"interrupted by SIGTERM: best network saved to {model}" in err
    assert "status          interrupted" in out and "verified by forward pass: True" in out
    assert IntegerNetwork.load(model).training["status"] == "interrupted"


def test_sigterm_outside_a_solve_is_one_line_and_143(tmp_path):
    """SIGTERM while the GD baseline trains (no solver involved): one line, exit 143, no file."""
    model = tmp_path / "gd.json"
    rc, out, err = _run_and_signal(
        ["train", "--method", "gd", "--n-train", "2000", "--hidden", "32", "--target-accuracy", "none",
         "--time-limit", "60", "--out", model],
        signal.SIGTERM, None, 5.0)
    assert "Traceback" not in err, err
    assert rc == 143, (rc, err)
    assert err.strip().splitlines()[-1] == "error: interrupted by SIGTERM"
    assert not model.exists()


def test_ctrl_c_stops_compare_solvers_with_the_table_so_far(tmp_path):
    """Ctrl-C during a compare-solvers solve ends the comparison (no next solve starts): the table
    of the runs so far is printed and written, exit 130."""
    table = tmp_path / "t.csv"
    rc, out, err = _run_and_signal(
        ["compare-solvers", "--n-train", "100", "--hidden", "8", "--solvers", "highs,highs", "--seeds", "0",
         "--target-accuracy", "none", "--time-limit", "60", "--threads", "1", "--format", "csv", "--out", table,
         "--verbose"],
        signal.SIGINT, lambda s: "incumbent" in s, 3.0)
    assert "Traceback" not in err, err
    assert rc == 130, (rc, err)
    assert "interrupted by SIGINT: comparison stopped after 1 run(s)" in err
    frame = pd.read_csv(table)
    assert list(frame["status"]) == ["interrupted"] and frame["train_acc"][0] > 0.5
    assert out == table.read_text()


def test_a_signal_before_the_solve_also_ends_the_comparison(data, monkeypatch):
    """Ctrl-C while an instance is still being built (no clean stop yet): one row, status
    interrupted, no further solve."""
    from mipnn_pyomo.compare import compare
    from mipnn_pyomo.data import load_csv

    calls = []

    def interrupted_build(*args, **kwargs):
        calls.append(kwargs["solver"])
        raise KeyboardInterrupt

    monkeypatch.setattr("mipnn_pyomo.training.train_on_dataset", interrupted_build)
    df = compare(load_csv(data["csv"], "label"), 10, objectives=["sat-margin"], solvers=["highs", "highs"],
                 seeds=[0, 1], hidden=(2,))
    assert calls == ["highs"] and list(df.status) == ["interrupted"]
    assert df.attrs["interrupt_signal"] == signal.SIGINT


def test_atomic_write_keeps_the_mode_of_an_existing_file(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_text(target, "a")
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    target.chmod(0o640)
    atomic_write_text(target, "b")
    assert target.read_text() == "b" and target.stat().st_mode & 0o777 == 0o640


def _umask() -> int:
    import os

    current = os.umask(0o022)
    os.umask(current)
    return current
