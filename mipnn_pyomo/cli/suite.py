"""``mipnn suite export|run|report``: the benchmark suite for solver developers."""

from __future__ import annotations

import sys
from pathlib import Path

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.cli.options import positive_float, positive_int
from mipnn_pyomo.solvers import DEFAULT_SOLVER


def add_parsers(sub) -> None:
    p = sub.add_parser("suite", help="benchmark suite of training MIPs for solver developers")
    cmds = p.add_subparsers(dest="suite_command", required=True, parser_class=type(p))
    exp = cmds.add_parser("export", help="write NAME.mps.gz, NAME.sol and NAME.json per instance (resumable)")
    exp.add_argument("dir", help="output folder (created if missing)")
    exp.add_argument("--grid", default="default", help="instance grid: default, small or smoke (default: default)")
    exp.add_argument("--engine", default=DEFAULT_SOLVER, help=f"engine of the reference solve (default: {DEFAULT_SOLVER})")
    exp.add_argument("--time-limit", type=positive_float, default=600.0, help="seconds per reference solve (600)")
    exp.add_argument("--threads", type=positive_int, default=1, help="solver threads (1)")
    exp.add_argument("--best-known", metavar="DIR", help="folder of network files (e.g. benchmarks/results/engines/"
                     "networks): a better network than the reference solve's becomes the best known solution")
    exp.set_defaults(func=cmd_suite_export)
    run = cmds.add_parser("run", help="solve every instance with one engine; one CSV row each (resumable)")
    run.add_argument("dir", help="a folder written by `mipnn suite export`")
    run.add_argument("--solver", required=True, help="registered engine (see `mipnn solvers`)")
    run.add_argument("--out", required=True, metavar="CSV", help="results CSV (rows are appended)")
    run.add_argument("--time-limit", type=positive_float, default=60.0, help="seconds per instance (60)")
    run.add_argument("--threads", type=positive_int, default=1, help="solver threads (1)")
    run.add_argument("--heuristic", action="store_true", help="with mipnn's local-search heuristic (default: off)")
    run.set_defaults(func=cmd_suite_run)
    rep = cmds.add_parser("report", help="report.md + performance-profile.png from result CSVs")
    rep.add_argument("csv", nargs="+", help="CSVs written by `mipnn suite run`")
    rep.add_argument("--out", required=True, metavar="DIR", help="output folder")
    rep.set_defaults(func=cmd_suite_report)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_suite_export(args) -> int:
    from mipnn_pyomo.outputs import check_writable_directory
    from mipnn_pyomo.solvers import get_solver
    from mipnn_pyomo.suite.build import export_suite
    from mipnn_pyomo.suite.catalogue import suite_grid

    suite_grid(args.grid)  # validates the name before any work
    get_solver(args.engine).require_available()
    check_writable_directory(args.dir, "suite folder")
    if args.best_known is not None and not Path(args.best_known).is_dir():
        raise ConfigError(f"--best-known {args.best_known}: not a folder")
    metas = export_suite(args.dir, args.grid, args.engine, args.time_limit, args.threads, progress=_say,
                         best_known=args.best_known)
    print(f"{len(metas)} instances in {args.dir}")
    return 0


def cmd_suite_run(args) -> int:
    from mipnn_pyomo.outputs import check_writable
    from mipnn_pyomo.solvers import get_solver
    from mipnn_pyomo.suite.build import load_suite
    from mipnn_pyomo.suite.run import run_suite

    get_solver(args.solver).require_available()
    load_suite(args.dir)
    check_writable(args.out, "--out")
    out = run_suite(args.dir, args.solver, args.out, args.time_limit, args.threads, args.heuristic, progress=_say)
    print(f"results in {out}")
    return 0


def cmd_suite_report(args) -> int:
    from mipnn_pyomo.outputs import check_writable_directory
    from mipnn_pyomo.suite.report import write_report

    check_writable_directory(args.out, "--out")
    print(f"wrote {write_report(args.csv, args.out)}")
    return 0
