"""The batch-training driver: epochs of rounds of batch tasks on an executor, the method's
combination step, a checkpoint after every round (so after every epoch), the whole-run time
limit, and a clean stop on Ctrl-C / SIGTERM that keeps the best network so far.

Resume: a round is either complete (combined and checkpointed) or discarded; every choice depends
on (seed, epoch, batch) only, so a resumed run repeats exactly what the uninterrupted run does after
its last checkpoint (provided each batch solve ends by its own deterministic criterion: optimality,
the HiGHS node limit or a converged local search, not the per-batch time cap).
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from mipnn_pyomo.batch.checkpoint import load_checkpoint, save_checkpoint
from mipnn_pyomo.batch.config import BatchConfig
from mipnn_pyomo.batch.context import RunContext
from mipnn_pyomo.batch.executor import make_executor
from mipnn_pyomo.batch.local import LocalMethod
from mipnn_pyomo.batch.neighbourhood_method import STEP_STATS, NeighbourhoodMethod
from mipnn_pyomo.batch.progress import BatchProgress
from mipnn_pyomo.batch.reference import AverageMethod
from mipnn_pyomo.batch.split import make_split
from mipnn_pyomo.errors import NoSolutionError
from mipnn_pyomo.network import IntegerNetwork

SUMMED_STATS = ("batches", "exact_batches", "accepted", *STEP_STATS)
METHOD_CLASSES = {"average": AverageMethod, "local": LocalMethod, "neighbourhood": NeighbourhoodMethod}
MIN_BATCH_TIME = 1.0


@dataclass
class BatchResult:
    network: IntegerNetwork
    config: BatchConfig
    history: list[dict[str, Any]]
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    runtime_s: float
    batches_solved: int
    exact_batches: int
    stopped: str | None = None  # "time_limit", "SIGINT", "SIGTERM" or None (all epochs ran)
    interrupt_signal: int | None = None
    resumed: bool = False
    best_epoch: int = -1

    def summary(self) -> dict[str, Any]:
        return {"method": self.config.method, "engine": self.config.engine, "train_accuracy": self.train_accuracy,
                "val_accuracy": self.val_accuracy, "test_accuracy": self.test_accuracy, "runtime_s": self.runtime_s,
                "batches_solved": self.batches_solved, "exact_batches": self.exact_batches, "stopped": self.stopped,
                "best_epoch": self.best_epoch, "epochs_done": len(self.history), "resumed": self.resumed}


class StopFlag:
    """Set by SIGINT / SIGTERM (main thread only) or by the driver itself."""

    def __init__(self):
        self.signal: int | None = None
        self.reason: str | None = None

    def set(self, reason: str, signum: int | None = None) -> None:
        if self.reason is None:
            self.reason, self.signal = reason, signum

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):  # noqa: ARG001
            self.set(signal.Signals(signum).name, signum)

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


@dataclass
class RunProgress:
    """What a checkpoint holds besides the settings: where the run is and what it has so far."""

    state: dict
    epoch: int = 0
    round: int = 0
    history: list = field(default_factory=list)
    best: dict | None = None
    epoch_stats: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    batches_solved: int = 0
    exact_batches: int = 0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("state", "epoch", "round", "history", "best", "epoch_stats",
                                              "elapsed_s", "batches_solved", "exact_batches")}

    def offer_best(self, vector, val_accuracy: float, train_accuracy: float, epoch: int) -> None:
        if self.best is None or val_accuracy > self.best["val_accuracy"]:
            self.best = {"vector": [int(v) for v in vector], "val_accuracy": val_accuracy,
                         "train_accuracy": train_accuracy, "epoch": epoch}


def train_batched(dataset, config: BatchConfig, *, checkpoint=None, scheduler: str | None = None,
                  workers: int | None = None, progress: bool = True, stream: TextIO | None = None,
                  stop_after_rounds: int | None = None) -> BatchResult:
    """Train on ``dataset``'s pool by ``config.method``; see the module docstring. ``workers=0``
    runs the batches in this process; otherwise on Dask (``scheduler``: an address, default a
    LocalCluster with ``workers`` processes, one per core). ``stop_after_rounds`` stops (as a kill
    would, after that many checkpointed rounds of this session): for tests."""
    t0 = time.perf_counter()
    split = make_split(dataset, config)
    ctx = RunContext.from_dataset(dataset, config, split)
    method = METHOD_CLASSES[config.method](ctx)
    saved = load_checkpoint(checkpoint, config.run_key()) if checkpoint else None
    flag = StopFlag()
    with flag.installed():  # from here on Ctrl-C / SIGTERM stop cleanly (after the GD start, if in it)
        if saved is not None:
            run = RunProgress(**{k: saved[k] for k in RunProgress(state={}).to_dict()})
        else:
            run = RunProgress(state=method.initial_state())
            start = method.current(run.state)
            if start is not None:
                run.offer_best(start, ctx.val_accuracy(start), ctx.train_accuracy(start), -1)
            _save(checkpoint, config, run, t0)
        bar = BatchProgress(config.n_epochs, sum(len(r) for r in method.rounds(0)), stream, progress,
                            done_before=run.batches_solved)
        executor = make_executor(scheduler, workers)
        bar.message(f"batch training ({config.method}, engine {config.engine}): {len(split.train)} training rows, "
                    f"{len(split.val)} validation rows, {config.n_epochs} epochs, on {executor.description}")
        try:
            partial = _run_epochs(method, ctx, run, executor, flag, bar, checkpoint, t0, stop_after_rounds)
        finally:
            executor.close()
    return _finish(dataset, ctx, method, run, partial, flag, t0, resumed=saved is not None)


def _run_epochs(method, ctx, run: RunProgress, executor, flag: StopFlag, bar: BatchProgress, checkpoint,
                t0: float, stop_after_rounds: int | None) -> list:
    """Rounds until the last epoch, a stop or the time limit; returns a cut-short round's finished outcomes."""
    config = ctx.config
    deadline = None if config.time_limit is None else t0 + config.time_limit - run.elapsed_s
    rounds_done = 0
    while run.epoch < config.n_epochs:
        rounds = method.rounds(run.epoch)
        remaining = deadline - time.perf_counter() if deadline is not None else None
        if remaining is not None and remaining <= 0:
            flag.set("time_limit")
        if flag.reason or (stop_after_rounds is not None and rounds_done >= stop_after_rounds):
            flag.set("stopped")
            return []
        batch_time = config.batch_time if remaining is None else max(MIN_BATCH_TIME, min(config.batch_time, remaining))
        tasks = method.tasks(run.state, run.epoch, rounds[run.round], batch_time)
        outcomes = executor.run(tasks, lambda: _should_stop(flag, deadline),
                                lambda o: _on_done(o, run, bar, flag))
        if flag.reason or any(o is None for o in outcomes):  # a stopped round is discarded, never saved
            flag.set("time_limit")
            return [o for o in outcomes if o is not None]
        _complete_round(method, ctx, run, outcomes, rounds)
        if run.round == 0:
            bar.update(run.epoch - 1, _best_val(run), force=True)
        _save(checkpoint, config, run, t0)
        rounds_done += 1
    return []


