"""Recipes on Adult (issue 14): paper vs polish vs bemi vs min-weight (and per-stage engines).

    .venv/bin/python benchmarks/run_recipes.py --recipes paper polish \\
        --seeds 0 1 --time-limit 180 --solver highs --out benchmarks/results/generalisation/objectives.csv

One row per (recipe, stage solver, seed): test and training accuracy (forward pass), non-zero
weights (biases not counted) of the 108 x 16 + 16 x 2 weights, active hidden neurons (a non-zero
in-weight and a non-zero out-weight), the time, who produced the final network, and per stage
objective, value, status, time and source. Resumable: rows already in the CSV are skipped. One
thread (run it through bench1).
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

FIELDS = ["recipe", "solver", "seed", "n_train", "hidden", "P", "time_limit", "threads", "test_accuracy",
          "train_accuracy", "nonzero_weights", "total_weights", "fraction_zero", "nonzero_biases", "active_neurons",
          "runtime_s", "final_source", "stages", "exact", "load_1min", "machine"]


def sparsity(network) -> dict:
    total = int(sum(w.size for w in network.weights))
    nonzero = int(sum(np.count_nonzero(w) for w in network.weights))
    active = sum(int(np.sum(np.any(a != 0, axis=0) & np.any(b != 0, axis=1)))
                 for a, b in zip(network.weights[:-1], network.weights[1:]))
    return {"nonzero_weights": nonzero, "total_weights": total, "fraction_zero": round(1 - nonzero / total, 4),
            "nonzero_biases": int(sum(np.count_nonzero(b) for b in network.biases)), "active_neurons": active}


def stage_summary(result) -> str:
    if result.recipe is None:
        return json.dumps([{"objective": result.objective, "status": result.status, "source": result.solve.source}])
    keep = ("stage", "objective", "status", "start_value", "value", "time_s", "source", "solver", "local_search")
    return json.dumps([{k: s.get(k) for k in keep} for s in result.recipe["stages"]])


def done_rows(path: Path) -> set:
    if not path.exists():
        return set()
    with path.open() as f:
        return {(r["recipe"], r["solver"], r["seed"]) for r in csv.DictReader(f)}


def run_one(dataset, recipe: str, solver: str, seed: int, args) -> dict:
    from mipnn_pyomo.recipes import get_recipe
    from mipnn_pyomo.training import train_on_dataset

    plan = get_recipe(recipe)
    if "+" in solver:  # one solver per stage, e.g. "highs+cpsat+cpsat"
        plan = plan.with_solvers(*solver.split("+"))
    t0 = time.perf_counter()
    record = train_on_dataset(dataset, args.n_train, seed, hidden=(args.hidden,), P=args.P,
                              time_limit=args.time_limit, threads=1, recipe=plan,
                              solver=solver.split("+")[0])
    result = record.result
    return {
        "recipe": recipe, "solver": solver, "seed": seed, "n_train": args.n_train, "hidden": args.hidden, "P": args.P,
        "time_limit": args.time_limit, "threads": 1, "test_accuracy": round(record.test_accuracy, 5),
        "train_accuracy": round(record.train_accuracy, 5), **sparsity(record.network),
        "runtime_s": round(time.perf_counter() - t0, 1),
        "final_source": (result.recipe or {}).get("final_source") or result.solve.source,
        "stages": stage_summary(result), "exact": bool(result.exactness and result.exactness.ok),
        "load_1min": round(os.getloadavg()[0], 2), "machine": f"{platform.node()} {os.cpu_count()} cpus",
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="+", default=["paper", "polish", "bemi", "min-weight"])
    p.add_argument("--solvers", nargs="+", default=["highs"], help="a solver, or one per stage joined by '+'")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--n-train", type=int, default=280)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--P", type=int, default=1)
    p.add_argument("--time-limit", type=float, default=180.0)
    p.add_argument("--out", default="benchmarks/results/generalisation/objectives.csv")
    args = p.parse_args(argv)
    from mipnn_pyomo.data import load_adult

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_rows(out)
    dataset = load_adult()
    for recipe in args.recipes:
        for solver in args.solvers:
            for seed in args.seeds:
                if (recipe, solver, str(seed)) in done:
                    continue
                row = run_one(dataset, recipe, solver, seed, args)
                new = not out.exists()
                with out.open("a", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
                print(json.dumps({k: row[k] for k in FIELDS if k != "stages"}), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
