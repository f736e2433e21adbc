"""The ``mipnn`` command line.

    mipnn train --dataset adult --n-train 100 --objective sat-margin --P 1 --hidden 16 --solver highs
    mipnn evaluate --model model.json
    mipnn predict --model model.json --csv rows.csv
    mipnn solvers
    mipnn export ... --format lp|mps --out FILE
    mipnn compare-solvers ...
    mipnn experiment run|report ...

Exit code 0 on success; on bad input one line ``error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

from mipnn_pyomo.errors import MipnnError, ModelConfigError


# --------------------------------------------------------------------------- shared options


def _number(kind: type, what: str, low: float, high: float = math.inf, low_open: bool = False, none_words=()):
    """An argparse type: a ``kind`` number in [low, high] (or (low, high] with ``low_open``), or
    None for one of ``none_words``; a one-line error naming ``what`` otherwise."""
    bounded = high < math.inf
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]" if bounded else f"{'>' if low_open else '>='} {low:g}"
    prefix = f"{what} " if what else ""

    def parse(text: str):
        if text.lower() in none_words:
            return None
        try:
            value = kind(text)
        except ValueError:
            if none_words:
                message = f"{prefix}must be a number in {interval} or {none_words[0]!r}, got {text!r}"
            else:
                message = f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
        if not ((value > low) if low_open else (value >= low)) or value > high or math.isinf(value):
            shape = f"in {interval}" if bounded else ("an integer " if kind is int else "") + interval
            raise argparse.ArgumentTypeError(f"{prefix}must be {shape}, got {text}")
        return value

    return parse


_target_accuracy = _number(float, "target accuracy", 0, 1, low_open=True, none_words=("none", "off", "optimal"))
_positive_float = _number(float, "", 0, low_open=True)
_positive_int = _number(int, "", 1)
_margin = _number(float, "margin", 0, 1, low_open=True)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=["adult"], help="a shipped data set (default: adult)")
    src.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    g.add_argument("--target", metavar="COLUMN", help="the label column of --csv")
    g.add_argument("--test-csv", metavar="PATH", help="a separate test CSV (else a seeded hold-out split)")
    g.add_argument("--test-size", type=float, default=0.3, help="hold-out fraction without --test-csv (0.3)")
    g.add_argument("--split-seed", type=int, default=0, help="seed of the hold-out split (0)")
    g.add_argument("--decimals", type=int, default=4, help="input grid: features rounded to this many decimals (4)")
    g.add_argument("--n-train", type=_positive_int, default=100, help="training rows drawn from the training file (100)")
    g.add_argument("--seed", type=int, default=0, help="seed of the training sample, the solver and tie breaking (0)")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    from mipnn_pyomo.objectives import OBJECTIVES

    g = p.add_argument_group("model")
    g.add_argument("--objective", choices=list(OBJECTIVES), default="sat-margin", help="training objective (sat-margin)")
    g.add_argument("--P", dest="P", type=int, default=1, help="weights and biases in {-P..P} (1: ternary)")
    g.add_argument("--hidden", type=int, action="append", help="hidden-layer width, repeat for deeper nets (16)")
    g.add_argument("--margin", type=_margin, default=0.5, help="margin of sat-margin and min-hinge (0.5)")
    g.add_argument("--formulation", choices=["tight", "paper"], default="tight",
                   help="tight (default: per-sample big-M, strengthened) or paper (the paper's model as written)")
    g.add_argument("--encoding", choices=["bigm", "gdp"], default="bigm",
                   help="sign activation written as big-M rows directly (bigm) or as a pyomo.gdp disjunction (gdp)")
    g.add_argument("--symmetry-breaking", action="store_true", help="order first-layer hidden neurons by bias")
    g.add_argument("--hinge-breakpoints", type=int, default=None, help="breakpoints of min-hinge's PWL loss")


def add_solver_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver")
    g.add_argument("--solver", default="highs", help="highs (default), gurobi or cbc")
    g.add_argument("--time-limit", type=_positive_float, default=None, help="seconds (none)")
    g.add_argument("--target-accuracy", type=_target_accuracy, default=0.9,
                   help="stop once the incumbent's training accuracy reaches this (0.9); 'none' solves to optimality")
    g.add_argument("--threads", type=_positive_int, default=None, help="solver threads")
    g.add_argument("--mip-gap", type=float, default=None, help="relative MIP gap to stop at")
    g.add_argument("--solver-options", metavar="FILE", help="a TOML or JSON file of solver options (see solvers/)")
    g.add_argument("--warm-start", metavar="gd|MODEL.json", help="a MIP start: 'gd' trains the GD baseline first")
    g.add_argument("--no-heuristic", action="store_true",
                   help="switch off the local-search primal heuristic inside the solve (HiGHS)")


def load_data_from_args(args):
    from mipnn_pyomo.data import load_adult, load_csv

    if args.csv:
        if not args.target:
            raise ModelConfigError("--csv needs --target COLUMN (the label column)")
        return load_csv(args.csv, args.target, test_csv=args.test_csv, test_size=args.test_size,
                        split_seed=args.split_seed, decimals=args.decimals)
    if args.target or args.test_csv:
        raise ModelConfigError("--target and --test-csv go with --csv")
    return load_adult(decimals=args.decimals)


def formulation_from_args(args):
    from mipnn_pyomo.formulation import FormulationOptions

    return FormulationOptions(
        encoding=args.encoding,
        variant=args.formulation,
        symmetry_breaking=args.symmetry_breaking,
        hinge_breakpoints=args.hinge_breakpoints,
        margin=args.margin,
    )


def train_kwargs_from_args(args, progress=None) -> dict[str, Any]:
    """Keyword arguments of :func:`mipnn_pyomo.training.train_network` from parsed CLI options."""
    from mipnn_pyomo.network import IntegerNetwork
    from mipnn_pyomo.solvers.options import load_solver_options, split_solver_options

    extra: dict[str, Any] = {}
    normalised: dict[str, Any] = {}
    if getattr(args, "solver_options", None):
        normalised, extra = split_solver_options(load_solver_options(args.solver_options, args.solver))
    warm = getattr(args, "warm_start", None)
    if warm and warm != "gd":
        warm = IntegerNetwork.load(warm)
    return dict(
        hidden=tuple(args.hidden or [16]),
        P=args.P,
        objective=args.objective,
        solver=args.solver,
        time_limit=args.time_limit if args.time_limit is not None else normalised.get("time_limit"),
        threads=args.threads if args.threads is not None else normalised.get("threads"),
        mip_gap=args.mip_gap if args.mip_gap is not None else normalised.get("mip_gap"),
        target_accuracy=args.target_accuracy,
        formulation=formulation_from_args(args),
        warm_start=warm,
        solver_options=extra,
        verbose=getattr(args, "verbose", False),
        progress=progress,
        heuristic=not getattr(args, "no_heuristic", False),
    )


# --------------------------------------------------------------------------- commands


def cmd_train(args) -> int:
    from mipnn_pyomo.solvers.base import progress_printer
    from mipnn_pyomo.training import train_on_dataset

    from mipnn_pyomo.formulation import validate_architecture
    from mipnn_pyomo.solvers import get_solver

    validate_architecture(args.hidden or [16], args.P)  # fail fast, before any output
    get_solver(args.solver).require_available()
    dataset = load_data_from_args(args)
    dataset.sample(args.n_train, args.seed)  # validates n_train against the data
    progress = None if (args.quiet or args.json) else progress_printer()
    if not (args.quiet or args.json) and args.method == "mip":
        hidden = args.hidden or [16]
        print(
            f"training {args.objective} (P={args.P}, hidden={hidden}) on {args.n_train} rows of {dataset.name} "
            f"with {args.solver}; target training accuracy {args.target_accuracy}",
            file=sys.stderr,
        )
    if args.method == "gd":
        return _train_gd(args, dataset)
    run = train_on_dataset(dataset, args.n_train, args.seed, **train_kwargs_from_args(args, progress))
    if args.out:
        run.result.network.save(args.out)
    summary = run.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        s = summary
        gap = f"{100 * s['gap']:.2f}%" if s["gap"] is not None else "-"
        print(f"status          {s['status']}  (target reached: {s['target_reached']})")
        print(f"train accuracy  {100 * s['train_accuracy']:.2f}%  ({s['n_train']} samples, verified by forward pass: {s['exact']})")
        print(f"test accuracy   {100 * s['test_accuracy']:.2f}%  ({len(dataset.y_test)} samples)")
        print(f"objective       {s['objective_value']}  bound {s['objective_bound']}  gap {gap}")
        print(f"time            build {s['build_s']:.2f} s, solve {s['solve_s']:.2f} s, total {s['runtime_s']:.2f} s")
        if run.result.warm_start:
            w = run.result.warm_start
            print(f"warm start      {w['method']}: train accuracy {100 * w['train_accuracy']:.2f}%, accepted: {w['accepted']}")
        if args.out:
            print(f"model written to {args.out}")
    return 0


def _train_gd(args, dataset) -> int:
    from mipnn_pyomo.training import train_gd_on_dataset

    record = train_gd_on_dataset(dataset, args.n_train, args.seed, hidden=args.hidden or [16], P=args.P,
                                 target_accuracy=args.target_accuracy, time_limit=args.time_limit or 60.0)
    network, s = record.network, record.summary()
    if args.out:
        network.save(args.out)
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"status          {s['status']}  (target reached: {s['target_reached']}, {s['epochs']} epochs)")
    print(f"train accuracy  {100 * s['train_accuracy']:.2f}%  ({s['n_train']} samples)")
    print(f"test accuracy   {100 * s['test_accuracy']:.2f}%  ({len(dataset.y_test)} samples)")
    print(f"hinge loss      {s['objective_value']:.4f}")
    print(f"time            {s['runtime_s']:.2f} s")
    if args.out:
        print(f"model written to {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from mipnn_pyomo.evaluate import evaluate_model_file

    report = evaluate_model_file(args.model)
    if args.json:
        print(json.dumps(report))
    else:
        for key in ("dataset", "n_train", "train_accuracy", "test_accuracy", "n_test"):
            if key in report:
                value = report[key]
                print(f"{key:15s} {100 * value:.2f}%" if "accuracy" in key and value is not None else f"{key:15s} {value}")
    return 0


def cmd_predict(args) -> int:
    from mipnn_pyomo.evaluate import predict_csv

    predictions = predict_csv(args.model, args.csv)
    out = open(args.out, "w") if args.out else sys.stdout
    try:
        print("row,prediction", file=out)
        for i, label in enumerate(predictions):
            print(f"{i},{label}", file=out)
    finally:
        if args.out:
            out.close()
    return 0


def cmd_solvers(args) -> int:
    from mipnn_pyomo.solvers import SOLVERS

    rows = []
    for name, cls in SOLVERS.items():
        ok, reason = cls.availability()
        caps = cls.capabilities
        flags = [k for k, v in vars(caps).items() if v]
        rows.append(
            {
                "solver": name.value,
                "available": ok,
                "reason": reason,
                "version": cls.version() if ok else None,
                "licence": cls.licence_info() if ok else None,
                "capabilities": flags,
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        state = f"available, version {r['version']}" if r["available"] else f"NOT available: {r['reason']}"
        print(f"{r['solver']:7s} {state}")
        if r["available"]:
            print(f"        licence: {r['licence']}")
        print(f"        capabilities: {', '.join(r['capabilities'])}")
    return 0


def cmd_export(args) -> int:
    from mipnn_pyomo.export import export_from_args

    path = export_from_args(args)
    if not args.quiet:
        print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from mipnn_pyomo.compare import compare_from_args

    return compare_from_args(args)


def cmd_experiment(args) -> int:
    from mipnn_pyomo.experiments import experiment_from_args

    return experiment_from_args(args)


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``mipnn train: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mipnn", description="Train integer-weight neural networks by MIP.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a network by MIP (or the GD baseline) and report its accuracy")
    p.add_argument("--method", choices=["mip", "gd"], default="mip",
                   help="mip (default) or gd: the BinaryNet-style gradient-descent baseline, same architecture")
    add_data_arguments(p)
    add_model_arguments(p)
    add_solver_arguments(p)
    p.add_argument("--out", metavar="MODEL.json", help="write the trained network as JSON")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--verbose", action="store_true", help="stream the solver's own log")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="training and test accuracy of a saved network on its data set")
    p.add_argument("--model", required=True, metavar="MODEL.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict a class for each row of a CSV")
    p.add_argument("--model", required=True, metavar="MODEL.json")
    p.add_argument("--csv", required=True, metavar="PATH")
    p.add_argument("--out", metavar="PATH", help="write predictions here (default: stdout)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("solvers", help="list solvers: available or why not, version, licence, capabilities")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_solvers)

    p = sub.add_parser("export", help="write the instance a solver would get as .lp or .mps")
    add_data_arguments(p)
    add_model_arguments(p)
    p.add_argument("--format", choices=["lp", "mps"], help="file format (default: from --out's suffix)")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--readable-names", action="store_true", help="Pyomo component names instead of x1, c1, ...")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare-solvers", help="run the same instances on several solvers and tabulate")
    add_data_arguments(p)
    add_model_arguments(p)
    p.add_argument("--objectives", default=None, help="comma-separated objectives (default: --objective)")
    p.add_argument("--solvers", default="highs,cbc,gurobi", help="comma-separated solvers")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--time-limit", type=_positive_float, default=60.0, help="seconds per solve (60)")
    p.add_argument("--target-accuracy", type=_target_accuracy, default=0.9)
    p.add_argument("--threads", type=_positive_int, default=None)
    p.add_argument("--format", choices=["table", "csv", "markdown"], default="table")
    p.add_argument("--out", metavar="FILE", help="also write the table here")
    p.add_argument("--no-heuristic", action="store_true",
                   help="compare the solvers alone: no local-search heuristic (it runs with HiGHS only)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("experiment", help="run or report a grid of experiments (see experiments/)")
    p.set_defaults(func=cmd_experiment, experiment_parser=p)
    try:
        from mipnn_pyomo.experiments import add_experiment_arguments

        add_experiment_arguments(p)
    except ImportError:  # pragma: no cover - the experiments module is optional at import time
        pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed on one line)
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except MipnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover
        return 0


if __name__ == "__main__":
    sys.exit(main())
