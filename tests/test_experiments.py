"""Experiment configs, the resumable runner (in-process, process pool, Dask), the SQLite store and the report."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.cli.experiment import experiment_from_args
from mipnn_pyomo.experiments import parse_config
from mipnn_pyomo.experiments import runner as runner_mod
from mipnn_pyomo.experiments.config import load_config
from mipnn_pyomo.experiments.report import find_reference_csv, load_reference, write_report
from mipnn_pyomo.experiments.runner import run_experiment
from mipnn_pyomo.experiments.store import SCHEMA_VERSION, ResultStore

REPO = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"
sample_sizes = {sizes}
seeds = {seeds}
time_limit = 5
target_accuracy = 0.9
hidden = [2]
threads = 1
baselines = {baselines}

[dataset]
name = "adult"

[[methods]]
objective = "sat-margin"
P = [1]

[[methods]]
objective = "max-correct"
P = [1]
{extra}
"""


def tiny(tmp_path, sizes="[12, 16]", seeds="[0]", baselines="false", extra="", name="tiny.toml"):
    path = tmp_path / name
    path.write_text(TINY.format(sizes=sizes, seeds=seeds, baselines=baselines, extra=extra))
    return load_config(path)


# ------------------------------------------------------------------------------------ config


def test_shipped_configs_parse():
    exp1 = load_config(REPO / "experiments" / "exp1.toml")
    assert [m.objective for m in exp1.methods] == ["max-correct", "min-hinge", "sat-margin", "gd"]
    assert exp1.sample_sizes == list(range(40, 281, 40)) and exp1.seeds == [0, 1, 2] and exp1.hidden == [16]
    assert exp1.time_limit == 36000 and exp1.target_accuracy == 0.9 and exp1.baselines
    assert len(exp1.cells()) == 7 * 3 * (4 + 1)  # 4 methods + the baselines task per (N, seed)
    exp2 = load_config(REPO / "experiments" / "exp2.toml")
    assert exp2.methods[0].P == (1, 3, 7, 15) and len(exp2.cells()) == 7 * 3 * 4
    smoke = load_config(REPO / "experiments" / "smoke.toml")
    keys = [smoke.cell_key(c) for c in smoke.cells()]
    assert len(set(keys)) == len(keys)
    # the cell identity depends on the run's settings, not on the rest of the grid
    assert smoke.with_time_limit(3).cell_key(smoke.cells()[1]) != keys[1]
    assert load_config(REPO / "experiments" / "smoke.toml").cell_key(smoke.cells()[1]) == keys[1]


