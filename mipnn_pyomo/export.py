"""Write a training instance as an LP or MPS file, to hand to any solver.

* ``.lp``: Pyomo's LP writer.
* ``.mps``: Pyomo's ``LinearStandardFormCompiler`` compiles the model to matrices (objective
  ``c`` + constant, sparse ``A``, row bounds; equality and ranged rows kept as single rows), which
  go into a ``highspy.HighsLp`` (column bounds, integrality, objective sense) that HiGHS writes
  with ``Highs.writeModel`` (HiGHS's MPS writer: ``MARKER`` lines for integer columns, the
  objective constant as minus the objective row's RHS). Pyomo's own MPS writer gives the same model
  but is 2.5-3x slower (1-3.5 s at N = 280 on Adult, against 0.4-0.8 s).

The output is deterministic: the same data, model options and arguments give the same bytes
(Pyomo walks components in declaration order and indices in their ordered sets).

    >>> export_instance(instance, "adult.mps", format="mps")
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FORMATS = ("lp", "mps")


def format_of(path: Path, format: str | None) -> str:
    from mipnn_pyomo.errors import ModelConfigError

    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ModelConfigError(f"unknown export format {fmt or path.name!r}; use --format lp or mps (or a .lp/.mps file name)")
    return fmt


def export_instance(instance, path, format: str | None = None, readable_names: bool = False) -> Path:
    """Write ``instance.model`` to ``path`` as ``format`` ("lp" or "mps"; default from the suffix).
    ``readable_names`` writes Pyomo component names (``w[1,0,3]``; in MPS, any blank becomes
    ``_``) instead of short ones (LP: ``x1``, ``c1``, ...; MPS: HiGHS's ``c0``, ``r0``, ...).
    Missing parent directories are created; the file is written atomically (temporary file +
    rename). Returns the path."""
    from mipnn_pyomo.gcpause import paused_gc
    from mipnn_pyomo.outputs import atomic_path, check_writable

    path = Path(path)
    fmt = format_of(path, format)
    if fmt == "lp" and getattr(instance, "matrix", None) is not None:  # numpy rows (matrix_form.py): no constraints
        instance.require_pyomo_rows("export to .lp")
    check_writable(path)
    # Pyomo picks the writer from the suffix; name it only when the suffix says otherwise
    # (its LP writer is registered as "cpxlp"/"lp", and format="lp" on a .lp file only adds a warning).
    writer_format = None if path.suffix.lower() == ".lp" else "cpxlp"
    with paused_gc(), atomic_path(path) as tmp:  # tmp keeps the suffix, so the writers see the same name rule
        if fmt == "mps":
            _write_mps(instance, tmp, readable_names)
        else:
            instance.model.write(str(tmp), format=writer_format, io_options={"symbolic_solver_labels": bool(readable_names)})
    return path


def _write_mps(instance, path: Path, readable_names: bool) -> None:
    """The instance's matrices (``instance.standard_form()``: its numpy rows, or
    :func:`~mipnn_pyomo.solvers.standard_form.compile_standard_form`: Pyomo's
    LinearStandardFormCompiler, ranged rows merged back) into a ``highspy.HighsLp`` that HiGHS
    writes as MPS."""
    import highspy

    from mipnn_pyomo.solvers.standard_form import compile_standard_form

    sf = instance.standard_form() if hasattr(instance, "standard_form") else compile_standard_form(instance.model)
    A = sf.A.tocsc()
    A.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(sf.columns), len(sf.row_lower)
    lp.col_cost_, lp.offset_ = sf.cost, sf.offset
    if sf.sense == "maximize":
        lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_lower_, lp.col_upper_ = sf.col_lower, sf.col_upper
    integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [integer if flag else continuous for flag in sf.integer]
    lp.row_lower_, lp.row_upper_ = sf.row_lower, sf.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(np.float64)
    if readable_names:  # HiGHS turns blanks into "_"; without names it writes c0.., r0..
        lp.col_names_ = [v.name for v in sf.columns]
        lp.row_names_ = [sf.row_name(i) for i in range(sf.n_rows)]
    h = _quiet_highs()
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS rejected the compiled model of {instance.model.name!r}")
    if h.writeModel(str(path)) == highspy.HighsStatus.kError:
        raise OSError(f"HiGHS could not write {path}")


def _quiet_highs():
    """A ``highspy.Highs`` that prints nothing: HiGHS prints its banner to the C-level stdout once
    per process, when the first ``Highs`` is made, before any option can be set."""
    import highspy

    with _stdout_to_devnull():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


@contextmanager
def _stdout_to_devnull():
    fd = 1  # the C library's stdout, whatever sys.stdout is
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
