"""The full-Adult batch benchmark (issue 15): `mipnn train --dataset adult --batch-size 100` with
default settings, the reference method (scaled budget), GD and logistic regression on the same rows.

Each batch run is the CLI in a child process; a sampler adds up the resident memory (RSS) of the
child and all its descendants (the Dask scheduler and workers) every 0.5 s and keeps the peak.
Rows are appended to benchmarks/results/batch/full-adult.csv (a row already there is skipped), the
models to benchmarks/results/batch/full-adult-<run>.json. Run through the bench2 slot:

    .venv/bin/python benchmarks/run_full_adult.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from csvlog import append_row  # benchmarks/csvlog.py (scripts run from this directory)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "batch"
MIPNN = str(Path(sys.executable).with_name("mipnn"))

# run name -> extra CLI arguments after `mipnn train --dataset adult --batch-size 100`
BATCH_RUNS = {
    "local": [],  # the default settings
    # the reference, scaled to <= 10 min (docs/batch.md): 3 epochs (bounds [-P, P], then mean -+ 15, mean -+ 1),
    # 2 s per batch MIP, the run cut at 540 s
    "average": ["--batch-method", "average", "--epochs", "3", "--batch-time", "2", "--time-limit", "540"],
    "local-default": [],  # the default command again, with this branch's code (model file of its own)
    "local-ls": ["--batch-engine", "ls"],  # the ablation of local on all rows
    "neighbourhood": ["--batch-method", "neighbourhood"],  # its defaults: 3 epochs, k = 8, 6 s per MIP
    "neighbourhood-ls": ["--batch-method", "neighbourhood", "--batch-engine", "ls"],
    "neighbourhood-val": ["--batch-method", "neighbourhood", "--batch-accept", "train-val"],
    # the escape variant: the MIP searches radius 3 around each step's local-search point, 10 s per MIP,
    # rounds of 2 steps (one per worker); and its ablation (the local search alone, same rounds)
    "neighbourhood-escape": ["--batch-method", "neighbourhood", "--batch-mip-k", "3", "--batch-round-size", "2",
                             "--batch-time", "10"],
    "neighbourhood-escape-ls": ["--batch-method", "neighbourhood", "--batch-engine", "ls", "--batch-mip-k", "3",
                                "--batch-round-size", "2"],
}
FIELDS = ["run", "command", "train_rows", "val_rows", "train_accuracy", "val_accuracy", "test_accuracy", "wall_s",
          "batches", "exact_batches", "stopped", "peak_rss_mb", "peak_process_mb", "load_before", "workers",
          "threads_per_worker", "accepted", "train_rows_gained", "ls_gain", "mip_gain", "evaluate_train", "evaluate_val",
          "evaluate_test"]


class TreeMemory:
    """Peak of the summed RSS of a process and its descendants, sampled every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.5):
        self.root, self.every = psutil.Process(pid), every
        self.peak_sum = self.peak_one = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = []
            for proc in procs:
                try:
                    rss.append(proc.memory_info().rss)
                except psutil.NoSuchProcess:
                    pass
            self.peak_sum, self.peak_one = max(self.peak_sum, sum(rss)), max([self.peak_one, *rss])
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def run_cli(name: str, extra: list[str]) -> dict:
    model = OUT / f"full-adult-{name}.json"
    command = [MIPNN, "train", "--dataset", "adult", "--batch-size", "100", *extra, "--out", str(model), "--json"]
    t0 = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    memory = TreeMemory(child.pid)
    out, _ = child.communicate()
    memory.stop()
    wall = time.perf_counter() - t0
    if child.returncode != 0:
        raise SystemExit(f"{name}: exit code {child.returncode}")
    s = json.loads(out.strip().splitlines()[-1])
    record = json.loads(model.read_text())["training"]
    history = record["batch"]["history"]
    evaluated = json.loads(subprocess.run([MIPNN, "evaluate", "--model", str(model), "--json"], check=True,
                                          capture_output=True, text=True).stdout)
    return {"command": " ".join(["mipnn", *command[1:]]).replace(str(ROOT) + "/", ""),
            "train_rows": len(record["train_indices"]), "val_rows": len(record["val_indices"]),
            "train_accuracy": s["train_accuracy"], "val_accuracy": s["val_accuracy"],
            "test_accuracy": s["test_accuracy"], "wall_s": round(wall, 1), "batches": s["batches_solved"],
            "exact_batches": s["exact_batches"], "stopped": s["stopped"] or "",
            "peak_rss_mb": round(memory.peak_sum / 2**20), "peak_process_mb": round(memory.peak_one / 2**20),
            "workers": 2, "threads_per_worker": 1, "accepted": sum(h.get("accepted", 0) for h in history),
            "train_rows_gained": sum(h.get("gained", 0) for h in history), "ls_gain": sum(h.get("ls_gain", 0) for h in history),
            "mip_gain": sum(h.get("mip_gain", 0) for h in history), "evaluate_train": evaluated["train_accuracy"],
            "evaluate_val": evaluated["val_accuracy"], "evaluate_test": evaluated["test_accuracy"]}


