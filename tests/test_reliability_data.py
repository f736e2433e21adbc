"""Issue 12 (data side) and issue 11 item 7: each defect reproduced, then fixed.

* a SIGKILLed ``mipnn experiment run`` leaves no process behind (workers watch their parent);
* a model trained on a CSV evaluates after the data moved (``csv=`` / ``test_csv=``) and says
  exactly when the data changed (SHA-256);
* duplicate CSV column names are refused, naming them;
* model files are validated exactly (types, ranges, shapes), the message naming the JSON path;
* an unreachable Dask scheduler leaves no database file; ``--scheduler local`` prints no Dask
  port warning; a target that looks continuous draws a DataWarning;
* one TrainingRecord for every training method (MIP, GD, the estimator, the experiment runner).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from mipnn_pyomo.cli import main
from mipnn_pyomo.data import DataWarning, load_csv
from mipnn_pyomo.errors import ConfigError, DataError, ModelFileError
from mipnn_pyomo.evaluate import evaluate_model_file, predict_csv
from mipnn_pyomo.network import IntegerNetwork

REPO = Path(__file__).resolve().parents[1]
MIPNN = [sys.executable, "-c", "import sys; from mipnn_pyomo.cli import main; sys.exit(main())"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(rc: int, err: str, *needles: str) -> str:
    assert rc == 2 and "Traceback" not in err, (rc, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def separable_csv(path: Path, n: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = np.round(rng.random((n, 3)), 3)
    lines = ["a,b,c,label"] + [f"{a},{b},{c},{'yes' if a + b > 1 else 'no'}" for a, b, c in X]
    return write(path, "\n".join(lines) + "\n")


# ------------------------------------------------------------------------------ orphan processes


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped by init, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux) to list child processes")
def test_sigkilled_experiment_run_leaves_no_process_behind(tmp_path):
    """Item 4: the workers (and the progress manager) watch a pipe whose only writer is the
    parent; after SIGKILL of the parent they exit, so the forkserver and the resource tracker
    (which live while any worker holds their pipes) exit too. The resume stays correct: the
    killed cells are not recorded and run again."""
    config = write(tmp_path / "long.toml", """
name = "long"
sample_sizes = [150, 160, 170]
seeds = [0]
time_limit = 120
target_accuracy = "none"
hidden = [8]
[dataset]
name = "adult"
[[methods]]
objective = "min-hinge"
P = [1]
""")
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen([*MIPNN, "experiment", "run", str(config), "--db", str(db), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        descendants: set[int] = set()
        deadline = time.time() + 90
        while time.time() < deadline and len(descendants) < 5:  # tracker, forkserver, manager, 2 workers
            time.sleep(0.5)
            kids = _children(proc.pid)
            descendants |= set(kids) | {g for k in kids for g in _children(k)}
        assert len(descendants) >= 5, f"the run did not start its workers: {descendants}"
        time.sleep(1.0)  # let the workers start their solves
        proc.kill()
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(p) for p in descendants):
            time.sleep(0.2)
        assert not [p for p in descendants if _alive(p)], "processes left after SIGKILL of the parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in descendants if "descendants" in locals() else ():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    from mipnn_pyomo.experiments.store import ResultStore

    with ResultStore(db, create=False) as store:
        assert all(r["state"] == "done" for r in store.runs())  # no half-written record of a killed cell


def test_worker_exits_when_its_parent_pipe_closes():
    """watch_parent in a plain child: closing the parent's end makes the child exit with code 70."""
    import multiprocessing

    from mipnn_pyomo.experiments.runner import PARENT_GONE_EXIT_CODE

    ctx = multiprocessing.get_context("spawn")
    alive_r, alive_w = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_sleep_watching, args=(alive_r,))
    child.start()
    alive_r.close()
    time.sleep(1.0)
    assert child.is_alive()
    alive_w.close()
    child.join(15)
    assert child.exitcode == PARENT_GONE_EXIT_CODE


def _sleep_watching(alive) -> None:
    from mipnn_pyomo.experiments.runner import watch_parent

    watch_parent(alive)
    time.sleep(60)


# ------------------------------------------------------------------------------ moved / changed data


