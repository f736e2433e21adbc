"""Single-MIP build and load times (issue 15): Adult, sat-margin, P = 1, hidden 16, N rows.

Measures, each in a fresh process, one of three paths and the peak RSS of the process:

* ``numpy`` (the training path's default with HiGHS): ``build_instance(rows="numpy")`` builds the
  variables and objective in Pyomo and the rows by numpy (mipnn_pyomo/matrix_form.py);
  ``compile_s`` is ``instance.standard_form()`` (column bounds re-read), ``load_s``
  ``Highs.passModel``;
* ``standard-form``: the Pyomo build (``build_instance(rows="pyomo")``), the standard-form
  compile (``compile_standard_form``: Pyomo's ``LinearStandardFormCompiler`` + column bounds) and
  the same HiGHS load;
* ``pyomo`` (with ``--pyomo-load``): the Pyomo build and Pyomo's persistent ``contrib.solver``
  HiGHS interface (``set_instance``), the loader used before.

Appends one row per (N, path) to benchmarks/results/batch/single-mip.csv (skips rows present).
Run it through a one-core benchmark slot (everything here is single-threaded):

    /work/wt/brief/bench1 .venv/bin/python benchmarks/run_single_mip.py --sizes 1000,3000 --paths numpy,standard-form
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
    instance = build_instance(ProblemData(X, y, 2, (16,), 1, 4), "sat-margin", rows="numpy" if path == "numpy" else "pyomo")
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
        sf = instance.standard_form() if path == "numpy" else compile_standard_form(instance.model)
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
    p.add_argument("--paths", default="numpy,standard-form", help="comma-separated: numpy, standard-form, pyomo")
    p.add_argument("--pyomo-load", action="store_true", help="also measure Pyomo's persistent HiGHS loader")
    p.add_argument("--again", action="store_true", help="measure even the (N, path) rows already in the file")
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
    paths = args.paths.split(",") + (["pyomo"] if args.pyomo_load and "pyomo" not in args.paths else [])
    for n in [int(s) for s in args.sizes.split(",")]:
        for path in paths:
            if (str(n), path) in done and not args.again:
                continue
            line = subprocess.run([sys.executable, __file__, "--one", str(n), path], check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1]
            row = json.loads(line)
            print(row, flush=True)
            append_row(out, FIELDS, row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