@pytest.mark.parametrize(
    "text, line, needles",
    [
        ('name = "x"\nsample_sizes = [10\n', 2, ["invalid TOML"]),
        ('name = "x"\nsample_sizes = 10 20\nseeds = [0]\n', 2, ["invalid TOML"]),
        ('name = "x"\nsampel_sizes = [10]\n', 2, ["sampel_sizes", "unknown key"]),
        ('name = "x"\nsample_sizes = "40"\n[[methods]]\nobjective = "sat-margin"\n', 2, ["sample_sizes", "list of integers"]),
        ('name = "x"\nsample_sizes = [40]\n\n[[methods]]\nobjective = "sat-margin"\n\n[[methods]]\nobjective = "min-hinge"\nP = [0, 3]\n',
         9, ["methods[1].P[0]", ">= 1"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "sat-margin"\n[[methods]]\nobjectiv = "gd"\n', 6,
         ["methods[1].objectiv", "unknown key"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "max-margin"\n', 4, ["methods[0].objective", "max-margin"]),
        ('name = "x"\nsample_sizes = [40]\ntime_limit = "1h"\n[[methods]]\nobjective = "gd"\n', 3, ["time_limit"]),
        ('name = "x"\nsample_sizes = [40]\ntarget_accuracy = 90\n[[methods]]\nobjective = "gd"\n', 3, ["target_accuracy", "fraction"]),
        ('name = "x"\nsample_sizes = [40]\nbaselines = "yes"\n[[methods]]\nobjective = "gd"\n', 3, ["baselines", "true or false"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "gd"\n[formulation]\nvariant = "tight"\nbig_m = 3\n', 7,
         ["formulation.big_m", "unknown key"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "gd"\n[formulation]\nvariant = "loose"\n', 6,
         ["formulation.variant", "loose"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "gd"\n[dataset]\nname = "csv"\npath = "a.csv"\n', 5,
         ["dataset", "target"]),
        ('name = "x"\nsample_sizes = [40]\n[[methods]]\nobjective = "gd"\nP = 3\n[[methods]]\nobjective = "gd"\nP = [1, 3]\n', 8,
         ["methods[1].P", "twice"]),
    ],
)
def test_malformed_config_names_line_and_key(text, line, needles):
    with pytest.raises(ConfigError) as info:
        parse_config(text, where="bad.toml")
    msg = str(info.value)
    assert msg.startswith(f"bad.toml, line {line}: "), msg
    for needle in needles:
        assert needle in msg, msg


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    cfg = tiny(tmp_path, extra='[[methods]]\nobjective = "gd"\nP = 3\noptions = {patience = 50}\n')
    assert cfg.methods[2].P == (3,) and cfg.methods[2].options == {"patience": 50}
    with pytest.raises(ConfigError, match="time limit override"):
        cfg.with_time_limit(-1)


# ------------------------------------------------------------------------------------ runner


def test_resume_after_interrupt_redoes_nothing_and_loses_nothing(tmp_path, monkeypatch):
    db = tmp_path / "r.sqlite"
    cfg = tiny(tmp_path, sizes="[12, 16]", seeds="[0, 1]")  # 2 N x 2 seeds x 2 methods = 8 cells
    real = runner_mod._run_mip
    calls = {"n": 0}

    def interrupted_on_third(task, dataset, progress):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(task, dataset, progress)

    monkeypatch.setattr(runner_mod, "_run_mip", interrupted_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, db, workers=0, quiet=True)
    monkeypatch.setattr(runner_mod, "_run_mip", real)
    with ResultStore(db) as store:
        first = {r["cell_key"]: r for r in store.runs()}
    assert len(first) == 2 and all(r["state"] == "done" for r in first.values())

    summary = run_experiment(cfg, db, workers=0, quiet=True)
    assert (summary.skipped_done, summary.done, summary.failed) == (2, 6, 0)
    with ResultStore(db) as store:
        after = {r["cell_key"]: r for r in store.runs()}
    assert len(after) == 8 and all(r["state"] == "done" for r in after.values())
    for key, r in first.items():  # not redone
        assert after[key]["finished_at"] == r["finished_at"] and after[key]["attempts"] == 1
    assert all(r["attempts"] == 1 for r in after.values())
    rec = next(iter(after.values()))
    assert IntegerNetwork.from_dict(json.loads(rec["network_json"])).P == 1 and rec["solver_name"] == "highs"
    assert "+src." in rec["package_version"]
    assert rec["test_accuracy"] is not None and rec["incumbents_json"].startswith("[")

    # a grown grid (a subset run first, then the full set) only runs the new cells
    bigger = tiny(tmp_path, sizes="[12, 16, 20]", seeds="[0, 1]")
    summary = run_experiment(bigger, db, workers=0, quiet=True)
    assert (summary.skipped_done, summary.done) == (8, 4)
    assert run_experiment(bigger, db, workers=0, quiet=True).ran == 0


def test_failing_cells_are_recorded_and_the_rest_finish_in_a_process_pool(tmp_path, capsys):
    db = tmp_path / "f.sqlite"
    # train_gd gets an unknown keyword: every gd cell fails inside its worker process
    cfg = tiny(tmp_path, sizes="[12]", seeds="[0, 1]", baselines="true",
               extra='[[methods]]\nobjective = "gd"\noptions = {no_such_option = 1}\n')
    summary = run_experiment(cfg, db, workers=2)
    assert (summary.done, summary.failed) == (6, 2)
    err = capsys.readouterr().err
    assert "FAILED" in err and "[8/8 cells | failed 2" in err
    with ResultStore(db) as store:
        rows = store.runs()
    failed = [r for r in rows if r["state"] == "failed"]
    assert {r["method"] for r in failed} == {"gd"} and all("no_such_option" in r["error"] for r in failed)
    assert {r["method"] for r in rows if r["state"] == "done"} == {"sat-margin", "max-correct", "baselines"}
    # a rerun does not redo failed cells unless asked to
    again = run_experiment(cfg, db, workers=0, quiet=True)
    assert (again.ran, again.skipped_failed, again.skipped_done) == (0, 2, 6)
    retry = run_experiment(cfg, db, workers=0, quiet=True, retry_failed=True)
    assert (retry.ran, retry.failed) == (2, 2)
    with ResultStore(db) as store:
        assert sorted(r["attempts"] for r in store.runs()) == [1] * 6 + [2, 2]


def test_dask_local_cluster_runs_the_smoke_config(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    cfg = load_config(REPO / "experiments" / "smoke.toml")
    db = tmp_path / "dask.sqlite"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        summary = run_experiment(cfg, db, scheduler=cluster.scheduler_address, quiet=True)
    assert (summary.done, summary.failed) == (len(cfg.cells()), 0)
    with ResultStore(db) as store:
        rows = store.runs()
    assert len(rows) == len(cfg.cells()) and all(r["state"] == "done" for r in rows)


def test_missing_dask_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"mipnn-pyomo\[dask\]"):
        run_experiment(tiny(tmp_path), tmp_path / "x.sqlite", scheduler="tcp://127.0.0.1:1", quiet=True)
    assert not (tmp_path / "x.sqlite").exists()


# ------------------------------------------------------------------------------------ store


def test_schema_version_mismatch_and_foreign_files(tmp_path):
    db = tmp_path / "s.sqlite"
    ResultStore(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match=rf"schema version 99.*schema version {SCHEMA_VERSION}"):
        ResultStore(db)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE stuff (x)")
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="not a mipnn experiment database"):
        ResultStore(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError):
        ResultStore(junk)
    with pytest.raises(ConfigError, match="not found"):
        ResultStore(tmp_path / "none.sqlite", create=False)


def _record(key, **kw):
    rec = dict(cell_key=key, experiment="fake", config_hash="h", dataset="adult", method="sat-margin", P=1,
               n_train=40, seed=0, solver="highs", hidden=[16], time_limit=60.0, target_accuracy=0.9, threads=1,
               state="done", status="target_reached", hit_time_limit=False, runtime_s=1.0, train_accuracy=0.9,
               test_accuracy=0.75, solver_name="highs", solver_version="1", package_version="0",
               started_at="2024-01-01T00:00:00", finished_at="2024-01-01T00:00:01")
    rec.update(kw)
    return rec


def _writer(db, prefix, n, barrier):
    barrier.wait()
    store = ResultStore(db)  # both processes also create the schema at the same moment
    for i in range(n):
        store.record(_record(f"{prefix}-{i}", seed=i))
    store.close()


def test_two_processes_writing_one_database_lose_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(db), p, 150, barrier)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    with ResultStore(db) as store:
        rows = store.runs()
        assert store.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(rows) == 300 and len({r["cell_key"] for r in rows}) == 300


# ------------------------------------------------------------------------------------ report


def _fake_db(path):
    with ResultStore(path) as store:
        store.register_experiment("fake", "h", {"name": "fake", "formulation": {}, "description": "A fake grid."}, None)
        for n in (40, 80):
            for seed in (0, 1, 2):
                for method, acc in (("sat-margin", 0.78), ("max-correct", 0.74), ("gd", 0.77)):
                    hit = method == "sat-margin" and n == 80 and seed == 2
                    store.record(_record(f"{method}-{n}-{seed}", method=method, n_train=n, seed=seed,
                                         test_accuracy=acc + 0.01 * seed, runtime_s=60.0 if hit else n / 10 + seed,
                                         hit_time_limit=hit, status="time_limit" if hit else "target_reached"))
                store.record(_record(f"b-{n}-{seed}", method="baselines", P=None, n_train=n, seed=seed,
                                     train_accuracy=None, test_accuracy=None,
                                     summary_json={"baselines": {
                                         "majority": {"train_accuracy": 0.75, "test_accuracy": 0.7637, "runtime_s": 0.0},
                                         "logistic_regression": {"train_accuracy": 0.9, "test_accuracy": 0.8, "runtime_s": 0.1},
                                         "mlp": {"train_accuracy": 1.0, "test_accuracy": 0.78, "runtime_s": 0.5}}}))
        store.record(_record("min-hinge-40-0", method="min-hinge", state="failed", status="no_solution",
                             hit_time_limit=True, train_accuracy=None, test_accuracy=None, package_version="0.1+src.other",
                             error="NoSolutionError: no feasible network found within 60 s"))


def test_report_renders_figures_tables_and_reference_column(tmp_path, monkeypatch):
    db = tmp_path / "rep.sqlite"
    _fake_db(db)
    ref = tmp_path / "ref.csv"
    ref.write_text(
        "method,P,n_train,runs,train_acc_mean,test_acc_mean,test_acc_std,runtime_s_mean,runtime_s_max\n"
        "sat-margin,1,40,5,100.00,72.58,4.13,0.5,0.6\n"
        "sat-margin,1,80,5,98.50,75.79,2.32,3.3,7.8\n"
        "max-correct,1,40,5,100.00,71.42,6.68,0.7,0.9\n"
    )
    out = tmp_path / "out"
    path = write_report(db, out, reference=ref)
    text = path.read_text()
    for png in ("fake_summary.png", "fake_train_accuracy.png", "fake_test_accuracy.png", "fake_runtime.png"):
        assert (out / png).stat().st_size > 10_000, png
        assert png in text
    assert (out / "fake_summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| N | max-correct | min-hinge | sat-margin | gd | paper: max-correct |" in text
    assert "72.6 ± 4.1" in text and "75.8 ± 2.3" in text  # the paper's test accuracy, from the reference CSV
    assert "79.0 ± 1.0 †1" in text  # sat-margin N=80: mean ± std, one run at the time limit
    assert "context, not targets" in text
    assert "logistic regression" in text and "80.0 ± 0.0" in text
    assert "NoSolutionError" in text and "### Failed runs" in text
    assert "2 different versions of the code" in text

    # reference lookup: --reference, then $MIPNN_REFERENCE_CSV, then the repository copy
    monkeypatch.setenv("MIPNN_REFERENCE_CSV", str(ref))
    assert find_reference_csv() == ref
    monkeypatch.delenv("MIPNN_REFERENCE_CSV")
    default = find_reference_csv()
    assert default == REPO / "experiments" / "reference" / "adult-reference-runs.csv"
    assert load_reference(default)[("sat-margin", 15, 280)]["runtime_s_max"] == pytest.approx(1891.4)
    with pytest.raises(ConfigError, match="not found"):
        find_reference_csv(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------------ CLI


def test_cli_experiment_commands(tmp_path, capsys):
    from mipnn_pyomo.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\nsample_sizes = [12]\nseeds = [0]\n[[methods]]\nobjective = "sat-margin"\nsolvr = "highs"\n')
    assert main(["experiment", "run", str(bad), "--db", str(tmp_path / "b.sqlite")]) == 2
    assert "line 6: methods[0].solvr: unknown key" in capsys.readouterr().err

    db = tmp_path / "rep.sqlite"
    _fake_db(db)
    assert main(["experiment", "status", "--db", str(db)]) == 0
    assert "fake: done 24, failed 1" in capsys.readouterr().out
    cfg = tmp_path / "t.toml"
    cfg.write_text(TINY.format(sizes="[12]", seeds="[0]", baselines="false", extra=""))
    assert main(["experiment", "run", str(cfg), "--db", str(db), "--dry-run"]) == 0
    assert "run  todo        sat-margin P=1 N=12 seed=0" in capsys.readouterr().out
    assert main(["experiment", "report", "--db", str(tmp_path / "missing.sqlite"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
