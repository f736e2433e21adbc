"""Single-MIP build and load times (issue 15): Adult, sat-margin, P = 1, hidden 16, N rows.

Measures, each in a fresh process state: the Pyomo build (``build_instance``), the standard-form
compile (``compile_standard_form``: Pyomo's ``LinearStandardFormCompiler`` + column bounds), the
HiGHS load (``Highs.passModel``), and with ``--pyomo-load`` the former path (Pyomo's persistent
``contrib.solver`` HiGHS interface, ``set_instance``) for comparison; peak RSS of the process.
Appends one row per (N, path) to benchmarks/results/batch/single-mip.csv (skips rows present).

    .venv/bin/python benchmarks/run_single_mip.py --sizes 1000,3000 --pyomo-load
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from csvlog import append_row  # benchmarks/csvlog.py (scripts run from this directory)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIELDS = ["n_rows", "path", "rows", "columns", "nonzeros", "build_s", "compile_s", "load_s", "build_load_s",
          "peak_rss_mb", "load_avg_1min", "threads"]


def measure(n_rows: int, path: str) -> dict:
    """One measurement in this process (call it in a fresh process: peak RSS is per process)."""
    from mipnn_pyomo.data import load_adult
    from mipnn_pyomo.formulation import ProblemData
    from mipnn_pyomo.instance import build_instance

    X, y, _ = load_adult().sample(n_rows, 0)
    t0 = time.perf_counter()
    instance = build_instance(ProblemData(X, y, 2, (16,), 1, 4), "sat-margin")
    build = time.perf_counter() - t0
    row = {"n_rows": n_rows, "path": path, "build_s": round(build, 2)}
    if path == "pyomo":
        from pyomo.contrib.solver.solvers.highs import Highs

        t1 = time.perf_counter()
        Highs().set_instance(instance.model)
        row.update(compile_s="", load_s=round(time.perf_counter() - t1, 2), rows="", columns="", nonzeros="")
    else:
        from mipnn_pyomo.solvers.highs import load_standard_form
        from mipnn_pyomo.solvers.standard_form import compile_standard_form

        t1 = time.perf_counter()
        sf = compile_standard_form(instance.model)
        t2 = time.perf_counter()
        load_standard_form(sf)
        row.update(compile_s=round(t2 - t1, 2), load_s=round(time.perf_counter() - t2, 2), rows=sf.n_rows,
                   columns=sf.n_cols, nonzeros=int(sf.A.nnz))
    row["build_load_s"] = round(time.perf_counter() - t0, 2)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    row["load_avg_1min"] = os.getloadavg()[0]
    row["threads"] = 1
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="3000")
    p.add_argument("--pyomo-load", action="store_true", help="also measure Pyomo's persistent HiGHS loader")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch" / "single-mip.csv"))
    p.add_argument("--one", nargs=2, metavar=("N", "PATH"), help=argparse.SUPPRESS)  # child process
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1])))
        return 0
    out = Path(args.out)
    done = set()
    if out.exists():
        with open(out) as handle:
            done = {(r["n_rows"], r["path"]) for r in csv.DictReader(handle)}
    paths = ["standard-form"] + (["pyomo"] if args.pyomo_load else [])
    for n in [int(s) for s in args.sizes.split(",")]:
        for path in paths:
            if (str(n), path) in done:
                continue
            line = subprocess.run([sys.executable, __file__, "--one", str(n), path], check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1]
            row = json.loads(line)
            print(row, flush=True)
            append_row(out, FIELDS, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