def _should_stop(flag: StopFlag, deadline: float | None) -> bool:
    if deadline is not None and time.perf_counter() >= deadline:
        flag.set("time_limit")
    return flag.reason is not None


def _on_done(outcome, run: RunProgress, bar: BatchProgress, flag: StopFlag) -> None:
    if outcome.termination == "interrupted":  # the solver caught Ctrl-C / SIGTERM (serial mode)
        signum = outcome.details.get("interrupt_signal") or int(signal.SIGINT)
        flag.set(signal.Signals(signum).name, int(signum))
    bar.tick(run.epoch, _best_val(run))


def _best_val(run: RunProgress) -> float | None:
    return None if run.best is None else run.best["val_accuracy"]


def _complete_round(method, ctx: RunContext, run: RunProgress, outcomes: list, rounds: list) -> None:
    """Combine the round; at an epoch end, evaluate the current network and record the epoch."""
    new_state = method.combine(run.state, run.epoch, outcomes)
    record = new_state.pop("record", {})
    run.state = new_state
    run.batches_solved += len(outcomes)
    run.exact_batches += sum(o.exact for o in outcomes)
    for key, value in record.items():
        run.epoch_stats[key] = run.epoch_stats.get(key, 0) + value if key in SUMMED_STATS else value
    run.epoch_stats["solve_s"] = run.epoch_stats.get("solve_s", 0.0) + sum(o.wall_s for o in outcomes)
    run.round += 1
    if run.round < len(rounds):
        return
    current = method.current(run.state)
    entry = {"epoch": run.epoch, **run.epoch_stats}
    if current is not None:
        val, train = ctx.val_accuracy(current), ctx.train_accuracy(current)
        entry.update(val_accuracy=val, train_accuracy=train)
        run.offer_best(current, val, train, run.epoch)
    run.history.append(entry)
    run.epoch, run.round, run.epoch_stats = run.epoch + 1, 0, {}


