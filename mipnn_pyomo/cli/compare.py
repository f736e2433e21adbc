"""``mipnn compare-solvers``: the same instances on several solvers, tabulated."""

from __future__ import annotations

import signal
import sys

from mipnn_pyomo.cli.options import (
    add_data_arguments,
    add_model_arguments,
    formulation_from_args,
    load_data_from_args,
    positive_float,
    positive_int,
    seed_list,
    target_number,
)
from mipnn_pyomo.errors import ModelConfigError


def add_parsers(sub) -> None:
    p = sub.add_parser("compare-solvers", help="run the same instances on several solvers and tabulate")
    add_data_arguments(p)
    add_model_arguments(p)
    p.add_argument("--objectives", default=None, help="comma-separated objectives (default: --objective)")
    p.add_argument("--solvers", default="highs,cbc,gurobi", help="comma-separated solvers")
    p.add_argument("--seeds", type=seed_list, default="0", help="comma-separated seeds, each in [0, 2^31) (0)")
    p.add_argument("--time-limit", type=positive_float, default=60.0, help="seconds per solve (60)")
    p.add_argument("--target-accuracy", type=target_number, default=0.9)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    p.add_argument("--out", metavar="FILE", help="also write the table here (checked before the first solve)")
    p.add_argument("--verbose", action="store_true", help="print each solve's improving solutions as they come")
    p.add_argument("--no-heuristic", action="store_true",
                   help="compare the solvers alone: no local-search primal heuristic")
    p.set_defaults(func=cmd_compare)


def _names(text: str | None, default: list[str]) -> list[str]:
    names = [t.strip() for t in str(text or "").split(",") if t.strip()]
    return names or list(default)


def cmd_compare(args) -> int:
    from mipnn_pyomo.compare import compare, render
    from mipnn_pyomo.objectives import OBJECTIVES
    from mipnn_pyomo.outputs import atomic_write_text, check_writable
    from mipnn_pyomo.solvers import solver_names
    from mipnn_pyomo.solvers.base import progress_printer

    objectives = _names(args.objectives, [args.objective])
    for o in objectives:
        if o not in OBJECTIVES:
            raise ModelConfigError(f"unknown objective {o!r}; choose from {', '.join(OBJECTIVES)}")
    solvers = [s.lower() for s in _names(args.solvers, solver_names())]
    if args.out:
        check_writable(args.out, "--out")
    dataset = load_data_from_args(args)

    def progress(row) -> None:
        print(f"  {row['solver']:7s} {row['objective']:12s} seed {row['seed']}: {row['status']}", file=sys.stderr)

    df = compare(
        dataset,
        args.n_train,
        objectives=objectives,
        solvers=solvers,
        seeds=args.seeds,
        target_accuracy=args.target_accuracy,
        progress=progress,
        on_incumbent=progress_printer() if args.verbose else None,
        hidden=tuple(args.hidden),
        P=args.P,
        formulation=formulation_from_args(args),
        time_limit=args.time_limit,
        threads=args.threads,
        heuristic=not args.no_heuristic,
    )
    text = render(df, args.format)
    sys.stdout.write(text)
    if args.out:
        atomic_write_text(args.out, text)
    signum = df.attrs.get("interrupt_signal")
    if signum is None:
        return 0
    saved = f"; the table so far is in {args.out}" if args.out else ""
    print(f"interrupted by {signal.Signals(signum).name}: comparison stopped after {len(df)} run(s){saved}",
          file=sys.stderr)
    return 128 + signum
