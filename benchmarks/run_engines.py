"""Engines on the same Adult instances (issue 13): writes benchmarks/results/engines/runs.csv and
docs/results/engines.md. Run by hand; every measurement goes through a benchmark slot.

    python benchmarks/run_engines.py run grid      # 60 s, 1 thread per run, two runs side by side (bench1)
    python benchmarks/run_engines.py run noheur    # the same, heuristic off, on a subset
    python benchmarks/run_engines.py run long      # 600 s, N = 280, sat-margin, P = 1, two engines (bench1)
    python benchmarks/run_engines.py run target    # N = 280, sat-margin, P = 1, 120 s, 2 threads (bench2)
    python benchmarks/run_engines.py run bound     # N = 100, attempts at a non-trivial proven bound (bench2)
    python benchmarks/run_engines.py report        # the .md tables from the CSV

Resumable: a row is appended as soon as its run ends (under a file lock) and a rerun skips every
configuration already in the CSV. Instances: Adult, rows drawn with seed 0 (``train_on_dataset``;
``seed`` is the solver's seed),
hidden 16, test accuracy on adult.test. Runs have no accuracy target, so the incumbent timeline
gives both the time to 90% training accuracy and the value at the time limit. Every run goes
through ``train_network``'s exactness check (column ``exact``; a mismatch is an error row).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "engines"
CSV_PATH = RESULTS / "runs.csv"
NETWORKS = RESULTS / "networks"  # every run's network (suite export --best-known reads them)
REPORT = ROOT / "docs" / "results" / "engines.md"
BENCH = Path(os.environ["MIPNN_BENCH_SLOTS"]) if os.environ.get("MIPNN_BENCH_SLOTS") else None  # optional slot wrappers
OBJECTIVES = ["sat-margin", "min-hinge", "max-correct"]
ENGINES = ["cpsat", "highs", "scip", "cbc"]
KEY = ["section", "variant", "engine", "objective", "P", "n", "seed", "heuristic", "time_limit", "threads"]
FIELDS = KEY + ["status", "objective_value", "bound", "trivial_bound", "gap", "ttt90_s", "train_acc", "test_acc",
                "exact", "solve_s", "build_s", "runtime_s", "n_vars", "n_cons", "incumbents", "source",
                "load1", "started_utc", "note"]


def config(section, engine, objective, P, n, *, seed=0, heuristic=True, time_limit=60, threads=1, variant="default",
           **extra) -> dict:
    return dict(section=section, variant=variant, engine=engine, objective=objective, P=P, n=n, seed=seed,
                heuristic=heuristic, time_limit=time_limit, threads=threads, **extra)


# --------------------------------------------------------------------------- the plan


def plan_grid() -> list[dict]:
    """All four engines at N = 100; HiGHS and CP-SAT at N = 280 (SCIP, CBC only sat-margin P = 1)."""
    runs = [config("grid", e, o, P, 100) for P in (1, 3) for o in OBJECTIVES for e in ENGINES]
    runs += [config("grid", e, o, P, 280) for P in (1, 3) for o in OBJECTIVES for e in ("cpsat", "highs")]
    runs += [config("grid", e, "sat-margin", 1, 280) for e in ("scip", "cbc")]
    return runs


def plan_noheur() -> list[dict]:
    """Heuristic off: every engine and objective at N = 100, P = 1 (time to 90% without the heuristic)."""
    return [config("noheur", e, o, 1, 100, heuristic=False) for o in ("sat-margin", "max-correct", "min-hinge")
            for e in ENGINES]


def plan_long() -> list[dict]:
    return [config("long", e, "sat-margin", 1, 280, time_limit=600) for e in ("cpsat", "highs")]


TARGET_VARIANTS = {  # name -> extra train kwargs (JSON-able); every one: cpsat, 2 workers, 120 s
    "default": {},
    "two-sided": {"formulation": {"one_sided_output_products": False}},
    "gd-hint": {"warm_start": "gd"},
    "symmetry": {"formulation": {"symmetry_breaking": True}},
    "highs": {"engine": "highs"},  # the reference MIP solver on the same 2 cores
    "ls-worker": {"solver_options": {"num_violation_ls": 1}},
    "no-lp": {"solver_options": {"linearization_level": 0}},
}


def plan_target(variants=None, seeds=(0,)) -> list[dict]:
    names = variants or list(TARGET_VARIANTS)
    return [config("target", "cpsat", "sat-margin", 1, 280, seed=s, time_limit=120, threads=2, variant=v)
            | TARGET_VARIANTS[v] for v in names for s in seeds]


BOUND_VARIANTS = {  # name -> (hidden, extra train kwargs); CP-SAT, 2 workers, 60 s, N = 100, heuristic on
    "h16-core-maxlp": ((16,), {"solver_options": {"subsolvers": ["core", "max_lp"]}}),
    "h16-core-maxlp-symmetry": ((16,), {"solver_options": {"subsolvers": ["core", "max_lp"]},
                                        "formulation": {"symmetry_breaking": True}}),
    "h1-default": ((1,), {}),
    "h1-core-maxlp-symmetry": ((1,), {"solver_options": {"subsolvers": ["core", "max_lp"]},
                                      "formulation": {"symmetry_breaking": True}}),
    "h2-core-maxlp-symmetry": ((2,), {"solver_options": {"subsolvers": ["core", "max_lp"]},
                                      "formulation": {"symmetry_breaking": True}}),
}


def plan_bound(variants=None) -> list[dict]:
    names = variants or list(BOUND_VARIANTS)
    return [config("bound", "cpsat", "sat-margin", 1, 100, time_limit=60, threads=2, variant=v,
                   hidden=list(BOUND_VARIANTS[v][0]), **BOUND_VARIANTS[v][1]) for v in names]


def plan_grid_priority() -> list[dict]:
    """The part of the grid run first when slots are scarce: N = 280, P = 1 for CP-SAT and HiGHS,
    and sat-margin P = 3 (the rest of ``plan_grid`` follows if time allows)."""
    runs = [config("grid", e, o, 1, 280) for o in OBJECTIVES for e in ("cpsat", "highs")]
    return runs + [config("grid", e, "sat-margin", 3, 280) for e in ("cpsat", "highs")]


PLANS = {"grid-priority": plan_grid_priority, "grid": plan_grid, "noheur": plan_noheur, "long": plan_long, "target": plan_target, "bound": plan_bound}


# --------------------------------------------------------------------------- one run


def key_of(row: dict) -> tuple:
    return tuple(str(row[k]) for k in KEY)


def done_keys() -> set:
    import pandas as pd

    if not CSV_PATH.exists():
        return set()
    df = pd.read_csv(CSV_PATH, dtype=str, keep_default_na=False)
    return {tuple(r[k] for k in KEY) for _, r in df.iterrows()}


def append_row(row: dict) -> None:
    """Append one row under an exclusive lock (two runs finish side by side)."""
    import csv

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(CSV_PATH, "a", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if f.tell() == 0:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


def run_one(cfg: dict) -> dict:
    """Train once by ``cfg`` and measure (module docstring)."""
    from mipnn_pyomo.compare import time_to_target
    from mipnn_pyomo.data import load_adult
    from mipnn_pyomo.errors import MipnnError
    from mipnn_pyomo.formulation import FormulationOptions
    from mipnn_pyomo.objectives import objective_upper_limit
    from mipnn_pyomo.training import train_on_dataset

    row = {k: cfg[k] for k in KEY} | {"load1": f"{os.getloadavg()[0]:.2f}",
                                       "started_utc": time.strftime("%H:%M:%S", time.gmtime()), "note": ""}
    kwargs = dict(objective=cfg["objective"], solver=cfg["engine"], hidden=tuple(cfg.get("hidden", (16,))), P=cfg["P"],
                  time_limit=cfg["time_limit"], threads=cfg["threads"], target_accuracy=None,
                  heuristic=cfg["heuristic"], formulation=FormulationOptions(**cfg.get("formulation", {})))
    if cfg.get("solver_options"):
        kwargs["solver_options"] = dict(cfg["solver_options"])
    if cfg.get("warm_start"):
        kwargs["warm_start"] = cfg["warm_start"]
    try:
        # the instance is always Adult's rows drawn with seed 0; ``seed`` is the solver's seed
        kwargs["solver_options"] = {**kwargs.get("solver_options", {}), "seed": cfg["seed"]}
        record = train_on_dataset(load_adult(), cfg["n"], 0, **kwargs)
    except MipnnError as exc:
        return row | {"status": "error", "note": str(exc)[:300]}
    res, s = record.result, record.result.solve
    sizes = res.instance.sizes
    row.update(status=s.termination.value, objective_value=s.objective, bound=s.bound, gap=s.gap,
               trivial_bound=objective_upper_limit(cfg["objective"], res.instance.data),
               ttt90_s=time_to_target(s.incumbents, 0.9), train_acc=res.train_accuracy,
               test_acc=record.test_accuracy, exact=res.exactness.ok if res.exactness else None,
               solve_s=round(s.wall_s, 2), build_s=round(res.build_s, 2), runtime_s=round(res.runtime_s, 2),
               n_vars=sizes.get("variables"), n_cons=sizes.get("constraints"), incumbents=len(s.incumbents),
               source=s.source)
    NETWORKS.mkdir(parents=True, exist_ok=True)
    record.network.save(NETWORKS / ("_".join(str(cfg[k]) for k in KEY) + ".json"))
    if res.warm_start:
        row["note"] = f"warm start {res.warm_start}"[:300]
    return row


# --------------------------------------------------------------------------- driver


def launch(cfg: dict) -> int:
    """One configuration in a fresh process, holding one slot (1 thread) or both (2 threads)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "one", json.dumps(cfg)]
    if BENCH is not None:  # a shared machine: hold one slot (bench1) or both (bench2) while the run goes
        cmd = [str(BENCH / ("bench2" if cfg["threads"] > 1 else "bench1"))] + cmd
    print(f"[{time.strftime('%H:%M:%S')}] start {json.dumps(cfg)}", flush=True)
    return subprocess.call(cmd)


def run_section(section: str, variants=None, seeds=None) -> None:
    plan = PLANS[section]
    cfgs = plan(variants, tuple(seeds)) if section == "target" and seeds else (plan(variants) if variants else plan())
    done = done_keys()
    pending = [c for c in cfgs if key_of(c) not in done]
    print(f"{section}: {len(cfgs)} runs, {len(pending)} pending", flush=True)
    jobs = 1 if any(c["threads"] > 1 for c in pending) else 2
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(launch, pending))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("section", choices=sorted(PLANS))
    r.add_argument("--variants", nargs="*")
    r.add_argument("--seeds", nargs="*", type=int)
    o = sub.add_parser("one")
    o.add_argument("config")
    sub.add_parser("report")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run_section(args.section, args.variants, args.seeds)
    elif args.cmd == "one":
        row = run_one(json.loads(args.config))
        append_row(row)
        print(json.dumps(row, default=str), flush=True)
    else:
        from engines_report import write_report

        write_report(CSV_PATH, REPORT)


if __name__ == "__main__":
    main()
