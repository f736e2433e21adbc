"""Where batch tasks run: in this process (``workers=0``), or on Dask (a LocalCluster started here
with one single-threaded worker process per core, or an existing scheduler's address).

``run(tasks, should_stop, on_done)`` returns the outcomes in task order, with None for a task that
did not finish because ``should_stop()`` turned true (the remaining work is cancelled)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Callable

from mipnn_pyomo.batch.solve import run_batch_task
from mipnn_pyomo.errors import ConfigError


def run_task(task):
    """Run one task of any method in this process (batch MIP, or a ``neighbourhood`` step)."""
    from mipnn_pyomo.batch.neighbourhood import NeighbourhoodTask

    if isinstance(task, NeighbourhoodTask):
        from mipnn_pyomo.batch.neighbourhood_mip import run_neighbourhood_task

        return run_neighbourhood_task(task)
    return run_batch_task(task)


class SerialExecutor:
    description = "this process"

    def run(self, tasks: list, should_stop: Callable[[], bool], on_done: Callable) -> list:
        out = [None] * len(tasks)
        for i, task in enumerate(tasks):
            if should_stop():
                break
            out[i] = run_task(task)
            on_done(out[i])
        return out

    def close(self) -> None:
        pass


class DaskExecutor:
    """Tasks as Dask futures; polled so that a stop request or the time limit is seen within 0.2 s."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            import distributed
        except ImportError:
            raise ConfigError("batch training on Dask needs Dask distributed: pip install 'mipnn-pyomo[dask]'") from None
        self.cluster = None
        if address in (None, "local"):
            n = max(1, workers or os.cpu_count() or 1)
            with warnings.catch_warnings():  # "port 8787 in use": its HTTP server moves to another port
                warnings.simplefilter("ignore", UserWarning)
                self.cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                        dashboard_address=None, silence_logs=logging.ERROR)
            address = self.cluster.scheduler_address
            self.description = f"a local Dask cluster ({n} worker process{'es' if n > 1 else ''})"
        else:
            self.description = f"the Dask scheduler at {address}"
        try:
            self.client = distributed.Client(address, timeout="30s", set_as_default=False)
        except OSError as exc:
            self.close()
            raise ConfigError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None

    def run(self, tasks: list, should_stop: Callable[[], bool], on_done: Callable) -> list:
        futures = [self.client.submit(run_task, task, pure=False) for task in tasks]
        out = [None] * len(tasks)
        pending = set(range(len(tasks)))
        try:
            while pending and not should_stop():
                finished = [i for i in pending if futures[i].done()]
                for i in finished:
                    pending.discard(i)
                    try:
                        out[i] = futures[i].result()  # a worker's exception is raised here ...
                    except Exception:
                        if should_stop():  # ... unless Ctrl-C also reached the worker: then unfinished
                            break
                        raise
                    on_done(out[i])
                if not finished:
                    time.sleep(0.2)
        finally:
            for i in pending:
                futures[i].cancel()
        return out

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def make_executor(scheduler: str | None, workers: int | None):
    """``workers=0`` (and no scheduler): this process; otherwise Dask."""
    if scheduler is None and workers == 0:
        return SerialExecutor()
    return DaskExecutor(scheduler, workers)