def _save(checkpoint, config: BatchConfig, run: RunProgress, t0: float) -> None:
    if checkpoint:
        payload = run.to_dict()
        payload["elapsed_s"] = run.elapsed_s + time.perf_counter() - t0
        save_checkpoint(checkpoint, config.run_key(), config.to_dict(), payload)


def _finish(dataset, ctx: RunContext, method, run: RunProgress, partial: list, flag: StopFlag, t0: float,
            resumed: bool) -> BatchResult:
    """The best network by validation accuracy, its record, and its test accuracy (the first and
    only use of the test rows)."""
    config = ctx.config
    if run.best is None and partial:  # cut short before the first epoch ended: use what finished
        state = method.combine(run.state, run.epoch, [o for o in partial if o.exact])
        current = method.current(state)
        if current is not None:
            run.offer_best(current, ctx.val_accuracy(current), ctx.train_accuracy(current), run.epoch)
    current = method.current(run.state)
    if flag.reason not in (None, "stopped") and current is not None:  # cut short: the moves kept so far count too
        run.offer_best(current, ctx.val_accuracy(current), ctx.train_accuracy(current), run.epoch)
    if run.best is None:
        raise NoSolutionError("batch training stopped before any batch finished: no network to return")
    network = ctx.network(run.best["vector"])
    network.classes = list(dataset.classes)
    if getattr(dataset, "preprocessor", None) is not None:
        network.preprocessing = dataset.preprocessor.to_dict()
    has_test = dataset.X_test is not None and len(dataset.X_test) > 0
    test_accuracy = network.accuracy(dataset.X_test, dataset.y_test) if has_test else float("nan")
    runtime = run.elapsed_s + time.perf_counter() - t0
    stopped = None if flag.reason == "stopped" and run.epoch >= config.n_epochs else flag.reason
    network.training = _training_record(dataset, ctx, run, test_accuracy, runtime, stopped)
    return BatchResult(network, config, run.history, run.best["train_accuracy"], run.best["val_accuracy"],
                       test_accuracy, runtime, run.batches_solved, run.exact_batches, stopped, flag.signal,
                       resumed, int(run.best["epoch"]))


def _training_record(dataset, ctx: RunContext, run: RunProgress, test_accuracy: float, runtime: float,
                     stopped: str | None) -> dict:
    split = ctx.split.record(ctx.config)
    return {
        **(dataset.source or {}),
        "method": "batch",
        "objective": ctx.config.objective,
        "solver": ctx.config.solver,
        "seed": ctx.config.seed,
        "n_train": ctx.config.n_train if ctx.config.n_train is not None else "all",
        "train_indices": split.pop("train_indices"),
        "val_indices": split.pop("val_indices"),
        "batch": {"config": ctx.config.to_dict(), "split": split, "history": run.history,
                  "best_epoch": run.best["epoch"], "batches_solved": run.batches_solved,
                  "exact_batches": run.exact_batches, "stopped": stopped},
        "train_accuracy": run.best["train_accuracy"],
        "val_accuracy": run.best["val_accuracy"],
        "test_accuracy": test_accuracy,
        "runtime_s": runtime,
    }
