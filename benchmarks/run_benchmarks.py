"""Speed benchmarks of mipnn-pyomo on UCI Adult (issue 6). Run by hand: ``make benchmark``.

One command runs every section and writes ``docs/benchmarks.md`` (tables, ratios, a target-by-
target summary and the machine it ran on) plus the time-to-target plot. Each run's row is
appended to a CSV under ``benchmarks/results/`` as soon as it ends, so a crash loses nothing and a
rerun resumes (``--fresh`` moves earlier results aside first). Every accuracy is the numpy forward
pass's; every MIP run goes through the exactness check (a failure is recorded as status
``exactness_error``, never hidden).

Runs go to a pool of ``--jobs`` worker processes (default 2, one per core, HiGHS with 1 thread each).
Sections (``--only`` / ``--skip``):
  build     instance build (incl. big-M rewrite), .lp and .mps writing at N = 280 (alone, before the pool)
  grid      time to 90% training accuracy: objectives x P {1,3} x N {100,200,280} x seeds, default solve
            (tight formulation + local-search heuristic) against the paper's formulation as written
            (heuristic off). A paper run is capped at max(--paper-min-limit, 11 x the default's time on
            the same instance), at most --paper-time-limit: enough to decide "at least 10x" per seed.
            --variants adds tight-noheur (tight formulation, heuristic off) as an ablation.
  allp      every objective and P in {1,3,7,15} at N = 280, default solve (P 1, 3 shared with grid)
  accuracy  test accuracy at N = 280 over 5 seeds (sat-margin, min-hinge) and GD's time to 90%
  warm      N = 280, --warm-budget s, no target: cold against the GD warm start
  curve     time to target against N = 40..400 (default solve, sat-margin, P = 1)
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mipnn_pyomo import __version__  # noqa: E402
from mipnn_pyomo.compare import time_to_target  # noqa: E402
from mipnn_pyomo.data import load_adult  # noqa: E402
from mipnn_pyomo.errors import MipnnError, NoSolutionError  # noqa: E402
from mipnn_pyomo.export import export_instance  # noqa: E402
from mipnn_pyomo.formulation import FormulationOptions, ProblemData  # noqa: E402
from mipnn_pyomo.gd import train_gd  # noqa: E402
from mipnn_pyomo.instance import build_instance  # noqa: E402
from mipnn_pyomo.solvers.highs import HighsAdapter  # noqa: E402
from mipnn_pyomo.training import train_network  # noqa: E402

OBJECTIVES = ["max-correct", "min-hinge", "sat-margin"]
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {
    "default": dict(formulation=FormulationOptions(), heuristic=True),
    "tight-noheur": dict(formulation=FormulationOptions(), heuristic=False),
    "paper": dict(formulation=FormulationOptions(variant="paper"), heuristic=False),
}
MIP_FIELDS = ["variant", "objective", "P", "n", "seed", "time_limit", "status", "ttt_s", "wall_s", "build_s",
              "objective_value", "bound", "gap", "train_acc", "test_acc", "exact"]
MIP_KEY = ["variant", "objective", "P", "n", "seed"]
WARM_FIELDS = ["objective", "start", "seed", "budget_s", "gd_objective", "objective_value", "bound", "gap",
               "train_acc", "test_acc", "improved_on_gd", "warm_accepted", "status"]
GD_FIELDS = ["seed", "n", "train_acc", "test_acc", "ttt_s", "runtime_s"]
BUILD_FIELDS = ["objective", "rep", "n", "build_s", "variables", "constraints", "lp_s", "mps_s"]


class CsvLog:
    """Append rows to a CSV as they come; on rerun, rows already there are skipped by key."""

    def __init__(self, name: str, fields: list[str], key: list[str]):
        self.path = RESULTS / f"{name}.csv"
        self.fields, self.key = fields, key
        self.done = {}
        if self.path.exists():
            with self.path.open() as f:
                for row in csv.DictReader(f):
                    self.done[tuple(row[k] for k in key)] = row

    def has(self, **kv) -> bool:
        return tuple(str(kv[k]) for k in self.key) in self.done

    def get(self, **kv) -> dict | None:
        return self.done.get(tuple(str(kv[k]) for k in self.key))

    def add(self, row: dict) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k) for k in self.fields})
        self.done[tuple(str(row[k]) for k in self.key)] = {k: str(row.get(k)) for k in self.fields}
        print(f"  [{time.strftime('%H:%M:%S')}] {self.path.stem}:", {k: row.get(k) for k in self.fields}, flush=True)

    def rows(self) -> list[dict]:
        return list(self.done.values())


def _r(x, nd=2):
    return None if x is None else round(float(x), nd)


def _f(x):
    return None if x in (None, "", "None") else float(x)


# ----------------------------------------------------------------------------- runs (in workers)

_ADULT = None


def _adult():
    global _ADULT
    if _ADULT is None:
        _ADULT = load_adult()
    return _ADULT


def _train(n, seed, objective, P, variant, time_limit, threads, target=0.9, warm=None):
    adult = _adult()
    X, y, _ = adult.sample(n, seed)
    return train_network(X, y, hidden=(16,), P=P, objective=objective, time_limit=time_limit, seed=seed,
                         threads=threads, target_accuracy=target, warm_start=warm, **VARIANTS[variant])


def run_mip_task(variant, objective, P, n, seed, time_limit, threads) -> dict:
    """One time-to-target run; the row for mip.csv."""
    adult = _adult()
    row = {"variant": variant, "objective": objective, "P": P, "n": n, "seed": seed, "time_limit": time_limit}
    t0 = time.perf_counter()
    try:
        r = _train(n, seed, objective, P, variant, time_limit, threads)
    except NoSolutionError:
        return {**row, "status": "no_solution", "wall_s": _r(time.perf_counter() - t0)}
    except MipnnError as exc:
        return {**row, "status": f"{type(exc).__name__}: {exc}"[:200], "wall_s": _r(time.perf_counter() - t0),
                "exact": "ExactnessError" not in type(exc).__name__}
    return {**row, "status": r.status, "ttt_s": _r(time_to_target(r.solve.incumbents, 0.9)), "wall_s": _r(time.perf_counter() - t0),
            "build_s": _r(r.build_s), "objective_value": _r(r.solve.objective), "bound": _r(r.solve.bound),
            "gap": _r(r.solve.gap, 4), "train_acc": _r(r.train_accuracy, 4),
            "test_acc": _r(r.network.accuracy(adult.X_test, adult.y_test), 4), "exact": r.exactness.ok}


def run_warm_task(objective, seed, start, budget, threads) -> dict:
    """N = 280, P = 1, no target, fixed budget; cold or from the GD network of the same seed."""
    adult = _adult()
    X, y, _ = adult.sample(280, seed)
    g = train_gd(X, y, 2, hidden=(16,), P=1, seed=seed, target_accuracy=None, time_limit=30)
    row = {"objective": objective, "start": start, "seed": seed, "budget_s": budget}
    try:
        r = _train(280, seed, objective, 1, "default", budget, threads, target=None,
                   warm=g.network if start == "gd" else None)
    except MipnnError as exc:
        return {**row, "status": f"{type(exc).__name__}: {exc}"[:200]}
    gd_obj = r.instance.evaluate(g.network)
    obj = r.solve.objective
    better = None if obj is None else (obj < gd_obj - 1e-9 if objective == "min-hinge" else obj > gd_obj + 1e-9)
    return {**row, "status": r.status, "gd_objective": _r(gd_obj), "objective_value": _r(obj),
            "bound": _r(r.solve.bound), "gap": _r(r.solve.gap, 4), "train_acc": _r(r.train_accuracy, 4),
            "test_acc": _r(r.network.accuracy(adult.X_test, adult.y_test), 4), "improved_on_gd": better,
            "warm_accepted": r.solve.warm_start_accepted}


def run_gd_task(seed) -> dict:
    adult = _adult()
    X, y, _ = adult.sample(280, seed)
    g = train_gd(X, y, 2, hidden=(16,), P=1, seed=seed, target_accuracy=0.9, time_limit=60)
    return {"seed": seed, "n": 280, "train_acc": _r(g.train_accuracy, 4),
            "test_acc": _r(g.network.accuracy(adult.X_test, adult.y_test), 4),
            "ttt_s": _r(g.runtime_s, 4) if g.train_accuracy >= 0.9 else None, "runtime_s": _r(g.runtime_s, 4)}


def _call(fn, kwargs):
    try:
        return fn(**kwargs)
    except Exception as exc:  # a benchmark run must never take the pool down: record it
        return {**kwargs, "status": f"crashed: {type(exc).__name__}: {exc}"[:200]}


# ----------------------------------------------------------------------------- scheduling


def section_build(args, logs):
    log = logs["build"]
    adult = _adult()
    X, y, _ = adult.sample(280, 0)
    out = Path(tempfile.mkdtemp(prefix="mipnn-bench-"))
    for objective in OBJECTIVES:
        for rep in range(3):
            if log.has(objective=objective, rep=rep):
                continue
            inst = build_instance(ProblemData(X, y, 2, (16,), 1), objective)
            t = time.perf_counter()
            export_instance(inst, out / "x.lp")
            lp_s = time.perf_counter() - t
            t = time.perf_counter()
            export_instance(inst, out / "x.mps")
            mps_s = time.perf_counter() - t
            log.add({"objective": objective, "rep": rep, "n": 280, "build_s": round(inst.build_s, 3),
                     "variables": inst.sizes["variables"], "constraints": inst.sizes["constraints"],
                     "lp_s": round(lp_s, 3), "mps_s": round(mps_s, 3)})
    shutil.rmtree(out, ignore_errors=True)


def default_cells(sections, seeds) -> list[tuple]:
    """(objective, P, n, seed) of every default-solve run the sections need (shared between them)."""
    cells = []
    if "grid" in sections:
        cells += [(o, P, n, s) for n in (100, 200, 280) for P in (1, 3) for o in OBJECTIVES for s in range(seeds)]
    if "allp" in sections:
        cells += [(o, P, 280, s) for P in (1, 3, 7, 15) for o in OBJECTIVES for s in range(seeds)]
    if "accuracy" in sections:
        cells += [(o, 1, 280, s) for s in range(5) for o in ("sat-margin", "min-hinge")]
    if "curve" in sections:
        cells += [("sat-margin", 1, n, s) for n in range(40, 401, 40) for s in range(seeds)]
    return list(dict.fromkeys(cells))


def paper_limit(args, default_row) -> float:
    """Cap of a comparison run: long enough to tell whether it is >= 10x slower than the default."""
    ttt = _f(default_row.get("ttt_s")) if default_row else None
    if ttt is None:
        return args.paper_time_limit
    return float(min(args.paper_time_limit, max(args.paper_min_limit, math.ceil(11 * ttt))))


def run_all(args, sections, logs) -> None:
    mip, warm, gd = logs["mip"], logs["warm"], logs["gd"]
    threads = args.threads
    pool = cf.ProcessPoolExecutor(max_workers=args.jobs)
    pending: dict[cf.Future, str] = {}

    def submit(kind, fn, **kwargs):
        pending[pool.submit(_call, fn, kwargs)] = kind

    def drain(kinds=None) -> None:
        """Log finished runs; return once no pending run of ``kinds`` (all if None) is left."""
        while any(kinds is None or k in kinds for k in pending.values()):
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                kind = pending.pop(fut)
                {"mip": mip, "warm": warm, "gd": gd}[kind].add(fut.result())

    try:
        for objective, P, n, seed in default_cells(sections, args.seeds):
            if not mip.has(variant="default", objective=objective, P=P, n=n, seed=seed):
                submit("mip", run_mip_task, variant="default", objective=objective, P=P, n=n, seed=seed,
                       time_limit=args.time_limit, threads=threads)
        if "accuracy" in sections:
            for seed in range(5):
                if not gd.has(seed=seed):
                    submit("gd", run_gd_task, seed=seed)
        if "warm" in sections:
            for objective in ("sat-margin", "min-hinge"):
                for seed in range(args.seeds):
                    for start in ("cold", "gd"):
                        if not warm.has(objective=objective, start=start, seed=seed):
                            submit("warm", run_warm_task, objective=objective, seed=seed, start=start,
                                   budget=args.warm_budget, threads=threads)
        if "grid" in sections:
            drain({"mip"})  # the comparison caps need the default's times
            for variant in [v for v in args.variants if v != "default"]:
                for n in (100, 200, 280):
                    for P in (1, 3):
                        for objective in OBJECTIVES:
                            for seed in range(args.seeds):
                                if mip.has(variant=variant, objective=objective, P=P, n=n, seed=seed):
                                    continue
                                ref = mip.get(variant="default", objective=objective, P=P, n=n, seed=seed)
                                submit("mip", run_mip_task, variant=variant, objective=objective, P=P, n=n,
                                       seed=seed, time_limit=paper_limit(args, ref), threads=threads)
        drain()
    except KeyboardInterrupt:
        print("interrupted: finished runs are saved; rerun to resume", flush=True)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


# ----------------------------------------------------------------------------- report


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _fmt(x, nd=2, unit=""):
    return "-" if x is None else f"{x:.{nd}f}{unit}"


def _ttt_or_limit(row):
    """Time to target; a run that missed counts as its time limit (a lower bound)."""
    t = _f(row.get("ttt_s"))
    return (t, False) if t is not None else (_f(row.get("time_limit")) or 0.0, True)


def _cell(rows):
    """(median time, misses, n) with misses counted at their limit."""
    times = [_ttt_or_limit(r) for r in rows]
    return _median(t for t, _ in times), sum(m for _, m in times), len(rows)


def write_report(args, logs, started=None, finished=None) -> None:
    mip = logs["mip"].rows()
    build, warm, gd = logs["build"].rows(), logs["warm"].rows(), logs["gd"].rows()
    targets: list[tuple[str, str, str]] = []  # (target, measured, met)

    def rows_of(variant, objective=None, P=None, n=None, seeds=args.seeds):
        """Rows of one cell, seeds 0..seeds-1 (the accuracy section adds seeds 3, 4 to some cells)."""
        return [r for r in mip if r["variant"] == variant and (objective is None or r["objective"] == objective)
                and (P is None or r["P"] == str(P)) and (n is None or r["n"] == str(n)) and int(r["seed"]) < seeds]

    run_file = RESULTS / "run.json"
    if started:  # remember how the measurements were made, for later --report-only rewrites
        run_file.write_text(json.dumps({"command": " ".join(["python benchmarks/run_benchmarks.py"] + sys.argv[1:]),
                                        "started": started, "finished": finished, "version": __version__}))
    run = json.loads(run_file.read_text()) if run_file.exists() else None
    produced = (f"Measured by `{run['command']}` (mipnn-pyomo {run['version']}; run {run['started']} to "
                f"{run['finished']} UTC)" if run else "Measured by `python benchmarks/run_benchmarks.py`")
    if not started:
        produced += "; this page rewritten from its CSVs by `--report-only`"
    lines = [
        "# Benchmarks",
        "",
        produced + ".",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"HiGHS {HighsAdapter.version()}; {args.jobs} runs at a time, HiGHS with {args.threads} thread(s) each. {args.note}",
        "",
        "Every MIP run went through the exactness check (the MIP's activations, scores and objective equal",
        "the numpy forward pass's; the `exact` column of the CSVs). `ttt` = time from the start of the solve",
        "(heuristic included, model build excluded) to the first incumbent whose training accuracy by",
        "forward pass is at least 90%; medians over seeds. `default` = tight formulation + local-search",
        "heuristic; `paper` = the paper's formulation as written (generic big-M, no strengthening),",
        "heuristic off. No run used a warm start unless it says so. Raw rows: `benchmarks/results/*.csv`.",
        "",
    ]
    body: list[str] = []
    inexact = [r for r in mip if r.get("exact") == "False" or "Exactness" in r.get("status", "")]
    crashed = [r for r in mip + warm if r.get("status", "").startswith("crashed")]
    if build:
        body += ["## Build and write at N = 280 (hidden 16, P = 1; median of 3)", "",
                 "| objective | variables | constraints | build (s) | .lp (s) | .mps (s) |", "|---|---|---|---|---|---|"]
        worst_build = worst_mps = 0.0
        for obj in OBJECTIVES:
            rows = [r for r in build if r["objective"] == obj]
            if rows:
                b, lp, mps = (_median(_f(r[k]) for r in rows) for k in ("build_s", "lp_s", "mps_s"))
                worst_build, worst_mps = max(worst_build, b), max(worst_mps, mps)
                body.append(f"| {obj} | {rows[0]['variables']} | {rows[0]['constraints']} | {_fmt(b)} | {_fmt(lp)} | {_fmt(mps)} |")
        body.append("")
        targets.append(("build at N = 280 ≤ 3 s", f"{worst_build:.2f} s (slowest objective, median)", _yes(worst_build <= 3)))
        targets.append((".mps at N = 280 ≤ 2 s", f"{worst_mps:.2f} s (slowest objective, median)", _yes(worst_mps <= 2)))
    comparison = [v for v in VARIANTS if v != "default" and rows_of(v)]
    if rows_of("default", n=100) and comparison:
        body += ["## Time to 90% training accuracy: default against the paper's formulation (HiGHS)", "",
                 f"Default runs have a {args.time_limit:g} s limit. A comparison run is capped at max({args.paper_min_limit:g} s, "
                 f"11 × the default's time on the same instance), at most {args.paper_time_limit:g} s: a miss (counted at its cap, "
                 "ratio marked ≥) still shows whether it is at least 10× slower.", "",
                 "| objective | P | N | default ttt (s) | " + " | ".join(f"{v} ttt (s)" for v in comparison)
                 + " | paper / default | default test acc |",
                 "|---|---|---|---|" + "---|" * len(comparison) + "---|---|"]
        ratios = []
        for obj in OBJECTIVES:
            for P in (1, 3):
                for n in (100, 200, 280):
                    d = _cell(rows_of("default", obj, P, n))
                    if not d[2]:
                        continue
                    cells, paper = [], None
                    for v in comparison:
                        c = _cell(rows_of(v, obj, P, n))
                        cells.append(_fmt(c[0]) + (f" ({c[1]}/{c[2]} capped)" if c[1] else "") if c[2] else "-")
                        if v == "paper" and c[2]:
                            paper = c
                    ratio = "-"
                    if paper and d[0]:
                        r = paper[0] / max(d[0], 1e-3)
                        ratios.append((r, bool(paper[1]), obj, P, n))
                        ratio = ("≥ " if paper[1] else "") + f"{r:.0f}×"
                    test = _median(_f(r["test_acc"]) for r in rows_of("default", obj, P, n))
                    body.append(f"| {obj} | {P} | {n} | {_fmt(d[0])}" + (f" ({d[1]}/{d[2]} missed)" if d[1] else "")
                                + " | " + " | ".join(cells) + f" | {ratio} | {_fmt(test and 100 * test, 1, '%')} |")
        body.append("")
        if ratios:
            low = [r for r in ratios if r[0] < 10]
            worst = min(ratios)
            targets.append(("≥ 10× faster to 90% than the paper's formulation (every grid cell, medians)",
                            f"{len(ratios) - len(low)}/{len(ratios)} cells ≥ 10×; lowest {'≥ ' if worst[1] else ''}{worst[0]:.1f}× "
                            f"({worst[2]}, P = {worst[3]}, N = {worst[4]})", _yes(not low)))
    allp = [r for r in rows_of("default", n=280)]
    if any(r["P"] in ("7", "15") for r in allp):
        body += [f"## Every objective and P at N = 280 (default solve, {args.time_limit:g} s limit)", "",
                 "| objective | P | median ttt (s) | max ttt (s) | reached 90% | median train acc | median test acc |",
                 "|---|---|---|---|---|---|---|"]
        misses = []
        for obj in OBJECTIVES:
            for P in (1, 3, 7, 15):
                rows = rows_of("default", obj, P, 280)
                if rows:
                    t = [_f(r["ttt_s"]) for r in rows]
                    reached = sum(x is not None for x in t)
                    if reached < len(rows):
                        misses.append(f"{obj} P = {P} ({reached}/{len(rows)})")
                    body.append(f"| {obj} | {P} | {_fmt(_median(t))} | {_fmt(max([x for x in t if x is not None], default=None))} | "
                                f"{reached}/{len(rows)} | {_fmt(100 * (_median(_f(r['train_acc']) for r in rows) or 0), 1, '%')} | "
                                f"{_fmt(100 * (_median(_f(r['test_acc']) for r in rows) or 0), 1, '%')} |")
        body.append("")
        sm = _cell(rows_of("default", "sat-margin", 1, 280))
        targets.insert(0, ("sat-margin, P = 1, N = 280: 90% in ≤ 300 s, cold", f"median {_fmt(sm[0])} s ({sm[1]} of {sm[2]} missed)",
                           _yes(sm[0] is not None and sm[0] <= 300 and sm[1] * 2 < sm[2])))
        targets.insert(1, (f"every objective and P ∈ {{1, 3, 7, 15}} at N = 280 within {args.time_limit:g} s",
                           "all runs reached 90%" if not misses else "missed: " + ", ".join(misses), _yes(not misses)))
    acc_rows = {o: sorted(rows_of("default", o, 1, 280, seeds=5), key=lambda r: int(r["seed"])) for o in ("sat-margin", "min-hinge")}
    if all(len(v) == 5 for v in acc_rows.values()):
        body += ["## Test accuracy at N = 280 (P = 1, 5 seeds, stopped at 90% training accuracy) and GD", "",
                 "| method | mean train acc | mean test acc | test acc per seed (%) | median ttt (s) |", "|---|---|---|---|---|"]
        means = {}
        for method, rows in list(acc_rows.items()) + [("gd", sorted(gd, key=lambda r: int(r["seed"])))]:
            tests = [_f(r["test_acc"]) for r in rows]
            means[method] = statistics.mean(tests)
            body.append(f"| {method} | {_fmt(100 * statistics.mean(_f(r['train_acc']) for r in rows), 1, '%')} | "
                        f"{_fmt(100 * means[method], 2, '%')} | {', '.join(_fmt(100 * t, 1) for t in tests)} | "
                        f"{_fmt(_median(_f(r['ttt_s']) for r in rows), 3)} |")
        body.append("")
        targets.append(("test accuracy at N = 280 ≥ 81% (mean of 5 seeds)",
                        f"sat-margin {100 * means['sat-margin']:.2f}%, min-hinge {100 * means['min-hinge']:.2f}% (GD {100 * means.get('gd', 0):.2f}%)",
                        _yes(means["sat-margin"] >= 0.81 and means["min-hinge"] >= 0.81)))
        if gd:
            g = _median(_f(r["ttt_s"]) for r in gd)
            targets.append(("GD to 90% at N = 280 well under 1 s", f"median {_fmt(g, 3)} s", _yes(g is not None and g < 1)))
    if warm:
        body += [f"## Cold against GD warm start at N = 280 ({args.warm_budget:g} s budget, no target, P = 1)", "",
                 "| objective | seed | start | GD objective | MIP objective | bound | gap | train acc | test acc | improved on GD | start accepted |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(warm, key=lambda r: (r["objective"], int(r["seed"]), r["start"])):
            body.append(f"| {r['objective']} | {r['seed']} | {r['start']} | {r['gd_objective']} | {r['objective_value']} | "
                        f"{r['bound']} | {_fmt(_f(r['gap']) and 100 * _f(r['gap']), 1, '%')} | {r['train_acc']} | {r['test_acc']} | "
                        f"{r['improved_on_gd']} | {r['warm_accepted']} |")
        body.append("")
        improved = [r["improved_on_gd"] == "True" for r in warm if r["start"] == "gd"]
        closer = []
        for r in warm:
            if r["start"] == "gd":
                c = next((x for x in warm if x["start"] == "cold" and (x["objective"], x["seed"]) == (r["objective"], r["seed"])), None)
                # absolute gap |objective - bound|: min-hinge's bound often stays 0, where every
                # relative gap is 100%
                if c and None not in (_f(r["objective_value"]), _f(r["bound"]), _f(c["objective_value"]), _f(c["bound"])):
                    closer.append(abs(_f(r["objective_value"]) - _f(r["bound"]))
                                  < abs(_f(c["objective_value"]) - _f(c["bound"])) - 1e-9)
        targets.append(("warm-started MIP improves on the GD network's objective in every run",
                        f"{sum(improved)}/{len(improved)} runs", _yes(improved and all(improved))))
        targets.append(("warm start closes the gap (objective to bound, absolute) further than cold (every pair)",
                        f"{sum(closer)}/{len(closer)} pairs",
                        _yes(closer and all(closer))))
    curve = rows_of("default", "sat-margin", 1)
    ns = sorted({int(r["n"]) for r in curve if int(r["n"]) % 40 == 0})
    if len(ns) >= 5:
        med = [_cell([r for r in curve if int(r["n"]) == n])[0] for n in ns]
        _plot_curve(curve, ns, med, args)
        body += ["## Time to target against N (sat-margin, P = 1, default solve)", "",
                 "![time to target](benchmarks-time-to-target.png)", "",
                 "| N | " + " | ".join(str(n) for n in ns) + " |", "|---|" + "---|" * len(ns),
                 "| median ttt (s) | " + " | ".join(_fmt(m) for m in med) + " |", ""]
    if targets:
        lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t} | {m} | {ok} |" for t, m, ok in targets]
        lines += ["", f"Exactness failures: {len(inexact)}; crashed runs: {len(crashed)}.", ""]
    lines += body
    if args.notes_file and Path(args.notes_file).exists():
        lines += [Path(args.notes_file).read_text()]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


def _yes(ok) -> str:
    return "yes" if ok else "**no**"


def _plot_curve(curve, ns, med, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed in sorted({r["seed"] for r in curve}, key=int):
        pts = sorted((int(r["n"]), _f(r["ttt_s"])) for r in curve
                     if r["seed"] == seed and int(r["n"]) in ns and _f(r["ttt_s"]) is not None)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", alpha=0.5, label=f"seed {seed}")
    ax.plot(ns, [m if m is not None else np.nan for m in med], "k-", lw=2, label="median")
    ax.set_xlabel("training samples N")
    ax.set_ylabel("time to 90% train acc (s)")
    ax.set_title("sat-margin, P = 1, 16 hidden, HiGHS (default solve)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "benchmarks-time-to-target.png", dpi=110)


SECTIONS = ["build", "grid", "allp", "accuracy", "warm", "curve"]


def main() -> None:
    global RESULTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip", default="", help="comma-separated sections to skip")
    p.add_argument("--only", default="", help="comma-separated sections to run (default: all)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (default 2: one per core)")
    p.add_argument("--threads", type=int, default=1, help="HiGHS threads per run (default 1)")
    p.add_argument("--variants", default="default,paper", help="grid variants (add tight-noheur for the ablation)")
    p.add_argument("--time-limit", type=float, default=600.0, help="limit of every default solve (600)")
    p.add_argument("--paper-min-limit", type=float, default=60.0, help="smallest cap of a comparison run (60)")
    p.add_argument("--paper-time-limit", type=float, default=600.0, help="largest cap of a comparison run (600)")
    p.add_argument("--warm-budget", type=float, default=600.0, help="budget of the cold/warm runs (600)")
    p.add_argument("--results", default=str(RESULTS), help="directory of the CSVs (default benchmarks/results)")
    p.add_argument("--fresh", action="store_true", help="move earlier results aside and measure everything again")
    p.add_argument("--report-only", action="store_true", help="only rewrite docs/benchmarks.md from the CSVs")
    p.add_argument("--note", default="", help="a sentence about the run's conditions for the report")
    p.add_argument("--notes-file", default=str(ROOT / "benchmarks" / "NOTES.md"),
                   help="Markdown appended to the report (what helped, what did not)")
    args = p.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or args.jobs < 1 or args.threads < 1:
        p.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}" if unknown else "--jobs and --threads must be >= 1")
    RESULTS = Path(args.results)
    if args.fresh and RESULTS.exists() and any(RESULTS.glob("*.csv")):
        aside = RESULTS / "old" / time.strftime("%Y%m%d-%H%M%S")
        aside.mkdir(parents=True)
        for f in RESULTS.glob("*.csv"):
            f.rename(aside / f.name)
        print(f"earlier results moved to {aside}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    logs = {"mip": CsvLog("mip", MIP_FIELDS, MIP_KEY), "warm": CsvLog("warm", WARM_FIELDS, ["objective", "start", "seed"]),
            "gd": CsvLog("gd", GD_FIELDS, ["seed"]), "build": CsvLog("build", BUILD_FIELDS, ["objective", "rep"])}
    started = finished = None
    if not args.report_only:
        sections = [s for s in ([s for s in args.only.split(",") if s] or SECTIONS) if s not in args.skip.split(",")]
        bad = [s for s in sections if s not in SECTIONS]
        if bad:
            p.error(f"unknown section(s) {bad}; known: {', '.join(SECTIONS)}")
        started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
        if "build" in sections:
            print("== build (alone, before the pool)", flush=True)
            section_build(args, logs)
        print(f"== runs: {', '.join(s for s in sections if s != 'build')} ({args.jobs} at a time)", flush=True)
        run_all(args, sections, logs)
        finished = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    write_report(args, logs, started, finished)


if __name__ == "__main__":
    main()
