"""BeMi's lexicographic recipe: the sequence of MIPs against Gurobi's multi-objective optimisation.

    /work/wt/brief/bench1 .venv/bin/python benchmarks/run_multiobjective.py \\
        --configs iris:thermometer:30:3 wine:thermometer:30:3 --seeds 0 1 2 --time-limit 60 \\
        --out benchmarks/results/generalisation/gurobi-multiobjective.csv

A config is DATASET:ENCODING:N_TRAIN:HIDDEN (instances under the pip licence's 2,000 variables and
constraints). One row per (config, seed, mode): the wall time to finish every stage, whether every
stage (pass) ended optimal, the final network's value of each objective by forward pass (primary,
correct training samples, neuron margins, non-zero parameters), the held accuracy, the test and
training accuracy, the exactness check, each stage's status/time/value, the machine's load. Both
modes: Gurobi, 1 thread, the same time limit. Resumable: rows already in the CSV are skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from csvlog import append_row  # noqa: E402

FIELDS = ["dataset", "encoding", "n_train", "hidden", "seed", "mode", "time_limit", "threads", "wall_s",
          "all_optimal", "primary", "correct", "accuracy_held", "neuron_margin", "nonzero_parameters",
          "train_accuracy", "test_accuracy", "exact", "variables", "constraints", "stages", "load_1min", "machine"]


def done_rows(path: Path) -> set:
    if not path.exists():
        return set()
    with path.open() as f:
        return {(r["dataset"], r["encoding"], r["n_train"], r["hidden"], r["seed"], r["mode"], r["time_limit"])
                for r in csv.DictReader(f)}


def run_one(config: str, seed: int, mode: str, time_limit: float) -> dict:
    from mipnn_pyomo.blocks import count_nonzero
    from mipnn_pyomo.data import load_named_dataset
    from mipnn_pyomo.objectives import get_objective
    from mipnn_pyomo.training import train_on_dataset

    name, encoding, n_train, hidden = config.split(":")
    dataset = load_named_dataset(name, encoding=encoding)
    t0 = time.perf_counter()
    record = train_on_dataset(dataset, int(n_train), seed, hidden=(int(hidden),), P=1, objective="sat-margin",
                              solver="gurobi", time_limit=time_limit, threads=1, recipe="bemi", lexicographic=mode)
    wall = time.perf_counter() - t0
    result, net = record.result, record.result.network
    d, outputs = result.instance.data, result.instance.outputs
    stages = result.recipe["stages"]
    held = [h["value"] for s in stages for h in s.get("holds", []) if h["name"] == "accuracy"]
    keep = ("objective", "status", "value", "pass_value", "bound", "time_s", "source")
    return {
        "dataset": name, "encoding": encoding, "n_train": n_train, "hidden": hidden, "seed": seed, "mode": mode,
        "time_limit": time_limit, "threads": 1, "wall_s": round(wall, 2),
        "all_optimal": all(s.get("status") == "optimal" for s in stages),
        "primary": get_objective("sat-margin").evaluate(net, d.X, outputs),
        "correct": int(np.sum(net.predict_index(d.X) == d.y)), "accuracy_held": held[0] if held else None,
        "neuron_margin": round(get_objective("neuron-margin").evaluate(net, d.X, outputs), 6),
        "nonzero_parameters": count_nonzero(net), "train_accuracy": round(record.train_accuracy, 5),
        "test_accuracy": round(record.test_accuracy, 5), "exact": bool(result.exactness and result.exactness.ok),
        "variables": result.instance.sizes.get("variables"), "constraints": result.instance.sizes.get("constraints"),
        "stages": json.dumps([{k: s.get(k) for k in keep} for s in stages]),
        "load_1min": round(os.getloadavg()[0], 2), "machine": f"{platform.node()} {os.cpu_count()} cpus",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["iris:thermometer:30:3", "iris:minmax:30:4",
                                                    "wine:thermometer:30:3", "breast_cancer:minmax:30:3"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--modes", nargs="+", default=["sequence", "gurobi"])
    p.add_argument("--time-limit", type=float, default=60.0)
    p.add_argument("--out", default="benchmarks/results/generalisation/gurobi-multiobjective.csv")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_rows(out)
    for config in args.configs:
        for seed in args.seeds:
            for mode in args.modes:
                key = (*config.split(":"), str(seed), mode, str(args.time_limit))
                if key in done:
                    continue
                row = run_one(config, seed, mode, args.time_limit)
                append_row(out, FIELDS, row)
                print(f"{config} seed {seed} {mode}: {row['wall_s']} s, optimal {row['all_optimal']}, "
                      f"primary {row['primary']}, margin {row['neuron_margin']}, nonzero {row['nonzero_parameters']}, "
                      f"test {row['test_accuracy']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
