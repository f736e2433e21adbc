"""``mipnn export``: the instance ``mipnn train`` would solve, written as .lp or .mps."""

from __future__ import annotations

from pathlib import Path

from mipnn_pyomo.cli.options import (
    add_data_arguments,
    add_model_arguments,
    formulation_from_args,
    load_data_from_args,
    sample_seed,
)


def add_parsers(sub) -> None:
    p = sub.add_parser("export", help="write the instance a solver would get as .lp or .mps")
    add_data_arguments(p)
    add_model_arguments(p)
    p.add_argument("--format", choices=["lp", "mps"], help="file format (default: from --out's suffix)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="output file (checked before the build; missing directories are created)")
    p.add_argument("--readable-names", action="store_true", help="Pyomo component names instead of x1, c1, ...")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_export)


def export_from_args(args) -> Path:
    """Sample the data as ``mipnn train`` would, build the instance, write it."""
    from mipnn_pyomo.export import export_instance, format_of
    from mipnn_pyomo.formulation import ProblemData
    from mipnn_pyomo.instance import build_instance
    from mipnn_pyomo.outputs import check_writable

    path = Path(args.out)
    fmt = format_of(path, args.format)
    check_writable(path, "--out")
    dataset = load_data_from_args(args)
    X, y, _ = dataset.sample(args.n_train, sample_seed(args))
    data = ProblemData(X, y, dataset.n_classes, tuple(args.hidden), args.P, dataset.preprocessor.decimals)
    instance = build_instance(data, args.objective, formulation_from_args(args))
    return export_instance(instance, path, fmt, readable_names=args.readable_names)


def cmd_export(args) -> int:
    path = export_from_args(args)
    if not args.quiet:
        print(f"wrote {path}")
    return 0
