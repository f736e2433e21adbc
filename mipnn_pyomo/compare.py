"""``mipnn compare-solvers``: the same instances on several solvers, one row per
(solver, objective, seed), as a text table, CSV or Markdown.

A solver that is not installed, or whose licence is too small for the instance, still gets a row
(status ``unavailable``) with the reason, so a table never silently drops a solver. The command
line part lives in :mod:`mipnn_pyomo.cli.compare`; this module takes plain values.
"""

from __future__ import annotations

import math
import signal
from typing import Any, Sequence

import pandas as pd

from mipnn_pyomo.errors import MipnnError, NoSolutionError, SolverUnavailableError

COLUMNS = [
    "solver",
    "objective",
    "seed",
    "status",
    "time_to_target_s",
    "objective_value",
    "bound",
    "gap",
    "train_acc",
    "test_acc",
    "runtime_s",
    "note",
]


def time_to_target(incumbents, target: float | None) -> float | None:
    """Seconds from the start of the solve to the first incumbent whose training accuracy (forward
    pass) reaches ``target``; None if none did."""
    if target is None:
        return None
    for inc in incumbents:
        if inc.train_accuracy >= target - 1e-12:
            return float(inc.time_s)
    return None


def run_one(dataset, n_train: int, seed: int, solver: str, objective: str, target: float | None, **kwargs) -> dict[str, Any]:
    """One row of the comparison; every failure becomes a row with its reason. A solve stopped by
    a signal adds the key ``interrupt_signal`` (its number) to the row."""
    from mipnn_pyomo.solvers import get_solver
    from mipnn_pyomo.training import train_on_dataset

    row: dict[str, Any] = {c: None for c in COLUMNS}
    row.update(solver=solver, objective=objective, seed=seed, note="")
    try:
        adapter = get_solver(solver)
    except MipnnError as exc:
        row.update(status="unavailable", note=str(exc))
        return row
    ok, reason = adapter.availability()
    if not ok:
        row.update(status="unavailable", note=reason)
        return row
    try:
        run = train_on_dataset(dataset, n_train, seed, objective=objective, solver=solver,
                               target_accuracy=target, **kwargs)
    except SolverUnavailableError as exc:
        row.update(status="unavailable", note=str(exc))
        return row
    except NoSolutionError as exc:
        row.update(status="no_solution", note=str(exc))
        return row
    except MipnnError as exc:
        row.update(status="error", note=str(exc))
        return row
    res = run.result
    s = res.solve
    row.update(
        status=s.termination.value,
        time_to_target_s=time_to_target(s.incumbents, target),
        objective_value=s.objective,
        bound=s.bound,
        gap=s.gap,
        train_acc=res.train_accuracy,
        test_acc=run.test_accuracy,
        runtime_s=res.runtime_s,
        note="" if res.exactness is None or res.exactness.ok else "EXACTNESS MISMATCH",
    )
    if target is not None and not adapter.capabilities.accuracy_target_callback:
        row["note"] = (row["note"] + "; " if row["note"] else "") + "no incumbent callback: times are final-solution times"
    if s.termination.value == "interrupted":
        row["interrupt_signal"] = getattr(s, "interrupt_signal", None) or int(signal.SIGINT)
    return row


def compare(
    dataset,
    n_train: int,
    *,
    objectives: Sequence[str],
    solvers: Sequence[str],
    seeds: Sequence[int],
    target_accuracy: float | None = 0.9,
    progress=None,
    on_incumbent=None,
    **train_kwargs,
) -> pd.DataFrame:
    """One row per (objective, seed, solver), in that nesting order; ``progress(row)`` after each
    run, ``on_incumbent(incumbent)`` on each improving solution. A solve interrupted by a signal
    (Ctrl-C, SIGTERM) ends the comparison: the table holds the rows so far, the interrupted one
    included, and ``df.attrs["interrupt_signal"]`` is the signal's number."""
    rows = []
    cells = ((objective, seed, solver) for objective in objectives for seed in seeds for solver in solvers)
    interrupt = None
    for objective, seed, solver in cells:
        try:
            row = run_one(dataset, n_train, seed, solver, objective, target_accuracy, progress=on_incumbent,
                          **train_kwargs)
        except KeyboardInterrupt as exc:  # a signal outside the solver's own clean stop: no network
            row = {c: None for c in COLUMNS} | dict(solver=solver, objective=objective, seed=seed, status="interrupted",
                                                   note="interrupted before a network was found")
            row["interrupt_signal"] = getattr(exc, "signum", None) or int(signal.SIGINT)
        interrupt = row.pop("interrupt_signal", None)
        rows.append(row)
        if progress is not None:
            progress(row)
        if interrupt is not None:
            break
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["interrupt_signal"] = interrupt
    return df


def _fmt(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if kind == "acc":
        return f"{100 * value:.1f}%"
    if kind == "gap":
        return f"{100 * value:.2f}%"
    if kind == "s":
        return f"{value:.2f}"
    if kind == "num":
        return f"{value:.4g}"
    return str(value)


_KINDS = {"time_to_target_s": "s", "runtime_s": "s", "objective_value": "num", "bound": "num", "gap": "gap",
          "train_acc": "acc", "test_acc": "acc"}


def formatted(df: pd.DataFrame) -> pd.DataFrame:
    """Rounded, human-readable strings (accuracies and gaps in %)."""
    out = df.copy().astype(object)
    for col in df.columns:
        out[col] = [_fmt(v, _KINDS.get(col, "str")) for v in df[col]]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (no ``tabulate`` dependency)."""
    f = formatted(df)
    cells = lambda row: "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"  # noqa: E731
    lines = [cells(f.columns), "|" + "|".join("---" for _ in f.columns) + "|"]
    lines += [cells(row) for row in f.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def render(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return df.to_csv(index=False)
    if fmt == "markdown":
        return to_markdown(df)
    return formatted(df).to_string(index=False) + "\n"
