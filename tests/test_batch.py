"""Batch training (mipnn_pyomo.batch): each method on small data, exactness of every batch solve,
resume after a simulated kill, the local-search ablation, the Dask path, the model-file record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mipnn_pyomo.batch import BatchConfig, train_batched
from mipnn_pyomo.batch.checkpoint import load_checkpoint
from mipnn_pyomo.batch.reference import weighted_mean, window
from mipnn_pyomo.batch.split import epoch_batches, make_split
from mipnn_pyomo.data import load_adult
from mipnn_pyomo.errors import ConfigError, ModelConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.solvers import get_solver

pytestmark = pytest.mark.skipif(not get_solver("highs").is_available(), reason="HiGHS (highspy) is not installed")


@pytest.fixture(scope="module")
def adult():
    return load_adult()


def small(method: str, engine: str = "mip", **kw) -> BatchConfig:
    """A run that finishes in seconds: 120 rows, batches of 24, P = 2, 3 hidden neurons."""
    base = dict(method=method, engine=engine, batch_size=24, epochs=2, P=2, hidden=(3,), n_train=120, seed=3,
                batch_time=20.0, batch_nodes=50, ls_time=5.0, start="zero", round_size=2, k=4, block=1)
    base.update(kw)
    return BatchConfig(**base)


def check_result(result, dataset):
    """Every batch solve passed exactness, and every reported accuracy is the forward pass's."""
    assert result.batches_solved > 0
    assert result.exact_batches == result.batches_solved
    net, record = result.network, result.network.training
    val_rows, train_rows = np.array(record["val_indices"]), np.array(record["train_indices"])
    assert not set(val_rows) & set(train_rows)
    assert net.accuracy(dataset.X_pool[val_rows], dataset.y_pool[val_rows]) == pytest.approx(result.val_accuracy)
    assert net.accuracy(dataset.X_pool[train_rows], dataset.y_pool[train_rows]) == pytest.approx(result.train_accuracy)
    assert net.accuracy(dataset.X_test, dataset.y_test) == pytest.approx(result.test_accuracy)


@pytest.mark.parametrize("method", ["average", "local"])
def test_method_runs_exact_and_records_rows(adult, method, tmp_path):
    # local: one epoch of 4 batches in 2 rounds (its MIPs with a local-branching row are the slower ones)
    config = small(method) if method == "average" else small(method, n_train=90, batch_size=18, epochs=1)
    result = train_batched(adult, config, workers=0, progress=False)
    check_result(result, adult)
    assert len(result.history) == config.n_epochs
    batch = result.network.training["batch"]
    assert batch["config"]["method"] == method and batch["config"]["batch_size"] == config.batch_size
    path = tmp_path / "net.json"
    result.network.save(path)
    loaded = IntegerNetwork.load(path)
    rows = np.array(loaded.training["val_indices"])
    assert loaded.accuracy(adult.X_pool[rows], adult.y_pool[rows]) == pytest.approx(result.val_accuracy)


@pytest.mark.parametrize("method,rows", [("average", "shuffle"), ("local", "shuffle"), ("local", "hard")])
def test_local_search_ablation_runs_exact(adult, method, rows):
    result = train_batched(adult, small(method, engine="ls", batch_rows=rows), workers=0, progress=False)
    check_result(result, adult)
    assert result.network.training["batch"]["config"]["engine"] == "ls"


@pytest.mark.parametrize("method", ["average", "local"])
def test_resume_after_kill_equals_uninterrupted(adult, method, tmp_path):
    config = small(method, engine="ls") if method == "local" else small(method)
    whole = train_batched(adult, config, workers=0, progress=False, checkpoint=tmp_path / "a.json")
    ckpt = tmp_path / "b.json"
    cut = train_batched(adult, config, workers=0, progress=False, checkpoint=ckpt, stop_after_rounds=1)
    assert cut.stopped == "stopped"
    saved = load_checkpoint(ckpt, config.run_key())
    assert (saved["epoch"], saved["round"]) != (config.n_epochs, 0)  # the kill left work to do
    resumed = train_batched(adult, config, workers=0, progress=False, checkpoint=ckpt)
    assert resumed.resumed
    assert [w.tolist() for w in resumed.network.weights] == [w.tolist() for w in whole.network.weights]
    assert [b.tolist() for b in resumed.network.biases] == [b.tolist() for b in whole.network.biases]
    assert [h["val_accuracy"] for h in resumed.history] == [h["val_accuracy"] for h in whole.history]
    assert resumed.test_accuracy == whole.test_accuracy


