"""Generalisation benchmark (issue 14): test accuracy and sparsity of integer networks trained by MIP
(input encodings x recipes x objectives), the GD baseline and logistic regression, on the same rows.

    .venv/bin/python benchmarks/run_generalisation.py --datasets iris,wine --n 80 --hidden 4 \\
        --seeds 0,1 --encodings minmax,thermometer --recipes paper,polish --time-limit 30
    .venv/bin/python benchmarks/run_generalisation.py --summary        # markdown tables from the CSV

Every run appends one row to benchmarks/results/generalisation/runs.csv as soon as it ends; a rerun
skips rows already there (resumable). One process, one solver thread, numpy single-threaded: run it
on one core (``--shard i/k`` splits a grid between two side-by-side processes).
Each row records the 1-minute load average at its start. Every MIP network passes the exactness
check (train_network raises otherwise; such a run is recorded with status ``error``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402

from mipnn_pyomo.data import load_named_dataset  # noqa: E402
from mipnn_pyomo.errors import MipnnError  # noqa: E402
from mipnn_pyomo.formulation import FormulationOptions  # noqa: E402
from mipnn_pyomo.recipes import get_recipe  # noqa: E402
from mipnn_pyomo.selection import parse_grid, select_on_dataset  # noqa: E402
from mipnn_pyomo.training import train_gd_on_dataset, train_on_dataset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "generalisation"
CSV_PATH = RESULTS / "runs.csv"
KEY = ["dataset", "n", "hidden", "P", "encoding", "thresholds", "method", "recipe", "objective", "seed",
       "time_limit", "target", "margin", "stage_solvers", "p_first"]  # p_first "-": P everywhere
FIELDS = KEY[:-1] + ["status", "train_acc", "val_acc", "test_acc", "runtime_s", "exact", "nonzero_weights",
                     "total_weights", "fraction_zero", "active_neurons", "hidden_neurons", "n_features", "threads",
                     "load1", "note", "final_source", "stages", "p_first"]  # later columns go last: old rows stay aligned
# Columns added after the first rows were written, with the value every older row stands for.
COLUMN_DEFAULTS = {"margin": "0.5", "stage_solvers": "-", "p_first": "-", "final_source": "", "stages": ""}


def read_rows(path: Path) -> list[dict]:
    """Every row of the CSV, older rows completed with COLUMN_DEFAULTS."""
    if not path.exists():
        return []
    with path.open() as f:
        return [{**COLUMN_DEFAULTS, **{k: v for k, v in row.items() if v is not None}} for row in csv.DictReader(f)]


def done_keys(path: Path) -> set[tuple]:
    return {tuple(row[k] for k in KEY) for row in read_rows(path) if row["status"] not in ("error", "interrupted")}


def latest_rows(path: Path) -> list[dict]:
    """The finished rows, one per key: a rerun (``--force``) supersedes the earlier row."""
    latest = {tuple(r[k] for k in KEY): r for r in read_rows(path) if r["status"] not in ("error", "interrupted")}
    return list(latest.values())


def migrate_header(path: Path) -> None:
    """Rewrite the CSV (atomically) with the FIELDS header when it was written with fewer columns."""
    if not path.exists():
        return
    with path.open() as f:
        header = next(csv.reader(f), [])
    if header == FIELDS:
        return
    rows = read_rows(path)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    os.replace(tmp, path)


def append_row(path: Path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    migrate_header(path)
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in FIELDS})
        f.flush()
        os.fsync(f.fileno())


def run_one(spec: dict) -> dict:
    """One run of ``spec`` (a dict of KEY): MIP (with its recipe), GD or logistic regression."""
    data = load_named_dataset(spec["dataset"], encoding=spec["encoding"], thresholds=max(1, int(spec["thresholds"])))
    target = None if spec["target"] in ("none", "start") else float(spec["target"])
    limit = float(spec["time_limit"])
    n, seed, hidden, P = int(spec["n"]), int(spec["seed"]), (int(spec["hidden"]),), int(spec["P"])
    P_first = None if spec.get("p_first", "-") == "-" else int(spec["p_first"])
    row = {"n_features": data.n_features, "threads": 1, "load1": round(os.getloadavg()[0], 2)}
    X, y, rows = data.sample(n, seed)
    held_out = ~np.isin(data.pool_rows, rows)  # validation: the pool rows not drawn (never the test set)
    X_val, y_val = data.X_pool[held_out], data.y_pool[held_out]
    t0 = time.perf_counter()
    if spec["method"] == "lr":
        lr = LogisticRegression(max_iter=1000).fit(X, y)  # as baselines.reference_baselines
        return {**row, "status": "fitted", "train_acc": lr.score(X, y), "test_acc": lr.score(data.X_test, data.y_test),
                "val_acc": lr.score(X_val, y_val), "runtime_s": time.perf_counter() - t0}
    if spec["method"].startswith("select-"):  # model selection on the training rows, then one run
        record = select_on_dataset(data, n, seed, parse_grid(spec["recipe"]), method=spec["method"][7:],
                                   hidden=hidden, P=P, objective=spec["objective"], time_limit=limit, threads=1,
                                   target_accuracy=target, P_first=P_first)
        row["exact"] = record.result.exactness.ok
        choice = record.details["selection"]["choice"]
        row["note"] = "chose " + " ".join(f"{k}={v}" for k, v in choice.items())
        chosen = load_named_dataset(spec["dataset"], encoding=choice["encoding"], thresholds=choice["thresholds"])
        X_val = chosen.X_pool[held_out]  # the same rows in the chosen encoding
    elif spec["method"] == "gd":
        record = train_gd_on_dataset(data, n, seed, hidden=hidden, P=P, target_accuracy=target, time_limit=limit,
                                     P_first=P_first)
    else:
        kwargs = mip_kwargs(spec)
        if spec["target"] == "start":  # the warm start's own training accuracy is the target (and the floor)
            kwargs["warm_start"], target = gd_start(spec, data, X, y, P_first)
        record = train_on_dataset(data, n, seed, hidden=hidden, P=P, objective=spec["objective"], time_limit=limit,
                                  threads=1, target_accuracy=target, P_first=P_first, **kwargs)
        row["exact"] = record.result.exactness.ok
        row.update(stage_report(record.result, target))
    sparsity = record.network.sparsity()
    return {**row, "status": record.status, "train_acc": record.train_accuracy, "test_acc": record.test_accuracy,
            "val_acc": record.network.accuracy(X_val, y_val), "runtime_s": time.perf_counter() - t0, **{k: sparsity[k] for k in (
                "nonzero_weights", "total_weights", "fraction_zero", "active_neurons", "hidden_neurons")}}


def mip_kwargs(spec: dict) -> dict:
    """train_on_dataset's recipe, solver(s), warm start and formulation for a MIP row: recipe
    "polish+gd" = recipe polish with the GD network as MIP start; stage_solvers "highs+cpsat+cpsat"
    = one solver per stage (the first is also the run's solver); margin m of sat-margin/min-hinge."""
    recipe, _, warm = spec["recipe"].partition("+")
    kwargs = {"warm_start": warm or None}
    solvers = [] if spec.get("stage_solvers", "-") in ("-", "") else spec["stage_solvers"].split("+")
    if recipe != "paper" or solvers:
        plan = get_recipe(recipe)
        kwargs["recipe"] = plan.with_solvers(*solvers) if solvers else plan.name
    if solvers:
        kwargs["solver"] = solvers[0]
    if float(spec.get("margin", 0.5)) != 0.5:
        kwargs["formulation"] = FormulationOptions(margin=float(spec["margin"]))
    return kwargs


def producer(solve, target: float | None) -> str:
    """Who produced the network a one-MIP run returned, from its timeline: the first entry that met
    the accuracy target, else the first entry with the returned objective and accuracy; its source
    is "solver", "start" (the warm start), "construction" or "local-search" (the heuristic)."""
    entries = [i for i in solve.incumbents if i.source not in ("target", "final")]
    if target is not None and solve.target_reached:
        hits = [i for i in entries if i.train_accuracy >= target - 1e-12]
    else:
        hits = [i for i in entries if i.objective == solve.objective and i.train_accuracy == solve.train_accuracy]
    return hits[0].source if hits else solve.source


def gd_start(spec: dict, data, X, y, P_first) -> tuple:
    """(GD network, its training accuracy) for target "start": GD trained as train_network's
    ``warm_start="gd"`` trains it (same seed, margin and limit min(30 s, the run's))."""
    from mipnn_pyomo.gd import train_gd

    if not spec["recipe"].endswith("+gd"):
        raise ValueError("target 'start' needs a GD start (recipe NAME+gd)")
    limit = min(30.0, float(spec["time_limit"]))
    extra = {} if P_first is None else {"P_first": P_first}
    gd = train_gd(X, y, data.n_classes, hidden=(int(spec["hidden"]),), P=int(spec["P"]), seed=int(spec["seed"]),
                  target_accuracy=None, time_limit=limit, margin=float(spec.get("margin", 0.5)), **extra)
    return gd.network, gd.network.accuracy(X, y)


def stage_report(result, target: float | None = None) -> dict:
    """Who produced the final network (stage, objective, solver or heuristic), and per stage its
    solver, status, value and source (JSON)."""
    if result.recipe is None:
        return {"final_source": f"stage 1 ({result.objective}, {result.solve.solver}): "
                                f"{producer(result.solve, target)}"}
    keep = ("stage", "objective", "solver", "status", "start_value", "value", "time_s", "source", "local_search")
    stages = [{k: s.get(k) for k in keep if k in s} for s in result.recipe["stages"]]
    last = result.recipe.get("final_source") or ""
    return {"final_source": last, "stages": json.dumps(stages, default=str)}


def grid(args) -> list[dict]:
    """Every run the options name (MIP: encodings x recipes x objectives; GD and LR once per
    encoding), in a stable order, this shard's share only."""
    specs = []
    for dataset, n, seed, enc, p_first in itertools.product(args.datasets, args.n, args.seeds, args.encodings,
                                                            args.p_first):
        thresholds = args.thresholds if enc == "thermometer" else 0
        base = dict(dataset=dataset, n=n, hidden=args.hidden, P=args.P, encoding=enc, thresholds=thresholds,
                    seed=seed, target=args.target, margin=args.margin, stage_solvers=args.stage_solvers,
                    p_first=p_first)
        for method in args.methods:
            if method.startswith("select-"):  # the grid spec stands in the recipe column
                specs.append({**base, "method": method, "recipe": args.select_grid, "objective": args.objectives[0],
                              "time_limit": args.time_limit})
            elif method == "mip":
                for recipe, objective in itertools.product(args.recipes, args.objectives):
                    specs.append({**base, "method": "mip", "recipe": recipe, "objective": objective,
                                  "time_limit": args.time_limit})
            else:
                specs.append({**base, "method": method, "recipe": "-", "objective": "-",
                              "time_limit": args.gd_time_limit if method == "gd" else 0,
                              "target": "none", "margin": 0.5, "stage_solvers": "-"})
    specs = [{k: str(v) for k, v in s.items()} for s in specs]
    index, count = args.shard
    return [s for k, s in enumerate(specs) if k % count == index]


def run_grid(args) -> None:
    done = set() if args.force else done_keys(args.csv)
    for spec in grid(args):
        key = tuple(spec[k] for k in KEY)
        if key in done:
            continue
        try:
            out = run_one(spec)
        except (MipnnError, RuntimeError, ValueError) as exc:
            traceback.print_exc()
            out = {"status": "error", "note": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        append_row(args.csv, {**spec, **out})
        done.add(key)
        print(" ".join(f"{k}={spec[k]}" for k in KEY), "->", out.get("status"), out.get("test_acc"), flush=True)


def summary(path: Path) -> str:
    """Markdown: mean test/train accuracy, sparsity and time per (dataset, n, method, encoding, recipe,
    objective, time limit, target), over the seeds present."""
    rows = latest_rows(path)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        p = r["P"] if r["p_first"] == "-" else f"{r['P']}, first {r['p_first']}"
        key = (r["dataset"], r["n"], r["hidden"], p, r["method"], r["encoding"], r["thresholds"], r["recipe"],
               r["objective"], r["margin"], r["stage_solvers"], r["time_limit"], r["target"])
        groups.setdefault(key, []).append(r)
    lines = ["| data | n | h | P | method | encoding | k | recipe | objective | m | stage solvers | limit s | target "
             "| seeds | val % | test % | train % | zero w % | active | time s |", "|" + "---|" * 20]
    for key in sorted(groups):
        g = groups[key]

        def mean(field, scale=1.0):
            vals = [float(r[field]) * scale for r in g if r.get(field) not in ("", None)]
            return f"{np.mean(vals):.1f}" if vals else "-"
        seeds = ",".join(sorted({r["seed"] for r in g}, key=int))
        lines.append("| " + " | ".join(list(key) + [seeds, mean("val_acc", 100), mean("test_acc", 100), mean("train_acc", 100),
                                                       mean("fraction_zero", 100), mean("active_neurons"),
                                                       mean("runtime_s")]) + " |")
    return "\n".join(lines)


def sources(path: Path) -> str:
    """Markdown: per group (as in :func:`summary`), who produced the final networks (stage, objective,
    solver or heuristic) and how many of the group's runs each; rows written before the column: "-"."""
    groups: dict[tuple, list[str]] = {}
    for r in latest_rows(path):
        if r["method"] != "mip":
            continue
        key = (r["dataset"], r["n"], r["hidden"], r["P"], r["encoding"], r["recipe"], r["objective"], r["margin"],
               r["stage_solvers"], r["time_limit"], r["target"])
        groups.setdefault(key, []).append(r["final_source"] or "-")
    lines = ["| data | n | h | P | encoding | recipe | objective | m | stage solvers | limit s | target | final network "
             "produced by (runs) |", "|" + "---|" * 12]
    for key in sorted(groups):
        counts = {src: groups[key].count(src) for src in dict.fromkeys(groups[key])}
        lines.append("| " + " | ".join(list(key) + ["; ".join(f"{s} ({c})" for s, c in counts.items())]) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    split = lambda t: [x for x in t.split(",") if x]  # noqa: E731
    p.add_argument("--datasets", type=split, default=["iris", "wine", "breast_cancer"])
    p.add_argument("--n", type=lambda t: [int(x) for x in split(t)], default=[80])
    p.add_argument("--seeds", type=lambda t: [int(x) for x in split(t)], default=[0, 1])
    p.add_argument("--hidden", type=int, default=4)
    p.add_argument("--P", type=int, default=1)
    p.add_argument("--p-first", type=split, default=["-"], help="P_first values of the first layer ('-': P everywhere)")
    p.add_argument("--csv", type=Path, default=CSV_PATH, help="the results CSV (default: runs.csv)")
    p.add_argument("--encodings", type=split, default=["minmax", "thermometer"])
    p.add_argument("--thresholds", type=int, default=4)
    p.add_argument("--recipes", type=split, default=["paper"])
    p.add_argument("--objectives", type=split, default=["sat-margin"])
    p.add_argument("--methods", type=split, default=["mip", "gd", "lr"])
    p.add_argument("--time-limit", type=float, default=30.0)
    p.add_argument("--gd-time-limit", type=float, default=20.0)
    p.add_argument("--target", default="0.9", help="training accuracy target of the MIP runs, 'none', or 'start' "
                   "(with recipe NAME+gd: the GD start's own training accuracy, so later stages hold it)")
    p.add_argument("--margin", type=float, default=0.5, help="margin m of sat-margin / min-hinge (MIP runs)")
    p.add_argument("--stage-solvers", default="-", help="one solver per recipe stage joined by '+', e.g. "
                   "highs+cpsat+cpsat ('-': HiGHS for every stage)")
    p.add_argument("--select-grid", default="encoding=minmax,thermometer;recipe=paper,polish",
                   help="grid of the select-cv / select-holdout methods (selection.parse_grid)")
    p.add_argument("--shard", type=lambda t: tuple(int(x) for x in t.split("/")), default=(0, 1))
    p.add_argument("--force", action="store_true", help="rerun rows already in the CSV (the new row supersedes "
                   "the old one in --summary; both stay in the file)")
    p.add_argument("--sources", action="store_true", help="print who produced the final networks, per group, and exit")
    p.add_argument("--summary", action="store_true", help="print the markdown summary of the CSV and exit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summary:
        print(summary(args.csv))
        return 0
    if args.sources:
        print(sources(args.csv))
        return 0
    run_grid(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