@pytest.fixture(scope="module")
def csv_model(tmp_path_factory):
    """A model trained through the CLI on a CSV in its own directory."""
    d = tmp_path_factory.mktemp("moved")
    data = separable_csv(d / "train.csv")
    model = d / "m.json"
    rc = main(["train", "--csv", str(data), "--target", "label", "--n-train", "10", "--hidden", "2",
               "--time-limit", "20", "--quiet", "--json", "--out", str(model)])
    assert rc == 0
    return data, model


def test_model_records_absolute_path_and_hash(csv_model, tmp_path, monkeypatch):
    data, model = csv_model
    training = IntegerNetwork.load(model).training
    assert training["csv"] == str(data.resolve()) and Path(training["csv"]).is_absolute()
    assert training["csv_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    monkeypatch.chdir(tmp_path)  # another working directory: the recorded absolute path still works
    report = evaluate_model_file(model)
    assert report["n_train"] == 10 and 0.0 <= report["test_accuracy"] <= 1.0


def test_moved_data_evaluates_with_csv_and_changed_data_is_refused(csv_model, tmp_path, monkeypatch):
    data, model = csv_model
    moved_model = tmp_path / "m.json"
    moved_model.write_text(model.read_text())
    moved = tmp_path / "elsewhere.csv"
    moved.write_bytes(data.read_bytes())
    reference = evaluate_model_file(model)
    d = json.loads(moved_model.read_text())
    d["training"]["csv"] = str(tmp_path / "gone" / "train.csv")  # the data was moved away
    moved_model.write_text(json.dumps(d))
    with pytest.raises(DataError, match="is not there .moved or deleted.; pass --csv"):
        evaluate_model_file(moved_model)
    assert evaluate_model_file(moved_model, csv=moved) == reference
    # one changed cell: the hash differs, and the message says the data changed
    moved.write_text(moved.read_text().replace("yes", "no", 1))
    with pytest.raises(DataError, match="differs from the one the model was trained on .* the data changed"):
        evaluate_model_file(moved_model, csv=moved)
    with pytest.raises(DataError, match="--test-csv: the model was trained with a hold-out split"):
        evaluate_model_file(model, test_csv=moved)


def test_old_model_with_a_relative_path_still_evaluates(csv_model, tmp_path, monkeypatch):
    """Models written before this change stored the path as typed and no hash."""
    data, model = csv_model
    (tmp_path / "train.csv").write_bytes(data.read_bytes())
    d = json.loads(model.read_text())
    d["training"]["csv"] = "train.csv"
    del d["training"]["csv_sha256"]
    old = write(tmp_path / "old.json", json.dumps(d))
    monkeypatch.chdir(tmp_path.parent)  # not the training directory: found next to the model file
    assert evaluate_model_file(old) == evaluate_model_file(model)


def test_adult_model_refuses_csv_override(tmp_path):
    net = IntegerNetwork([np.zeros((108, 2))], [np.zeros(2)], 1, classes=["<=50K", ">50K"],
                         training={"dataset": "adult"})
    from mipnn_pyomo.data import load_adult

    net.preprocessing = load_adult().preprocessor.to_dict()
    path = tmp_path / "adult.json"
    net.save(path)
    with pytest.raises(DataError, match="apply to models trained on a CSV file"):
        evaluate_model_file(path, csv=tmp_path / "x.csv")


# ------------------------------------------------------------------------------ duplicate headers


@pytest.mark.parametrize("header, named", [("a,a,label", "'a' (columns 1, 2)"),
                                           ("a, b,b ,label", "'b' (columns 2, 3)"),
                                           ('x,"y",y,label', "'y' (columns 2, 3)")])
def test_duplicate_column_names_are_refused(tmp_path, capsys, header, named):
    path = write(tmp_path / "dup.csv", header + "\n" + "\n".join(["1,2,3,p", "2,3,4,q"] * 4) + "\n")
    with pytest.raises(DataError, match="duplicate column names: " + named.replace("(", r"\(").replace(")", r"\)")):
        load_csv(path, "label")
    rc, _, err = cli(capsys, "train", "--csv", path, "--target", "label", "--n-train", "4")
    one_error_line(rc, err, "duplicate column names", named)


def test_duplicate_column_names_refused_by_predict(csv_model, tmp_path, capsys):
    _, model = csv_model
    path = write(tmp_path / "dup.csv", "a,b,c,c\n0.1,0.2,0.3,0.4\n")
    with pytest.raises(DataError, match="'c' .columns 3, 4."):
        predict_csv(model, path)
    rc, _, err = cli(capsys, "predict", "--model", model, "--csv", path)
    one_error_line(rc, err, "duplicate column names")


# ------------------------------------------------------------------------------ strict model files


def _model_dict() -> dict:
    net = IntegerNetwork([np.array([[1, 0], [-1, 1], [0, 0], [1, -1]]), np.array([[1, -1], [0, 1]])],
                         [np.array([0, 1]), np.array([0, 0])], 1, classes=["no", "yes"])
    return json.loads(net.to_json())


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["layers"][0]["weights"][3].__setitem__(1, 1e30),
         "layers[0].weights[3][1]: 1e+30 is not an integer (weights and biases are integers in [-P, P]) = [-1, 1]"),
        (lambda d: d["layers"][0]["weights"][3].__setitem__(1, 10**30),
         "layers[0].weights[3][1]: 1000000000000000000000000000000 is outside [-P, P] = [-1, 1]"),
        (lambda d: d["layers"][1]["biases"].__setitem__(0, True), "layers[1].biases[0]: true is not an integer"),
        (lambda d: d["layers"][0]["weights"][0].__setitem__(0, "1"), 'layers[0].weights[0][0]: "1" is not an integer'),
        (lambda d: d["layers"][0]["weights"][0].__setitem__(0, 1.0), "layers[0].weights[0][0]: 1.0 is not an integer"),
        (lambda d: d.update(P="1"), 'malformed field P: "1" is not an integer in [1, 2147483647]'),
        (lambda d: d.update(P=True), "malformed field P: true is not an integer"),
        (lambda d: d.update(P=0), "malformed field P: 0 is not an integer"),
        (lambda d: d.update(version=True), "model file version true is not supported"),
        (lambda d: d.update(tie_seed=-1), "malformed field tie_seed: -1 is not an integer in [0, 9223372036854775807]"),
        (lambda d: d["layers"][0]["weights"][2].append(0), "layers[0].weights[2]: 3 entries, but the layer has 2 biases"),
        (lambda d: d["layers"][1]["weights"].append([0, 0]), "layers[1].weights: 3 rows (inputs), but layers[0] has 2 outputs"),
        (lambda d: d["layers"][0].update(weights=[]), "layers[0].weights: must be a non-empty list of rows"),
        (lambda d: d["layers"][0].pop("biases"), "layers[0]: must be an object with 'weights' and 'biases'"),
        (lambda d: d.update(layers={}), "malformed field layers: must be a non-empty list of layers"),
        (lambda d: d.update(classes=["no", "no"]), 'classes: the labels ["no", "no"] are not distinct'),
        (lambda d: d.update(classes=["no", None]), "classes[1]: null is not a class label"),
        (lambda d: d.update(classes=["no", "yes", "maybe"]), "3 classes but 2 output neurons"),
        (lambda d: d.update(preprocessing={"decimals": 99}), "preprocessing.decimals: 99 is not an integer in [0, 15]"),
        (lambda d: d.update(preprocessing={"features": ["a", 3], "numeric": {"a": [0, 1]}}),
         "preprocessing.features[1]: 3 is not a string"),
        (lambda d: d.update(preprocessing={"features": ["a"], "numeric": {"a": [1, 0]}}),
         "preprocessing.numeric['a']: [1, 0] is not a range"),
        (lambda d: d.update(preprocessing={"features": ["a"], "numeric": {"a": [0, 1]}}),
         "the model lists 1 features but its first layer takes 4 inputs"),
        (lambda d: d.update(training=[1]), "'training' must be a dict"),
    ],
)
def test_model_file_values_are_checked_exactly(tmp_path, capsys, edit, message):
    d = _model_dict()
    edit(d)
    path = write(tmp_path / "bad.json", json.dumps(d))
    with pytest.raises(ModelFileError) as info:
        IntegerNetwork.load(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    rc, _, err = cli(capsys, "predict", "--model", path, "--csv", path)
    one_error_line(rc, err, message)


def test_unusable_json_is_a_model_file_error(tmp_path):
    for name, text in (("digits.json", "1" * 5000), ("deep.json", "[" * 100000), ("bytes.json", b"\xff\xfe")):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ModelFileError, match=f"model file {path}"):
            IntegerNetwork.load(path)


