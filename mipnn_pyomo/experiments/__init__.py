"""Experiment grids: TOML configs, a resumable runner writing SQLite, and a Markdown/PNG report.

    mipnn experiment run experiments/exp1.toml --db results.sqlite [--workers K] [--scheduler ADDRESS]
    mipnn experiment report --db results.sqlite --out DIR [--reference PATH]
    mipnn experiment status --db results.sqlite

See docs/experiments.md.
"""

from __future__ import annotations

import argparse
import sys

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.experiments.config import ExperimentConfig, load_config, parse_config

__all__ = [
    "ExperimentConfig",
    "add_experiment_arguments",
    "experiment_from_args",
    "load_config",
    "parse_config",
    "run_experiment",
    "write_report",
]


def __getattr__(name):  # lazy: the runner and the report pull in heavier modules
    if name == "run_experiment":
        from mipnn_pyomo.experiments.runner import run_experiment

        return run_experiment
    if name == "write_report":
        from mipnn_pyomo.experiments.report import write_report

        return write_report
    raise AttributeError(name)


def _workers(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``run``, ``report`` and ``status`` sub-commands to the ``experiment`` parser."""
    from mipnn_pyomo.experiments.runner import default_workers

    sub = parser.add_subparsers(dest="experiment_command", required=True, parser_class=type(parser))

    p = sub.add_parser("run", help="run every cell of a config not yet in the database")
    p.add_argument("config", metavar="CONFIG.toml", help="experiment config (see experiments/*.toml)")
    p.add_argument("--db", default="results.sqlite", help="SQLite results database (results.sqlite)")
    p.add_argument("--workers", type=_workers, default=default_workers(),
                   help=f"parallel worker processes ({default_workers()}); 0 runs the cells in this process")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the runs to a Dask distributed scheduler (tcp://host:8786), or 'local' to start "
                        "a local cluster of --workers processes; needs the 'dask' extra")
    from mipnn_pyomo.cli import _positive_float

    p.add_argument("--time-limit", type=_positive_float, default=None, metavar="SECONDS",
                   help="override the config's time limit per run (part of each cell's identity)")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--dry-run", action="store_true", help="list the cells and whether each would run, then stop")

    p = sub.add_parser("report", help="figures (PNG) and report.md from a results database")
    p.add_argument("--db", required=True, help="SQLite results database")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--reference", metavar="PATH",
                   help="the paper authors' per-cell results (CSV); default: $MIPNN_REFERENCE_CSV, else "
                        "experiments/reference/adult-reference-runs.csv")
    p.add_argument("--experiment", metavar="NAME", help="only this experiment (default: all in the database)")

    p = sub.add_parser("status", help="cells per experiment and state; failed runs with their error")
    p.add_argument("--db", required=True, help="SQLite results database")


def _cmd_run(args) -> int:
    from mipnn_pyomo.experiments.runner import make_tasks, run_experiment
    from mipnn_pyomo.experiments.store import ResultStore

    config = load_config(args.config)
    if args.dry_run:
        config = config.with_time_limit(args.time_limit)
        tasks = make_tasks(config)
        states = {}
        import os

        if os.path.exists(args.db):
            with ResultStore(args.db, create=False) as store:
                states = store.states([t["cell_key"] for t in tasks])
        for t in tasks:
            st = states.get(t["cell_key"], "todo")
            action = "skip" if st == "done" or (st == "failed" and not args.retry_failed) else "run"
            print(f"{action:4s} {st:11s} {t['label']}")
        return 0
    summary = run_experiment(
        config,
        args.db,
        workers=args.workers,
        scheduler=args.scheduler,
        time_limit=args.time_limit,
        retry_failed=args.retry_failed,
        quiet=args.quiet,
    )
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
    cmd = getattr(args, "experiment_command", None)
    if cmd == "run":
        return _cmd_run(args)
    if cmd == "report":
        return _cmd_report(args)
    if cmd == "status":
        return _cmd_status(args)
    raise ConfigError("use 'mipnn experiment run CONFIG', 'mipnn experiment report' or 'mipnn experiment status'")
