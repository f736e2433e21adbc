"""``mipnn train``, ``mipnn evaluate`` and ``mipnn predict``."""

from __future__ import annotations

import csv
import io
import json
import signal
import sys

from mipnn_pyomo.cli.batch import add_batch_arguments, resolve_batch_defaults, train_batch
from mipnn_pyomo.cli.options import (
    add_data_arguments,
    add_model_arguments,
    add_p_first_argument,
    add_selection_arguments,
    add_recipe_argument,
    add_solver_arguments,
    describe_target,
    load_data_from_args,
    sample_seed,
    train_kwargs_from_args,
)


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a network by MIP (or the GD baseline) and report its accuracy")
    p.add_argument("--method", choices=["mip", "gd"], default="mip",
                   help="mip (default) or gd: the BinaryNet-style gradient-descent baseline, same architecture")
    add_data_arguments(p)
    add_model_arguments(p)
    add_p_first_argument(p)
    add_recipe_argument(p)
    add_solver_arguments(p)
    add_selection_arguments(p)
    add_batch_arguments(p)
    p.add_argument("--out", metavar="MODEL.json",
                   help="write the trained network as JSON (checked before training; missing directories are created)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument("--verbose", action="store_true", help="stream the solver's own log")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="training and test accuracy of a saved network on its data set")
    p.add_argument("--model", required=True, metavar="MODEL.json")
    p.add_argument("--csv", metavar="PATH", help="the training CSV, if it moved since training")
    p.add_argument("--test-csv", metavar="PATH", help="the test CSV, if it moved since training")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict a class for each row of a CSV")
    p.add_argument("--model", required=True, metavar="MODEL.json")
    p.add_argument("--csv", required=True, metavar="PATH")
    p.add_argument("--out", metavar="PATH", help="write predictions here (default: stdout)")
    p.set_defaults(func=cmd_predict)


def _check_before_training(args) -> None:
    """Everything that can be checked without the data or a solve, so bad input fails in a second."""
    from mipnn_pyomo.formulation import validate_architecture
    from mipnn_pyomo.outputs import check_writable
    from mipnn_pyomo.solvers import get_solver

    validate_architecture(args.hidden, args.P, getattr(args, "p_first", None))
    if getattr(args, "p_first", None) is not None and args.batch_size is not None:
        from mipnn_pyomo.errors import ModelConfigError

        raise ModelConfigError("--p-first is not supported with --batch-size (batch MIPs use --P everywhere)")
    if getattr(args, "select", None) and (args.method == "gd" or args.batch_size is not None):
        from mipnn_pyomo.errors import ModelConfigError

        raise ModelConfigError("--select chooses among MIP runs; it does not apply to --method gd or --batch-size")
    if args.recipe != "paper" and (args.method == "gd" or args.batch_size is not None):
        from mipnn_pyomo.errors import ModelConfigError

        raise ModelConfigError(f"--recipe {args.recipe} trains by MIP on the whole sample: not with --method gd "
                               "or --batch-size")
    get_solver(args.solver).require_available()
    if args.out:
        check_writable(args.out, "--out")


def cmd_train(args) -> int:
    from mipnn_pyomo.solvers.base import progress_printer

    resolve_batch_defaults(args)
    _check_before_training(args)
    dataset = load_data_from_args(args)
    seed = sample_seed(args)
    dataset.sample(args.n_train, seed)  # validates n_train against the data
    talk = not (args.quiet or args.json)
    if args.method == "gd":
        return _train_gd(args, dataset)
    if args.batch_size is not None:
        return train_batch(args, dataset)
    if talk:
        recipe = "" if args.recipe == "paper" else f", recipe {args.recipe}"
        p_first = "" if args.p_first is None else f", P_first={args.p_first}"
        print(f"training {args.objective}{recipe} (P={args.P}{p_first}, hidden={list(args.hidden)}) on {args.n_train} rows of "
              f"{dataset.name} with {args.solver}; target training accuracy {describe_target(args.target_accuracy)}",
              file=sys.stderr)
    run = _train_mip(args, dataset, seed, progress_printer() if talk else None)
    if args.out:
        run.result.network.save(args.out)
    summary = run.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary, run, len(dataset.y_test), args.out)
    return _exit_code_of(run.result.solve, args.out, getattr(args, "signals_handed_on", []))


def _train_mip(args, dataset, seed: int, progress):
    """One MIP training run, or with --select the selection on the training rows and then one run."""
    from mipnn_pyomo.training import train_on_dataset

    kwargs = train_kwargs_from_args(args, progress)
    if not getattr(args, "select", None):
        return train_on_dataset(dataset, args.n_train, seed, **kwargs)
    from mipnn_pyomo.selection import parse_grid, select_on_dataset

    run = select_on_dataset(dataset, args.n_train, seed, parse_grid(args.select_grid), method=args.select,
                            folds=args.folds, **kwargs)
    if progress is not None:
        choice = run.details["selection"]["choice"]
        print(f"selected by {args.select}: " + ", ".join(f"{k}={v}" for k, v in choice.items()), file=sys.stderr)
    return run