def run_baseline(name: str) -> dict:
    """GD (30 s, its defaults, as in the earlier grid), GD with the local method's start settings, and
    logistic regression, on the same training split; in this process (one thread)."""
    import numpy as np

    from mipnn_pyomo.batch import BatchConfig
    from mipnn_pyomo.batch.split import make_split
    from mipnn_pyomo.data import load_adult

    dataset, config = load_adult(), BatchConfig()
    split = make_split(dataset, config)
    X, y = dataset.X_pool[split.train], dataset.y_pool[split.train]
    t0 = time.perf_counter()
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=2000).fit(X, y)
        acc = lambda A, b: float(np.mean(model.predict(A) == b))  # noqa: E731
        command = "sklearn LogisticRegression(max_iter=2000)"
    else:
        from mipnn_pyomo.gd import train_gd

        kw = (dict(time_limit=30.0) if name == "gd" else
              dict(time_limit=config.start_time, max_epochs=config.start_epochs, lr=config.start_lr))
        net = train_gd(X, y, dataset.n_classes, hidden=(16,), P=config.P, seed=0, target_accuracy=None, **kw).network
        acc = net.accuracy
        command = f"gd.train_gd(hidden=(16,), P={config.P}, seed=0, {', '.join(f'{k}={v}' for k, v in kw.items())})"
    wall = time.perf_counter() - t0
    Xv, yv = dataset.X_pool[split.val], dataset.y_pool[split.val]
    return {"command": command, "train_rows": len(y), "val_rows": len(yv), "train_accuracy": acc(X, y),
            "val_accuracy": acc(Xv, yv), "test_accuracy": acc(dataset.X_test, dataset.y_test),
            "wall_s": round(wall, 1), "batches": "", "exact_batches": "", "stopped": "",
            "peak_rss_mb": "", "peak_process_mb": "", "workers": 0, "threads_per_worker": 1}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="local,average,logreg,gd,gd-start")
    p.add_argument("--out", default=str(OUT / "full-adult-3.csv"), help="CSV (full-adult.csv: the earlier runs' columns)")
    args = p.parse_args(argv)
    out = Path(args.out)
    done = set()
    if out.exists():
        with open(out) as handle:
            done = {r["run"] for r in csv.DictReader(handle)}
    for name in [r.strip() for r in args.runs.split(",") if r.strip()]:
        if name in done:
            continue
        print(f"== full Adult: {name}", file=sys.stderr, flush=True)
        load = os.getloadavg()[0]
        row = run_cli(name, BATCH_RUNS[name]) if name in BATCH_RUNS else run_baseline(name)
        row.update(run=name, load_before=round(load, 2))
        print(row, file=sys.stderr, flush=True)
        append_row(out, FIELDS, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