def test_a_valid_model_file_round_trips(tmp_path):
    d = _model_dict()
    net = IntegerNetwork.from_dict(d)
    assert json.loads(net.to_json()) == d
    X = np.array([[0.1, 0.9, 0.0, 0.3], [0.5, 0.2, 0.7, 0.0]])
    assert list(net.predict(X)) == list(IntegerNetwork.from_dict(json.loads(json.dumps(d))).predict(X))


# ------------------------------------------------------------------------------ Dask and targets


def test_unreachable_scheduler_leaves_no_database(tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "r.sqlite"
    rc, _, err = cli(capsys, "experiment", "run", REPO / "experiments" / "smoke.toml", "--db", db,
                     "--scheduler", f"tcp://127.0.0.1:{port}")
    one_error_line(rc, err, "cannot connect to the Dask scheduler")
    assert list(tmp_path.iterdir()) == []


def test_failed_dask_connection_removes_the_database_it_created(tmp_path, monkeypatch):
    """A scheduler that accepts TCP but is no Dask scheduler: the probe passes, the client fails."""
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    from mipnn_pyomo.experiments import runner
    from mipnn_pyomo.experiments.config import load_config

    def refuse(*args, **kwargs):
        raise OSError("Timed out trying to connect")

    monkeypatch.setattr(runner, "_probe_scheduler", lambda address: None)
    monkeypatch.setattr(distributed, "Client", refuse)
    db = tmp_path / "r.sqlite"
    with pytest.raises(ConfigError, match="cannot connect to the Dask scheduler"):
        runner.run_experiment(load_config(REPO / "experiments" / "smoke.toml"), db, scheduler="tcp://x:1", quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_local_cluster_prints_no_port_warning(tmp_path, capfd):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    import io

    from mipnn_pyomo.experiments import runner
    from mipnn_pyomo.experiments.runner import Progress, RunSummary

    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 8787))  # the dashboard's default port, taken
        busy.listen()
    except OSError:
        pass  # already taken by someone else: just as good
    try:
        stream = io.StringIO()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runner._run_dask([], None, Progress(RunSummary("x", 0), 0, stream, False, {}), "local", 1)
    finally:
        busy.close()
    _, err = capfd.readouterr()
    assert "started a local Dask cluster" in stream.getvalue()
    assert "already in use" not in err and not [w for w in caught if "already in use" in str(w.message)]
    assert distributed  # the cluster came up and was closed without a warning