def test_checkpoint_of_other_settings_is_refused(adult, tmp_path):
    ckpt = tmp_path / "c.json"
    train_batched(adult, small("average", epochs=1), workers=0, progress=False, checkpoint=ckpt)
    with pytest.raises(ConfigError, match="other settings"):
        train_batched(adult, small("average", epochs=1, seed=4), workers=0, progress=False, checkpoint=ckpt)
    payload = json.loads(ckpt.read_text())
    assert payload["format"] == "mipnn-batch-checkpoint" and payload["epoch"] == 1


def test_time_limit_bounds_the_run(adult):
    config = small("average", epochs=50, time_limit=3.0, batch_nodes=None)
    result = train_batched(adult, config, workers=0, progress=False)
    assert result.stopped == "time_limit"
    assert result.runtime_s < 3.0 + 25.0  # one batch solve may run to its own cap (>= 1 s) past the limit
    check_result(result, adult)


def test_dask_local_cluster(adult):
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    result = train_batched(adult, small("local", engine="ls", epochs=1), workers=2, progress=False)
    serial = train_batched(adult, small("local", engine="ls", epochs=1), workers=0, progress=False)
    check_result(result, adult)
    assert [w.tolist() for w in result.network.weights] == [w.tolist() for w in serial.network.weights]


def test_reference_pieces():
    assert [window(e, 15, 16) for e in (1, 2, 15)] == [15, 14, 1]  # theirs: P - (e - 1)
    assert [window(e, 15, 4) for e in (1, 2, 3)] == [15, 8, 1]  # scaled: linear from P to 1
    vectors = np.array([[2, 0], [0, 2], [1, 1]])
    # worst batch (0.5) weighs 0; weights 1 and 0.5: (0*[2,0] + 1*[0,2] + 0.5*[1,1]) / 1.5
    assert weighted_mean(vectors, np.array([0.5, 0.9, 0.7])).tolist() == [0, 2]
    assert weighted_mean(vectors, np.array([0.7, 0.7, 0.7])).tolist() == [1, 1]


def test_split_is_disjoint_and_batches_cover(adult):
    config = small("average", n_train=200)
    split = make_split(adult, config)
    assert len(split.val) == 40 and len(split.train) == 160 and not set(split.val) & set(split.train)
    batches = epoch_batches(160, 24, 3, epoch=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(160))
    assert epoch_batches(160, 24, 3, epoch=1)[0].tolist() == batches[0].tolist()
    assert epoch_batches(160, 24, 3, epoch=2)[0].tolist() != batches[0].tolist()


@pytest.mark.parametrize("bad", [dict(method="vote"), dict(batch_size=1), dict(hidden=(4, 4)), dict(val_fraction=1.0),
                                 dict(engine="sat"), dict(block=9), dict(k=0)])
def test_bad_settings_give_one_clear_error(bad):
    with pytest.raises(ModelConfigError):
        BatchConfig(**{**dict(hidden=(8,)), **bad})


def test_sigterm_stops_cleanly_with_the_best_network(adult, tmp_path):
    import os
    import signal
    import threading

    config = small("local", engine="ls", epochs=200, ls_time=1.0)
    ckpt = tmp_path / "s.json"
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        result = train_batched(adult, config, workers=0, progress=False, checkpoint=ckpt)
    finally:
        timer.cancel()
    assert result.stopped == "SIGTERM" and result.interrupt_signal == signal.SIGTERM
    assert len(result.history) < 200
    check_result(result, adult)
    saved = load_checkpoint(ckpt, config.run_key())
    assert saved["best"]["val_accuracy"] == pytest.approx(result.val_accuracy)


