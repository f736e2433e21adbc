"""``mipnn experiment run|report|status``: experiment grids (see docs/experiments.md)."""

from __future__ import annotations

import os
import sys

from mipnn_pyomo.cli.options import non_negative_int, positive_float
from mipnn_pyomo.errors import ConfigError


def add_parsers(sub) -> None:
    p = sub.add_parser("experiment", help="run or report a grid of experiments (see experiments/)")
    p.set_defaults(func=experiment_from_args, experiment_parser=p)
    add_experiment_arguments(p)


def add_experiment_arguments(parser) -> None:
    """Add the ``run``, ``report`` and ``status`` sub-commands to the ``experiment`` parser."""
    from mipnn_pyomo.experiments.runner import default_workers

    sub = parser.add_subparsers(dest="experiment_command", required=True, parser_class=type(parser))

    p = sub.add_parser("run", help="run every cell of a config not yet in the database")
    p.add_argument("config", metavar="CONFIG.toml", help="experiment config (see experiments/*.toml)")
    p.add_argument("--db", default="results.sqlite",
                   help="SQLite results database (results.sqlite; checked before the first run)")
    p.add_argument("--workers", type=non_negative_int, default=default_workers(),
                   help=f"parallel worker processes ({default_workers()}); 0 runs the cells in this process")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the runs to a Dask distributed scheduler (tcp://host:8786), or 'local' to start "
                        "a local cluster of --workers processes; needs the 'dask' extra")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                   help="override the config's time limit per run (part of each cell's identity)")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--dry-run", action="store_true", help="list the cells and whether each would run, then stop")

    p = sub.add_parser("report", help="figures (PNG) and report.md from a results database")
    p.add_argument("--db", required=True, help="SQLite results database")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--reference", metavar="PATH",
                   help="the paper authors' per-cell results (CSV); default: $MIPNN_REFERENCE_CSV, else "
                        "experiments/reference/adult-reference-runs.csv")
    p.add_argument("--experiment", metavar="NAME", help="only this experiment (default: all in the database)")

    p = sub.add_parser("status", help="cells per experiment and state; failed runs with their error")
    p.add_argument("--db", required=True, help="SQLite results database")


def _dry_run(config, args) -> int:
    from mipnn_pyomo.experiments.runner import make_tasks
    from mipnn_pyomo.experiments.store import ResultStore

    tasks = make_tasks(config.with_time_limit(args.time_limit))
    states = {}
    if os.path.exists(args.db):
        with ResultStore(args.db, create=False) as store:
            states = store.states([t["cell_key"] for t in tasks])
    for t in tasks:
        st = states.get(t["cell_key"], "todo")
        action = "skip" if st == "done" or (st == "failed" and not args.retry_failed) else "run"
        print(f"{action:4s} {st:11s} {t['label']}")
    return 0


def _cmd_run(args) -> int:
    from mipnn_pyomo.experiments.config import load_config
    from mipnn_pyomo.experiments.runner import run_experiment
    from mipnn_pyomo.outputs import check_writable

    config = load_config(args.config)
    if args.dry_run:
        return _dry_run(config, args)
    check_writable(args.db, "--db")
    summary = run_experiment(config, args.db, workers=args.workers, scheduler=args.scheduler,
                             time_limit=args.time_limit, retry_failed=args.retry_failed, quiet=args.quiet)
    if not args.quiet:
        print(
            f"{summary.experiment}: {summary.done} run(s) done, {summary.failed} failed, "
            f"{summary.interrupted} interrupted this session ({summary.elapsed_s:.0f} s); "
            f"{summary.skipped_done} skipped as already done, {summary.skipped_failed} skipped as failed earlier"
        )
        for f in summary.failures:
            print(f"  failed: {f}", file=sys.stderr)
    return 1 if summary.failed else 0


def _cmd_report(args) -> int:
    from mipnn_pyomo.experiments.report import write_report
    from mipnn_pyomo.outputs import check_writable_directory

    if not os.path.isfile(args.db):  # an input error must not leave an empty output directory behind
        raise ConfigError(f"results database {str(args.db)!r} not found")
    check_writable_directory(args.out, "--out")
    path = write_report(args.db, args.out, reference=args.reference, experiment=args.experiment)
    print(f"wrote {path}")
    return 0


def _cmd_status(args) -> int:
    from collections import Counter

    from mipnn_pyomo.experiments.store import ResultStore

    with ResultStore(args.db, create=False) as store:
        rows = store.runs()
    by_exp: dict[str, Counter] = {}
    for r in rows:
        by_exp.setdefault(r["experiment"], Counter())[r["state"]] += 1
    for name, c in by_exp.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    for r in rows:
        if r["state"] != "done":
            first = (r["error"] or "").splitlines()[0] if r["error"] else ""
            print(f"  {r['state']:11s} {r['experiment']} {r['method']} P={r['P']} N={r['n_train']} seed={r['seed']}: {first}")
    return 0


def experiment_from_args(args) -> int:
    commands = {"run": _cmd_run, "report": _cmd_report, "status": _cmd_status}
    command = commands.get(getattr(args, "experiment_command", None))
    if command is None:
        raise ConfigError("use 'mipnn experiment run CONFIG', 'mipnn experiment report' or 'mipnn experiment status'")
    return command(args)
