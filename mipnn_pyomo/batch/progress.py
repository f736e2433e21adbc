"""A one-line progress bar on stderr: epoch, batch, best validation accuracy, elapsed and ETA.
On a terminal the line is redrawn in place; otherwise a line is printed at most every 30 s and at
every epoch end."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class BatchProgress:
    """Counts finished batches (``tick``) and shows the bar; ``done_before`` are batches finished
    in an earlier session (resume), so the ETA covers only what is left."""

    def __init__(self, epochs: int, batches_per_epoch: int, stream: TextIO | None = None, enabled: bool = True,
                 every_s: float = 30.0, done_before: int = 0):
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.t0 = time.perf_counter()
        self.done_before = done_before
        self.done_this_session = 0
        self.last_print = 0.0

    def line(self, epoch: int, best_val: float | None) -> str:
        elapsed = time.perf_counter() - self.t0
        done = self.done_before + self.done_this_session
        in_epoch = done - epoch * self.batches_per_epoch
        left = self.epochs * self.batches_per_epoch - done
        eta = elapsed / self.done_this_session * left if self.done_this_session else None
        width = 20
        filled = min(width, max(0, int(width * in_epoch / max(1, self.batches_per_epoch))))
        best = "-" if best_val is None else f"{100 * best_val:.2f}%"
        return (f"epoch {min(epoch + 1, self.epochs)}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                f"batch {max(0, in_epoch)}/{self.batches_per_epoch} | best val {best} | "
                f"elapsed {format_duration(elapsed)} | ETA {format_duration(eta)}")

    def tick(self, epoch: int, best_val: float | None) -> None:
        self.done_this_session += 1
        self.update(epoch, best_val)

    def update(self, epoch: int, best_val: float | None, force: bool = False) -> None:
        """Show the state (``force``: always print, e.g. at an epoch end)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        text = self.line(epoch, best_val)
        if self.tty:
            print("\r" + text.ljust(110), end="\n" if force else "", file=self.stream, flush=True)
        elif force or now - self.last_print >= self.every_s:
            print(text, file=self.stream, flush=True)
            self.last_print = now

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
