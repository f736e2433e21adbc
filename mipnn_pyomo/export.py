"""Write a training instance as an LP or MPS file (Pyomo's writers), to hand to any solver.

The output is deterministic: the same data, model options and arguments give the same bytes
(Pyomo writes components in declaration order and indices in their ordered sets; ``file_determinism``
is set to its most deterministic level).

    >>> export_instance(instance, "adult.mps", format="mps")
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("lp", "mps")


def _format_of(path: Path, format: str | None) -> str:
    from mipnn_pyomo.errors import ModelConfigError

    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ModelConfigError(f"unknown export format {fmt or path.name!r}; use --format lp or mps (or a .lp/.mps file name)")
    return fmt


def export_instance(instance, path, format: str | None = None, readable_names: bool = False) -> Path:
    """Write ``instance.model`` to ``path`` as ``format`` ("lp" or "mps"; default from the suffix).
    ``readable_names`` writes Pyomo component names (``w[1,0,3]``) instead of ``x1``, ``c1``, ...
    Returns the path."""
    path = Path(path)
    fmt = _format_of(path, format)
    path.parent.mkdir(parents=True, exist_ok=True)
    io_options = {"symbolic_solver_labels": bool(readable_names)}
    if fmt == "mps":
        io_options["file_determinism"] = 2
    # Pyomo picks the writer from the suffix; name it explicitly only when the suffix says otherwise
    # (its LP writer is registered as "cpxlp"/"lp", and format="lp" on a .lp file only adds a warning).
    writer_format = None if path.suffix.lower() == f".{fmt}" else ("cpxlp" if fmt == "lp" else "mps")
    from mipnn_pyomo.instance import paused_gc

    with paused_gc():
        instance.model.write(str(path), format=writer_format, io_options=io_options)
    return path


def export_from_args(args) -> Path:
    """``mipnn export``: sample the data as ``mipnn train`` would, build the instance, write it."""
    from mipnn_pyomo.cli import formulation_from_args, load_data_from_args
    from mipnn_pyomo.formulation import ProblemData
    from mipnn_pyomo.instance import build_instance

    path = Path(args.out)
    fmt = _format_of(path, args.format)
    dataset = load_data_from_args(args)
    X, y, _ = dataset.sample(args.n_train, args.seed)
    data = ProblemData(X, y, dataset.n_classes, tuple(args.hidden or [16]), args.P, dataset.preprocessor.decimals)
    instance = build_instance(data, args.objective, formulation_from_args(args))
    return export_instance(instance, path, fmt, readable_names=args.readable_names)
