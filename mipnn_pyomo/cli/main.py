"""The ``mipnn`` command line: the parser and ``main``.

    mipnn train --dataset adult --n-train 100 --objective sat-margin --P 1 --hidden 16 --solver highs
    mipnn evaluate --model model.json [--csv TRAIN.csv] [--test-csv TEST.csv]
    mipnn predict --model model.json --csv rows.csv [--out predictions.csv]
    mipnn solvers
    mipnn export ... --format lp|mps --out FILE
    mipnn compare-solvers ...
    mipnn experiment run|report|status ...
    mipnn suite export|run|report ...

Exit codes: 0 success; 2 bad input (one line ``error: ...`` on stderr); 130 / 143 interrupted by
SIGINT / SIGTERM (a training run saves its best network first); 1 an experiment with failed runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

from mipnn_pyomo.cli.compare import add_parsers as add_compare_parsers
from mipnn_pyomo.cli.experiment import add_parsers as add_experiment_parsers
from mipnn_pyomo.cli.export import add_parsers as add_export_parsers
from mipnn_pyomo.cli.solvers import add_parsers as add_solvers_parsers
from mipnn_pyomo.cli.suite import add_parsers as add_suite_parsers
from mipnn_pyomo.cli.train import add_parsers as add_train_parsers
from mipnn_pyomo.errors import MipnnError


class TerminatedBySignal(KeyboardInterrupt):
    """SIGTERM outside a solve (a solve turns it into a clean stop with its best network)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def sigterm_as_interrupt() -> Iterator[list[int]]:
    """While the command runs, SIGTERM raises :class:`TerminatedBySignal` in this process (a
    forked child dies of it as before); the previous handler is restored afterwards.

    A solve handles SIGTERM itself (a clean stop that keeps the incumbent, recorded in
    ``SolveResult.interrupt_signal``) and then calls this handler with ``frame=None``: the signal
    was already dealt with, so that call only records it (in the yielded list) and ``mipnn train``
    saves the network."""
    owner = os.getpid()
    handed_on: list[int] = []

    def handler(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if frame is None:  # handed on by a solve that stopped cleanly on this signal
            handed_on.append(signum)
            return
        raise TerminatedBySignal(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        yield handed_on
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """The library's warnings (e.g. a target that looks continuous) as one ``warning: ...`` line
    on stderr, instead of Python's two-line format with a source line."""
    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        print(f"warning: {message}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``mipnn train: error: ...``) and exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mipnn", description="Train integer-weight neural networks by MIP.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add_parsers in (add_train_parsers, add_solvers_parsers, add_export_parsers, add_compare_parsers,
                        add_experiment_parsers, add_suite_parsers):
        add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed on one line)
        return int(exc.code or 0)
    handed_on: list[int] = []
    try:
        with sigterm_as_interrupt() as handed_on, one_line_warnings():
            args.signals_handed_on = handed_on  # read by commands whose result may lack the signal
            return int(args.func(args) or 0)
    except MipnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a solve interrupted before its first network: the exit code still says interrupted
        signum = getattr(exc, "interrupt_signal", None) or (handed_on[-1] if handed_on else None)
        return 2 if signum is None else 128 + int(signum)
    except TerminatedBySignal as exc:
        print(f"error: interrupted by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover
        return 0
