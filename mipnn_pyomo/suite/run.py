"""``run_suite``: solve every suite instance with one registered engine and append a CSV row each.

The engine gets the instance rebuilt from its metadata (the same model the .mps.gz holds), a
time limit, no accuracy target and, by default, no primal heuristic (the engine alone). Each row
passes the exactness check (MIP = forward pass). Rows already in the CSV for the same engine,
heuristic setting and time limit are skipped, so a killed run resumes; an interrupted solve
(Ctrl-C, SIGTERM) writes no row and ends the run."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

from mipnn_pyomo.suite.build import load_suite
from mipnn_pyomo.suite.catalogue import SuiteInstance

COLUMNS = ["instance", "grade", "solver", "solver_version", "heuristic", "time_limit_s", "threads", "termination",
           "solved", "objective", "bound", "wall_s", "best_known", "primal_gap", "train_accuracy", "exact"]


def primal_gap(objective: float | None, best: float) -> float:
    """Berthold's primal gap in [0, 1]: 0 when equal, 1 without a solution or with opposite
    signs, else |best - objective| / max(|best|, |objective|)."""
    if objective is None:
        return 1.0
    if abs(objective - best) <= 1e-9:
        return 0.0
    if objective * best < 0:
        return 1.0
    return abs(best - objective) / max(abs(best), abs(objective))


def _done_keys(out: Path) -> set[tuple]:
    if not out.exists() or out.stat().st_size == 0:
        return set()
    with out.open(newline="") as fh:
        return {(r["instance"], r["solver"], r["heuristic"], r["time_limit_s"]) for r in csv.DictReader(fh)}


def solve_one(meta: dict, solver: str, time_limit: float, threads: int, heuristic: bool) -> dict | None:
    """One CSV row for ``meta``'s instance, or None if the solve was interrupted."""
    from mipnn_pyomo.solvers import SolveOptions, Termination, get_solver
    from mipnn_pyomo.training import check_exactness

    instance, _ = SuiteInstance.from_dict(meta).build()
    options = SolveOptions(time_limit=time_limit, threads=threads, seed=0, target_accuracy=None, heuristic=heuristic)
    result = get_solver(solver).solve(instance, options)
    if result.termination == Termination.INTERRUPTED:
        return None
    best = meta["best_known"]["objective"]
    best = max(best, result.objective) if instance.sense == "maximize" else min(best, result.objective)
    return {
        "instance": meta["name"], "grade": meta["grade"], "solver": solver, "solver_version": result.solver_version,
        "heuristic": str(bool(heuristic)), "time_limit_s": f"{time_limit:g}", "threads": threads,
        "termination": result.termination.value, "solved": result.termination == Termination.OPTIMAL,
        "objective": result.objective, "bound": result.bound, "wall_s": round(result.wall_s, 3),
        "best_known": best, "primal_gap": round(primal_gap(result.objective, best), 6),
        "train_accuracy": result.train_accuracy, "exact": check_exactness(instance, result.network).ok,
    }


def run_suite(directory, solver: str, out, time_limit: float = 60.0, threads: int = 1, heuristic: bool = False,
              progress: Callable[[str], None] | None = None) -> Path:
    """Solve every instance of ``directory`` with ``solver``; rows appended to the CSV ``out``."""
    out = Path(out)
    done = _done_keys(out)
    for meta in load_suite(directory):
        key = (meta["name"], solver, str(bool(heuristic)), f"{time_limit:g}")
        if key in done:
            continue
        row = solve_one(meta, solver, time_limit, threads, heuristic)
        if row is None:
            if progress is not None:
                progress(f"{meta['name']}: interrupted; rows so far are kept, run again to resume")
            break
        _append(out, row)
        if progress is not None:
            progress(f"{meta['name']}: {row['termination']}, objective {row['objective']}, "
                     f"gap to best {row['primal_gap']:.4f}, {row['wall_s']:.1f} s")
    return out


def _append(out: Path, row: dict) -> None:
    new = not out.exists() or out.stat().st_size == 0
    with out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        fh.flush()