def test_array_dataset_without_preprocessor_or_test_rows(separable_data):
    """The estimator's path: a Dataset built from arrays (no preprocessor, no test rows)."""
    from mipnn_pyomo.data import Dataset

    X, y = separable_data
    X, y = np.vstack([X] * 3), np.concatenate([y] * 3)
    data = Dataset("arrays", X, y, np.zeros((0, X.shape[1])), np.zeros(0, dtype=int), [0, 1], None,
                   np.arange(len(y)), np.zeros(0, dtype=int), {})
    result = train_batched(data, small("average", n_train=None, epochs=1, batch_size=20), workers=0, progress=False)
    assert np.isnan(result.test_accuracy) and result.exact_batches == result.batches_solved
    rows = np.array(result.network.training["val_indices"])
    assert result.network.accuracy(X[rows], y[rows]) == pytest.approx(result.val_accuracy)


def test_hard_rows_come_from_the_rows_nearest_the_boundary(adult):
    from mipnn_pyomo.batch.context import RunContext
    from mipnn_pyomo.batch.local import LocalMethod

    config = small("local", batch_rows="hard", n_train=600, batch_size=10)
    ctx = RunContext.from_dataset(adult, config, make_split(adult, config))
    method = LocalMethod(ctx)
    current = np.asarray(method.initial_state()["current"])
    current[: ctx.sizes[0] * ctx.sizes[1]] = np.random.default_rng(0).integers(-2, 3, ctx.sizes[0] * ctx.sizes[1])
    rows = method.hard_rows(current, epoch=0, batch=1)
    scores = ctx.network(current).output_scores(ctx.X_train)
    y = ctx.y_train
    margin = np.abs(scores[np.arange(len(y)), y] - scores[np.arange(len(y)), 1 - y])
    assert len(rows) == 10 and margin[rows].max() <= np.sort(margin)[99]
    assert rows.tolist() == method.hard_rows(current, epoch=0, batch=1).tolist()


def test_batch_training_from_the_command_line(tmp_path, capsys):
    """`mipnn train --batch-size`: the network is saved, its accuracies are recomputed by
    `mipnn evaluate` from the file and the raw data, and every batch solve passed exactness."""
    import json as _json

    from mipnn_pyomo.cli import main

    out = tmp_path / "batch.json"
    code = main(["train", "--batch-size", "40", "--n-train", "200", "--hidden", "2", "--P", "1", "--workers", "0",
                 "--batch-time", "0.5", "--epochs", "1", "--out", str(out), "--json"])
    assert code == 0
    summary = _json.loads(capsys.readouterr().out)
    assert summary["batches_solved"] == summary["exact_batches"] > 0
    assert main(["evaluate", "--model", str(out), "--json"]) == 0
    evaluated = _json.loads(capsys.readouterr().out)
    assert evaluated["train_accuracy"] == pytest.approx(summary["train_accuracy"])
    assert evaluated["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert evaluated["val_accuracy"] == pytest.approx(summary["val_accuracy"]) and evaluated["n_val"] == 40
    assert evaluated["recorded_val_accuracy"] == pytest.approx(summary["val_accuracy"])
    model = _json.loads(out.read_text())  # recomputed, not read back: a tampered record shows beside the truth
    assert model["preprocessing"].get("numeric_encoding", "minmax") == "minmax"  # the batch default inputs
    model["training"]["val_accuracy"] = 0.0
    out.write_text(_json.dumps(model))
    assert main(["evaluate", "--model", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"val_accuracy    {100 * summary['val_accuracy']:.2f}%  (recorded 0.00%)" in text
    assert f"(recorded {100 * summary['train_accuracy']:.2f}%)" in text
    assert main(["train", "--batch-size", "1", "--n-train", "50"]) == 2


def test_cli_all_rows_make_the_same_split_as_the_api(adult):
    """--n-train all (the default with --batch-size) is n_train=None: pool order, the API's split."""
    from types import SimpleNamespace

    from mipnn_pyomo.cli.batch import batch_config_from_args

    n_pool = len(adult.y_pool)
    args = SimpleNamespace(batch_method="local", batch_engine="mip", batch_size=100, epochs=None, P=15, hidden=[16],
                           objective="sat-margin", solver="highs", seed=None, n_train=n_pool, val_fraction=0.2,
                           batch_time=6.0, time_limit=None, decimals=4)
    config = batch_config_from_args(args, n_pool)
    assert config.n_train is None
    assert make_split(adult, config).val.tolist() == make_split(adult, BatchConfig()).val.tolist()
    args.n_train = 500
    assert batch_config_from_args(args, n_pool).n_train == 500