def test_continuous_target_warns(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{x:.3f},{2.5 * x + 0.01 * k:.4f}" for k, x in enumerate(rng.random(60))]
    path = write(tmp_path / "reg.csv", "x,y\n" + "\n".join(rows + rows) + "\n")
    with pytest.warns(DataWarning, match="holds non-integral numbers .60 distinct values.* looks continuous"):
        assert len(load_csv(path, "y", test_csv=path).classes) == 60
    with pytest.warns(DataWarning, match="looks continuous"):  # warned before the split fails
        with pytest.raises(DataError, match="cannot split"):
            load_csv(path, "y")
    ints = write(tmp_path / "many.csv", "x,y\n" + "\n".join(f"{k / 100},{k % 25}" for k in range(100)) + "\n")
    with pytest.warns(DataWarning, match="has 25 distinct values, each treated as a class"):
        load_csv(ints, "y")
    few = write(tmp_path / "few.csv", "x,y\n" + "\n".join(f"{k / 100},{k % 3}.0" for k in range(30)) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert load_csv(few, "y").classes == [0, 1, 2]  # integral floats are class labels, no warning


# ------------------------------------------------------------------------------ one training record


CORE_KEYS = {"method", "objective", "P", "hidden", "n_train", "seed", "dataset", "status", "target_reached",
             "train_accuracy", "test_accuracy", "build_s", "solve_s", "runtime_s", "train_indices",
             "objective_value", "objective_bound", "gap", "solver"}
METADATA_KEYS = {"dataset", "csv", "csv_sha256", "target", "method", "objective", "seed", "n_train", "train_indices",
                 "status", "train_accuracy", "test_accuracy"}


@pytest.fixture(scope="module")
def csv_dataset(tmp_path_factory):
    return load_csv(separable_csv(tmp_path_factory.mktemp("record") / "d.csv", n=50), "label")


def test_mip_and_gd_give_the_same_record(csv_dataset, tmp_path):
    from mipnn_pyomo.training import TrainingRecord, train_gd_on_dataset, train_on_dataset

    mip = train_on_dataset(csv_dataset, 12, 3, hidden=(2,), P=1, time_limit=20)
    gd = train_gd_on_dataset(csv_dataset, 12, 3, hidden=(2,), P=1, time_limit=5, max_epochs=200)
    assert (mip.method, gd.method) == ("mip", "gd") and mip.train_indices == gd.train_indices  # the same rows
    for record in (mip, gd):
        assert isinstance(record, TrainingRecord) and record.seed == 3 and record.n_train == 12
        summary = record.summary()
        assert CORE_KEYS <= set(summary), CORE_KEYS - set(summary)
        json.dumps(summary)  # plain JSON
        net = record.network
        assert METADATA_KEYS <= set(net.training), METADATA_KEYS - set(net.training)
        assert net.classes == ["no", "yes"] and net.preprocessing == csv_dataset.preprocessor.to_dict()
        assert net.training["method"] == record.method and net.training["train_indices"] == record.train_indices
        # every accuracy is the forward pass of the saved network, recomputed from the file alone
        rows = [list(csv_dataset.pool_rows).index(r) for r in record.train_indices]
        assert record.train_accuracy == net.accuracy(csv_dataset.X_pool[rows], csv_dataset.y_pool[rows])
        assert record.test_accuracy == net.accuracy(csv_dataset.X_test, csv_dataset.y_test)
        path = tmp_path / f"{record.method}.json"
        net.save(path)
        report = evaluate_model_file(path)
        assert (report["train_accuracy"], report["test_accuracy"]) == (record.train_accuracy, record.test_accuracy)
    assert mip.result.network is mip.network and mip.summary()["exact"] is True
    assert gd.gd.epochs == gd.summary()["epochs"] and gd.summary()["objective_value"] == gd.gd.loss


def test_runner_stores_the_record_of_every_method(csv_dataset):
    from mipnn_pyomo.experiments.runner import _run_gd, _run_mip

    task = {"n_train": 12, "seed": 1, "hidden": [2], "P": 1, "target_accuracy": 0.9, "time_limit": 10,
            "threads": 1, "formulation": {}, "options": {}, "solver": "highs"}
    for fields in (_run_gd({**task, "method": "gd", "options": {"max_epochs": 100}}, csv_dataset),
                   _run_mip({**task, "method": "sat-margin"}, csv_dataset, None)):
        net = IntegerNetwork.from_dict(json.loads(fields["network_json"]))
        assert net.classes == ["no", "yes"] and net.preprocessing["features"] == ["a", "b", "c"]
        assert net.training["train_indices"] == fields["summary_json"]["train_indices"]
        assert net.training["train_accuracy"] == fields["train_accuracy"] and fields["state"] == "done"
        assert fields["runtime_s"] is not None and fields["solve_s"] is not None


def test_estimator_keeps_the_record(separable_data):
    from mipnn_pyomo.estimator import MIPNetClassifier

    X, y = separable_data
    clf = MIPNetClassifier(hidden=(2,), time_limit=20, input_encoding="minmax").fit(X, np.where(y == 1, "b", "a"))
    record = clf.training_record_
    assert record.network is clf.network_ and record.method == "mip" and record.test_accuracy is None
    assert clf.network_.classes == ["a", "b"] and clf.network_.preprocessing == {"decimals": 4}
    assert clf.network_.training["train_accuracy"] == clf.train_accuracy_ == clf.score(X, np.where(y == 1, "b", "a"))


def test_metadata_with_another_grid_is_refused():
    from mipnn_pyomo.errors import ModelConfigError
    from mipnn_pyomo.training import with_metadata

    net = IntegerNetwork([np.zeros((2, 2))], [np.zeros(2)], 1, preprocessing={"decimals": 4})
    with pytest.raises(ModelConfigError, match="trained on the 10\\^-4 grid"):
        with_metadata(net, classes=[0, 1], preprocessing={"decimals": 2}, training={})
