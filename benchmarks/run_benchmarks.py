"""Speed benchmarks of mipnn-pyomo on UCI Adult (issue 6). Run by hand: ``make benchmark``.

Writes one CSV per section under ``benchmarks/results/`` (as each run ends, so a crash loses
nothing) and ``docs/benchmarks.md`` with the tables, ratios and the machine it ran on, plus the
time-to-target plot ``docs/benchmarks-time-to-target.png``. Every accuracy is the numpy forward
pass's, and every MIP run passes the exactness check (train_network raises otherwise).

Sections (each can be skipped with --skip):
  build     instance build (incl. big-M rewrite), .lp and .mps writing at N = 280
  grid      time to 90% training accuracy: objectives x P {1,3} x N {100,200,280} x seeds, for the
            default solve (tight formulation + local-search heuristic), the tight formulation with
            the heuristic off, and the paper's formulation as written (heuristic off)
  allp      every objective and P in {1,3,7,15} at N = 280, default solve
  accuracy  test accuracy at N = 280 over 5 seeds (sat-margin, min-hinge) and GD's time to 90%
  warm      N = 280, fixed budget, no target: cold vs GD warm start (objective, bound, gap, accuracy)
  curve     time to target against N = 40..400 (default solve, sat-margin, P = 1)
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mipnn_pyomo import __version__  # noqa: E402
from mipnn_pyomo.data import load_adult  # noqa: E402
from mipnn_pyomo.errors import NoSolutionError  # noqa: E402
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

    def add(self, row: dict) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k) for k in self.fields})
        self.done[tuple(str(row[k]) for k in self.key)] = {k: str(row.get(k)) for k in self.fields}
        print("  ", {k: row.get(k) for k in self.fields}, flush=True)

    def rows(self) -> list[dict]:
        return list(self.done.values())


def time_to_target(result, target=0.9):
    hits = [inc.time_s for inc in result.solve.incumbents if inc.train_accuracy >= target - 1e-12]
    return hits[0] if hits else None


def run_mip(adult, n, seed, objective, P, variant, time_limit, target=0.9, warm=None):
    X, y, _ = adult.sample(n, seed)
    t0 = time.perf_counter()
    try:
        r = train_network(X, y, hidden=(16,), P=P, objective=objective, time_limit=time_limit, seed=seed,
                          target_accuracy=target, warm_start=warm, **VARIANTS[variant])
    except NoSolutionError as exc:
        return {"status": "no_solution", "error": str(exc), "wall_s": time.perf_counter() - t0}
    return {
        "status": r.status,
        "ttt_s": time_to_target(r) if target else None,
        "wall_s": time.perf_counter() - t0,
        "build_s": r.build_s,
        "solve_s": r.solve.wall_s,
        "objective": r.solve.objective,
        "bound": r.solve.bound,
        "gap": r.solve.gap,
        "train_acc": r.train_accuracy,
        "test_acc": r.network.accuracy(adult.X_test, adult.y_test),
        "exact": r.exactness.ok,
        "result": r,
    }


# ----------------------------------------------------------------------------- sections


def section_build(adult, args):
    log = CsvLog("build", ["objective", "rep", "n", "build_s", "variables", "constraints", "lp_s", "mps_s"],
                 ["objective", "rep"])
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


GRID_FIELDS = ["variant", "objective", "P", "n", "seed", "status", "ttt_s", "wall_s", "objective_value", "bound",
               "gap", "train_acc", "test_acc", "exact"]


def _grid_row(variant, objective, P, n, seed, res):
    return {"variant": variant, "objective": objective, "P": P, "n": n, "seed": seed, "status": res["status"],
            "ttt_s": _r(res.get("ttt_s")), "wall_s": _r(res["wall_s"]), "objective_value": _r(res.get("objective")),
            "bound": _r(res.get("bound")), "gap": _r(res.get("gap"), 4), "train_acc": _r(res.get("train_acc"), 4),
            "test_acc": _r(res.get("test_acc"), 4), "exact": res.get("exact")}


def section_grid(adult, args):
    for variant in args.variants:
        log = CsvLog(f"grid-{variant}", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"])
        limit = args.paper_time_limit if variant != "default" else args.time_limit
        for n in (100, 200, 280):
            for P in (1, 3):
                for objective in OBJECTIVES:
                    for seed in range(args.seeds):
                        if log.has(variant=variant, objective=objective, P=P, n=n, seed=seed):
                            continue
                        res = run_mip(adult, n, seed, objective, P, variant, limit)
                        log.add(_grid_row(variant, objective, P, n, seed, res))


def section_allp(adult, args):
    log = CsvLog("allp", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"])
    for P in (1, 3, 7, 15):
        for objective in OBJECTIVES:
            for seed in range(args.seeds):
                if log.has(variant="default", objective=objective, P=P, n=280, seed=seed):
                    continue
                res = run_mip(adult, 280, seed, objective, P, "default", 600)
                log.add(_grid_row("default", objective, P, 280, seed, res))


def section_accuracy(adult, args):
    log = CsvLog("accuracy", ["method", "seed", "train_acc", "test_acc", "ttt_s", "runtime_s"], ["method", "seed"])
    for seed in range(5):
        for objective in ("sat-margin", "min-hinge"):
            if not log.has(method=objective, seed=seed):
                res = run_mip(adult, 280, seed, objective, 1, "default", 600)
                log.add({"method": objective, "seed": seed, "train_acc": _r(res.get("train_acc"), 4),
                         "test_acc": _r(res.get("test_acc"), 4), "ttt_s": _r(res.get("ttt_s")),
                         "runtime_s": _r(res["wall_s"])})
        if not log.has(method="gd", seed=seed):
            X, y, _ = adult.sample(280, seed)
            g = train_gd(X, y, 2, hidden=(16,), P=1, seed=seed, target_accuracy=0.9, time_limit=60)
            log.add({"method": "gd", "seed": seed, "train_acc": _r(g.train_accuracy, 4),
                     "test_acc": _r(g.network.accuracy(adult.X_test, adult.y_test), 4),
                     "ttt_s": _r(g.runtime_s, 4) if g.train_accuracy >= 0.9 else None, "runtime_s": _r(g.runtime_s, 4)})


def section_warm(adult, args):
    log = CsvLog("warm", ["objective", "start", "seed", "budget_s", "gd_objective", "objective_value", "bound", "gap",
                          "train_acc", "test_acc", "improved_on_gd", "warm_accepted"], ["objective", "start", "seed"])
    for objective in ("sat-margin", "min-hinge"):
        for seed in range(args.seeds):
            X, y, _ = adult.sample(280, seed)
            g = train_gd(X, y, 2, hidden=(16,), P=1, seed=seed, target_accuracy=None, time_limit=30)
            for start in ("cold", "gd"):
                if log.has(objective=objective, start=start, seed=seed):
                    continue
                res = run_mip(adult, 280, seed, objective, 1, "default", args.warm_budget, target=None,
                              warm=g.network if start == "gd" else None)
                gd_obj = res["result"].instance.evaluate(g.network) if "result" in res else None
                better = None
                if gd_obj is not None and res.get("objective") is not None:
                    better = res["objective"] > gd_obj + 1e-9 if objective != "min-hinge" else res["objective"] < gd_obj - 1e-9
                log.add({"objective": objective, "start": start, "seed": seed, "budget_s": args.warm_budget,
                         "gd_objective": _r(gd_obj), "objective_value": _r(res.get("objective")),
                         "bound": _r(res.get("bound")), "gap": _r(res.get("gap"), 4),
                         "train_acc": _r(res.get("train_acc"), 4), "test_acc": _r(res.get("test_acc"), 4),
                         "improved_on_gd": better,
                         "warm_accepted": res["result"].solve.warm_start_accepted if "result" in res else None})


def section_curve(adult, args):
    log = CsvLog("curve", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"])
    for n in range(40, 401, 40):
        for seed in range(args.seeds):
            if log.has(variant="default", objective="sat-margin", P=1, n=n, seed=seed):
                continue
            res = run_mip(adult, n, seed, "sat-margin", 1, "default", args.time_limit)
            log.add(_grid_row("default", "sat-margin", 1, n, seed, res))


# ----------------------------------------------------------------------------- report


def _r(x, nd=2):
    return None if x is None else round(float(x), nd)


def _f(x):
    return None if x in (None, "", "None") else float(x)


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _fmt(x, nd=2, unit=""):
    return "-" if x is None else f"{x:.{nd}f}{unit}"


def write_report(args) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `python benchmarks/run_benchmarks.py {' '.join(sys.argv[1:])}` (mipnn-pyomo {__version__}).",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"HiGHS {HighsAdapter.version()}. {args.note}",
        "",
        "Every MIP run passed the exactness check (the MIP's activations, scores and objective equal the",
        "numpy forward pass's); `ttt` is the time from the start of the solve to the first incumbent whose",
        "training accuracy (forward pass) is at least 90%. Medians over seeds. `default` = tight",
        "formulation + local-search heuristic; `tight-noheur` = the same formulation, heuristic off;",
        "`paper` = the paper's formulation as written (generic big-M, no strengthening), heuristic off.",
        "",
    ]
    build = CsvLog("build", [], ["objective", "rep"]).rows()
    if build:
        lines += ["## Build and write at N = 280 (hidden 16, P = 1; median of 3)", "",
                  "| objective | variables | constraints | build (s) | .lp (s) | .mps (s) |", "|---|---|---|---|---|---|"]
        for obj in OBJECTIVES:
            rows = [r for r in build if r["objective"] == obj]
            if rows:
                lines.append(f"| {obj} | {rows[0]['variables']} | {rows[0]['constraints']} | "
                             f"{_fmt(_median(_f(r['build_s']) for r in rows))} | {_fmt(_median(_f(r['lp_s']) for r in rows))} | "
                             f"{_fmt(_median(_f(r['mps_s']) for r in rows))} |")
        lines += ["", "Targets: build ≤ 3 s, .mps ≤ 2 s.", ""]
    grid = [row for v in VARIANTS for row in CsvLog(f"grid-{v}", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"]).rows()]
    if grid:
        variants = [v for v in VARIANTS if any(r["variant"] == v for r in grid)]
        lines += ["## Time to 90% training accuracy (HiGHS)", "",
                  f"Time limit: default {args.time_limit:g} s, others {args.paper_time_limit:g} s; a run that never "
                  "reached 90% counts as its time limit (so ratios against it are lower bounds, marked ≥).", "",
                  "| objective | P | N | " + " | ".join(f"{v} ttt (s)" for v in variants)
                  + " | paper / default | default test acc |",
                  "|---|---|---|" + "---|" * len(variants) + "---|---|"]
        for obj in OBJECTIVES:
            for P in ("1", "3"):
                for n in ("100", "200", "280"):
                    cells, med = [], {}
                    for v in variants:
                        rows = [r for r in grid if (r["variant"], r["objective"], r["P"], r["n"]) == (v, obj, P, n)]
                        if not rows:
                            cells.append("-")
                            continue
                        limit = args.time_limit if v == "default" else args.paper_time_limit
                        times = [_f(r["ttt_s"]) if _f(r["ttt_s"]) is not None else limit for r in rows]
                        misses = sum(_f(r["ttt_s"]) is None for r in rows)
                        med[v] = (_median(times), misses)
                        cells.append(_fmt(med[v][0]) + (f" ({misses}/{len(rows)} missed)" if misses else ""))
                    ratio = "-"
                    if "paper" in med and "default" in med and med["default"][0]:
                        ratio = ("≥ " if med["paper"][1] else "") + f"{med['paper'][0] / max(med['default'][0], 1e-3):.0f}×"
                    test = _median(_f(r["test_acc"]) for r in grid if (r["variant"], r["objective"], r["P"], r["n"]) == ("default", obj, P, n))
                    lines.append(f"| {obj} | {P} | {n} | " + " | ".join(cells) + f" | {ratio} | {_fmt(test and 100 * test, 1, '%')} |")
        lines.append("")
    allp = CsvLog("allp", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"]).rows()
    if allp:
        lines += ["## Every objective and P at N = 280 (default, 600 s limit)", "",
                  "| objective | P | median ttt (s) | max ttt (s) | reached | median test acc |", "|---|---|---|---|---|---|"]
        for obj in OBJECTIVES:
            for P in ("1", "3", "7", "15"):
                rows = [r for r in allp if r["objective"] == obj and r["P"] == P]
                if rows:
                    t = [_f(r["ttt_s"]) for r in rows]
                    lines.append(f"| {obj} | {P} | {_fmt(_median(t))} | {_fmt(max([x for x in t if x is not None], default=None))} | "
                                 f"{sum(x is not None for x in t)}/{len(rows)} | {_fmt(100 * _median(_f(r['test_acc']) for r in rows), 1, '%')} |")
        lines.append("")
    acc = CsvLog("accuracy", [], ["method", "seed"]).rows()
    if acc:
        lines += ["## Test accuracy at N = 280 (P = 1, 5 seeds) and GD's time to 90%", "",
                  "| method | mean train acc | mean test acc | test acc per seed | median ttt (s) |", "|---|---|---|---|---|"]
        for method in ("sat-margin", "min-hinge", "gd"):
            rows = sorted([r for r in acc if r["method"] == method], key=lambda r: int(r["seed"]))
            if rows:
                tests = [_f(r["test_acc"]) for r in rows]
                lines.append(f"| {method} | {_fmt(100 * statistics.mean(_f(r['train_acc']) for r in rows), 1, '%')} | "
                             f"{_fmt(100 * statistics.mean(tests), 2, '%')} | {', '.join(_fmt(100 * t, 1) for t in tests)} | "
                             f"{_fmt(_median(_f(r['ttt_s']) for r in rows), 3)} |")
        lines += ["", "Target: sat-margin and min-hinge average ≥ 81% test accuracy; GD to 90% well under a second.", ""]
    warm = CsvLog("warm", [], ["objective", "start", "seed"]).rows()
    if warm:
        lines += [f"## Cold against GD warm start at N = 280 ({args.warm_budget:g} s budget, no target, P = 1)", "",
                  "| objective | seed | start | GD objective | MIP objective | bound | gap | train acc | test acc | improved on GD | start accepted |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(warm, key=lambda r: (r["objective"], int(r["seed"]), r["start"])):
            lines.append(f"| {r['objective']} | {r['seed']} | {r['start']} | {r['gd_objective']} | {r['objective_value']} | "
                         f"{r['bound']} | {_fmt(_f(r['gap']) and 100 * _f(r['gap']), 1, '%')} | {r['train_acc']} | {r['test_acc']} | "
                         f"{r['improved_on_gd']} | {r['warm_accepted']} |")
        lines.append("")
    curve = CsvLog("curve", GRID_FIELDS, ["variant", "objective", "P", "n", "seed"]).rows()
    if curve:
        ns = sorted({int(r["n"]) for r in curve})
        med = [_median(_f(r["ttt_s"]) for r in curve if int(r["n"]) == n) for n in ns]
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 3.5))
            for seed in sorted({r["seed"] for r in curve}):
                pts = sorted((int(r["n"]), _f(r["ttt_s"])) for r in curve if r["seed"] == seed and _f(r["ttt_s"]) is not None)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", alpha=0.5, label=f"seed {seed}")
            ax.plot(ns, [m if m is not None else np.nan for m in med], "k-", lw=2, label="median")
            ax.set_xlabel("training samples N")
            ax.set_ylabel("time to 90% train acc (s)")
            ax.set_title("sat-margin, P = 1, 16 hidden, HiGHS (default solve)")
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(ROOT / "docs" / "benchmarks-time-to-target.png", dpi=110)
        except ImportError:  # pragma: no cover
            pass
        lines += ["## Time to target against N (sat-margin, P = 1, default)", "",
                  "![time to target](benchmarks-time-to-target.png)", "",
                  "| N | " + " | ".join(str(n) for n in ns) + " |", "|---|" + "---|" * len(ns),
                  "| median ttt (s) | " + " | ".join(_fmt(m) for m in med) + " |", ""]
    if args.notes_file and Path(args.notes_file).exists():
        lines += [Path(args.notes_file).read_text()]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


SECTIONS = {"build": section_build, "grid": section_grid, "allp": section_allp, "accuracy": section_accuracy,
            "warm": section_warm, "curve": section_curve}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip", default="", help="comma-separated sections to skip")
    p.add_argument("--only", default="", help="comma-separated sections to run (default: all)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default="default,tight-noheur,paper")
    p.add_argument("--time-limit", type=float, default=300.0, help="default solve's limit in the grid (300)")
    p.add_argument("--paper-time-limit", type=float, default=300.0, help="limit of the other variants (300)")
    p.add_argument("--warm-budget", type=float, default=600.0, help="budget of the cold/warm runs (600)")
    p.add_argument("--report-only", action="store_true", help="only rewrite docs/benchmarks.md from the CSVs")
    p.add_argument("--note", default="", help="a sentence about the run's conditions for the report")
    p.add_argument("--notes-file", default=str(ROOT / "benchmarks" / "NOTES.md"),
                   help="Markdown appended to the report (what helped, what did not)")
    args = p.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        adult = load_adult()
        only = [s for s in args.only.split(",") if s] or list(SECTIONS)
        for name in only:
            if name in args.skip.split(","):
                continue
            print(f"== {name}", flush=True)
            SECTIONS[name](adult, args)
    write_report(args)


if __name__ == "__main__":
    main()