def _print_summary(s: dict, run, n_test: int, out: str | None) -> None:
    gap = f"{100 * s['gap']:.2f}%" if s["gap"] is not None else "-"
    print(f"status          {s['status']}  (target reached: {s['target_reached']})")
    print(f"train accuracy  {100 * s['train_accuracy']:.2f}%  ({s['n_train']} samples, verified by forward pass: {s['exact']})")
    print(f"test accuracy   {100 * s['test_accuracy']:.2f}%  ({n_test} samples)")
    print(f"objective       {s['objective_value']}  bound {s['objective_bound']}  gap {gap}")
    print(f"time            build {s['build_s']:.2f} s, solve {s['solve_s']:.2f} s, total {s['runtime_s']:.2f} s")
    if run.result.warm_start:
        w = run.result.warm_start
        print(f"warm start      {w['method']}: train accuracy {100 * w['train_accuracy']:.2f}%, accepted: {w['accepted']}")
    for stage in (run.result.recipe or {}).get("stages", []):
        print(_stage_line(stage))
    if run.result.recipe:
        print(f"final network   {run.result.recipe['final_source']}")
    if run.result.solve.message:  # e.g. the solver rejected the start (the start is kept if nothing beats it)
        print(f"note            {run.result.solve.message}")
    if out:
        print(f"model written to {out}")


def _stage_line(stage: dict) -> str:
    """One line per recipe stage: objective, what it held, status, value, time, who produced it."""
    if stage.get("status") == "skipped":
        return f"stage {stage['stage']}         {stage['objective']}: skipped ({stage['reason']})"
    held = ", ".join(f"{h['name']} {h['value']:g}" for h in stage["holds"]) or "nothing"
    return (f"stage {stage['stage']}         {stage['objective']} (holding {held}) with {stage['solver']}: "
            f"{stage['status']}, value {stage['start_value']} -> {stage['value']:g}, train accuracy "
            f"{100 * stage['train_accuracy']:.2f}%, {stage['nonzero_parameters']} non-zero parameters, "
            f"{stage['neurons_in_use']} hidden neurons in use, {stage['time_s']:.1f} s, network from {stage['source']}")


def interrupt_signal(solve, handed_on: list[int] = ()) -> int | None:
    """The signal that interrupted a solve (``SolveResult.interrupt_signal``), None if it was not
    interrupted. A result without that field that says INTERRUPTED was stopped by the signal the
    solve handed on to the CLI's handler (SIGTERM), else by Ctrl-C."""
    from mipnn_pyomo.solvers.base import Termination

    signum = getattr(solve, "interrupt_signal", None)
    if signum is None and solve.termination == Termination.INTERRUPTED:
        signum = handed_on[-1] if handed_on else int(signal.SIGINT)
    return signum


def _exit_code_of(solve, out: str | None, handed_on: list[int] = ()) -> int:
    """0, or 128 + the signal number after an interrupted solve (whose best network was kept)."""
    signum = interrupt_signal(solve, handed_on)
    if signum is None:
        return 0
    name = signal.Signals(signum).name
    where = f"saved to {out}" if out else "not saved (no --out)"
    print(f"interrupted by {name}: best network {where}", file=sys.stderr)
    return 128 + signum


def _train_gd(args, dataset) -> int:
    from mipnn_pyomo.training import train_gd_on_dataset

    if args.target_accuracy == "start":
        from mipnn_pyomo.errors import ModelConfigError

        raise ModelConfigError("--target-accuracy start needs a MIP run with --warm-start (not --method gd)")
    record = train_gd_on_dataset(dataset, args.n_train, sample_seed(args), hidden=args.hidden, P=args.P,
                                 target_accuracy=args.target_accuracy, time_limit=args.time_limit or 60.0,
                                 margin=args.margin, P_first=args.p_first)
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

    moved = {key: value for key, value in (("csv", args.csv), ("test_csv", args.test_csv)) if value is not None}
    report = evaluate_model_file(args.model, **moved)
    if args.json:
        print(json.dumps(report))
        return 0
    for key in ("dataset", "n_train", "train_accuracy", "n_val", "val_accuracy", "test_accuracy", "n_test"):
        if key in report:
            value = report[key]
            recorded = report.get(f"recorded_{key}")
            beside = f"  (recorded {100 * recorded:.2f}%)" if recorded is not None else ""
            print(f"{key:15s} {100 * value:.2f}%{beside}" if "accuracy" in key and value is not None
                  else f"{key:15s} {value}")
    return 0


def predictions_csv(predictions) -> str:
    """``row,prediction`` lines, quoted by the csv module wherever a label needs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "prediction"])
    writer.writerows((i, label) for i, label in enumerate(predictions))
    return buffer.getvalue()


def cmd_predict(args) -> int:
    from mipnn_pyomo.evaluate import predict_csv
    from mipnn_pyomo.outputs import atomic_write_text, check_writable

    if args.out:
        check_writable(args.out, "--out")
    text = predictions_csv(predict_csv(args.model, args.csv))
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0
