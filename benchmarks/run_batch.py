"""Batch-training benchmark: the reference method (average), this package's methods (local,
neighbourhood), the local-search ablation of each, gradient descent (30 s, and `gd-start`: the
start of local / neighbourhood) and logistic regression, on the same rows of Adult at several
training-set sizes. Appends one row per finished run to benchmarks/results/batch/<--csv> (default
batch-grid.csv; a (rows, run) pair already there is skipped: resumable) and writes
report-<csv name>.md for this session's rows.

    .venv/bin/python benchmarks/run_batch.py                 # the full grid (long: see docs/batch.md)
    .venv/bin/python benchmarks/run_batch.py --smoke         # a tiny configuration (about 2 minutes)
    .venv/bin/python benchmarks/run_batch.py --sizes 1000 --runs local,gd

Every method trains on the training split of the same rows (validation split: the batch methods'
model selection; GD and logistic regression do not use it); test accuracy on Adult's test file.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mipnn_pyomo.batch import BatchConfig, train_batched  # noqa: E402
from mipnn_pyomo.batch.split import make_split  # noqa: E402
from mipnn_pyomo.data import load_adult  # noqa: E402

from csvlog import append_row  # noqa: E402  (benchmarks/csvlog.py: scripts run from this directory)

RUNS = ("average", "local", "local-ls", "average-ls", "neighbourhood", "neighbourhood-ls", "gd", "gd-start", "logreg")
FIELDS = ["n_rows", "run", "method", "engine", "train_rows", "val_rows", "train_accuracy", "val_accuracy",
          "test_accuracy", "wall_s", "batches", "exact_batches", "accepted", "stopped", "peak_rss_mb",
          "mip_gain", "ls_gain", "load_before", "workers", "threads_per_worker"]


def batch_config(run: str, n_rows: int | None, args) -> BatchConfig:
    method, _, engine = run.partition("-")
    common = dict(method=method, engine="ls" if engine == "ls" else "mip", batch_size=args.batch_size, P=args.P,
                  hidden=(16,), n_train=n_rows, seed=args.seed, time_limit=args.time_limit)
    if method == "average":  # the reference, scaled (docs/batch.md): E epochs, short batch solves
        return BatchConfig(**common, epochs=args.reference_epochs, batch_time=args.reference_batch_time)
    if method == "neighbourhood":  # its defaults (GD start: lr 0.1, 3,000 epochs, 240 s cap), E epochs
        return BatchConfig(**common, epochs=args.neighbourhood_epochs, batch_time=args.batch_time)
    return BatchConfig(**common, epochs=args.local_epochs, batch_time=args.batch_time, start_time=args.gd_time)


def run_batch_method(dataset, run: str, n_rows: int | None, args) -> dict:
    config = batch_config(run, n_rows, args)
    t0 = time.perf_counter()
    result = train_batched(dataset, config, workers=args.workers, progress=not args.quiet)
    summed = lambda key: sum(h.get(key, 0) for h in result.history)  # noqa: E731
    return {"method": config.method, "engine": config.engine, "train_accuracy": result.train_accuracy,
            "val_accuracy": result.val_accuracy, "test_accuracy": result.test_accuracy,
            "wall_s": time.perf_counter() - t0, "batches": result.batches_solved,
            "exact_batches": result.exact_batches, "stopped": result.stopped or "",
            "accepted": summed("accepted") if config.method != "average" else "",
            "mip_gain": summed("mip_gain") if config.method == "neighbourhood" else "",
            "ls_gain": summed("ls_gain") if config.method == "neighbourhood" else "",
            "workers": args.workers, "threads_per_worker": 1}


def run_baseline(dataset, run: str, n_rows: int | None, args) -> dict:
    split = make_split(dataset, BatchConfig(n_train=n_rows, seed=args.seed, batch_size=args.batch_size, P=args.P))
    X, y = dataset.X_pool[split.train], dataset.y_pool[split.train]
    Xv, yv = dataset.X_pool[split.val], dataset.y_pool[split.val]
    t0 = time.perf_counter()
    if run in ("gd", "gd-start"):  # gd-start: the start of local / neighbourhood (lr 0.1, 3,000 epochs, 240 s cap)
        from mipnn_pyomo.gd import train_gd

        c = BatchConfig()
        kw = dict(time_limit=args.gd_time) if run == "gd" else dict(time_limit=c.start_time, max_epochs=c.start_epochs,
                                                                        lr=c.start_lr)
        net = train_gd(X, y, dataset.n_classes, hidden=(16,), P=args.P, seed=args.seed, target_accuracy=None,
                       **kw).network
        acc = lambda A, b: net.accuracy(A, b)  # noqa: E731
    else:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=2000).fit(X, y)
        acc = lambda A, b: float(np.mean(model.predict(A) == b))  # noqa: E731
    wall = time.perf_counter() - t0
    return {"method": run, "engine": "", "train_accuracy": acc(X, y), "val_accuracy": acc(Xv, yv),
            "test_accuracy": acc(dataset.X_test, dataset.y_test), "wall_s": wall, "batches": "",
            "exact_batches": "", "stopped": "", "accepted": "", "workers": 0, "threads_per_worker": 1}


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children (Dask workers), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def write_report(rows: list[dict], out: Path, args, elapsed: float) -> None:
    lines = ["# Batch training benchmark", "", f"Command: `{' '.join(sys.argv)}`; total {elapsed:.0f} s.", "",
             "| rows | run | train | val | test | wall s | batches (exact) | moves kept | stopped | peak MB |",
             "|---:|---|---:|---:|---:|---:|---|---:|---|---:|"]
    for r in rows:
        batches = f"{r['batches']} ({r['exact_batches']})" if r["batches"] != "" else ""
        lines.append(f"| {r['n_rows']} | {r['run']} | {100 * r['train_accuracy']:.2f} | {100 * r['val_accuracy']:.2f} | "
                     f"{100 * r['test_accuracy']:.2f} | {r['wall_s']:.1f} | {batches} | {r['accepted']} | {r['stopped']} | "
                     f"{r['peak_rss_mb']:.0f} |")
    (out / f"report-{Path(args.csv).stem}.md").write_text("\n".join(lines) + "\n")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="280,1000,5000,all", help="rows of the pool per run (train + validation)")
    p.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--P", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: cores; 0: in process)")
    p.add_argument("--time-limit", type=float, default=1800.0, help="seconds per batch-method run")
    p.add_argument("--batch-time", type=float, default=6.0, help="seconds per batch solve (local)")
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--neighbourhood-epochs", type=int, default=None, help="default: the method's (3)")
    p.add_argument("--reference-epochs", type=int, default=4, help="the reference's E (theirs: P + 1 = 16)")
    p.add_argument("--reference-batch-time", type=float, default=5.0, help="theirs: 900 s")
    p.add_argument("--gd-time", type=float, default=30.0, help="seconds of GD (baseline and the local start)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch"))
    p.add_argument("--csv", default="batch-grid.csv", help="file in --out; rows are appended, a (rows, run) already there is skipped")
    p.add_argument("--smoke", action="store_true", help="tiny budgets on 280 rows (checks the pipeline)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.local_epochs, args.reference_epochs = "280", 1, 2
        args.batch_time, args.reference_batch_time, args.gd_time = 3.0, 2.0, 5.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_adult()
    sizes = [None if s.strip() == "all" else int(s) for s in args.sizes.split(",")]
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        print(f"error: unknown run(s) {unknown}; choose from {','.join(RUNS)}", file=sys.stderr)
        return 2
    rows, t0 = [], time.perf_counter()
    done = set()
    if (out / args.csv).exists():
        with open(out / args.csv) as handle:
            done = {(r["n_rows"], r["run"]) for r in csv.DictReader(handle)}
    for n_rows in sizes:
        for run in runs:
            if (str(n_rows or "all"), run) in done:
                continue
            print(f"== {n_rows or 'all'} rows: {run}", file=sys.stderr, flush=True)
            load = os.getloadavg()[0]
            baseline = run in ("gd", "gd-start", "logreg")
            row = (run_baseline if baseline else run_batch_method)(dataset, run, n_rows, args)
            split = make_split(dataset, BatchConfig(n_train=n_rows, seed=args.seed, batch_size=args.batch_size))
            row.update(n_rows=n_rows or "all", run=run, train_rows=len(split.train), val_rows=len(split.val),
                       peak_rss_mb=peak_rss_mb(), load_before=round(load, 2))
            rows.append(row)
            append_row(out / args.csv, FIELDS, row)
            write_report(rows, out, args, time.perf_counter() - t0)
    if rows:
        print((out / f"report-{Path(args.csv).stem}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
