"""Run an experiment grid: each cell in a worker (process pool, Dask, or this process), each finished
run written to the results database at once by this (the parent) process.

* Resume: cells whose run is recorded as ``done`` are skipped; ``failed`` ones too unless
  ``retry_failed``; ``interrupted`` ones (a solver stopped by Ctrl-C) are run again.
* A cell that raises is recorded as ``failed`` with its error; the others go on.
* Progress (stderr): one line per finished cell with done/total, failures and an ETA; the latest
  incumbent of each running MIP cell (time, training accuracy, gap), sent from the workers through a
  ``multiprocessing.Manager`` queue; a summary of the running cells every minute.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import multiprocessing
import os
import queue as queue_mod
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.experiments.config import BASELINES_METHOD, GD_METHOD, ExperimentConfig
from mipnn_pyomo.experiments.store import ResultStore, utc_now

__all__ = ["run_experiment", "execute_task", "make_tasks", "RunSummary", "default_workers"]


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@functools.cache
def package_version() -> str:
    """``<version>+src.<hash>``: the distribution version and a hash of the package's Python sources
    as this process found them, so runs made by different code are told apart (the report warns)."""
    import hashlib

    import mipnn_pyomo

    try:
        from importlib.metadata import version

        v = version("mipnn-pyomo")
    except Exception:  # pragma: no cover - not installed as a distribution
        v = getattr(mipnn_pyomo, "__version__", "unknown")
    h = hashlib.sha256()
    try:
        root = Path(mipnn_pyomo.__file__).resolve().parent
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
        return f"{v}+src.{h.hexdigest()[:10]}"
    except OSError:  # pragma: no cover
        return v


# ------------------------------------------------------------------------------------ tasks


def make_tasks(config: ExperimentConfig) -> list[dict[str, Any]]:
    """One plain (picklable) dict per cell, with everything a worker needs."""
    tasks = []
    for cell in config.cells():
        tasks.append(
            {
                "cell_key": config.cell_key(cell),
                "label": cell.label(),
                "experiment": config.name,
                "config_hash": config.config_hash,
                "dataset": config.dataset,
                "decimals": config.decimals,
                "method": cell.method,
                "P": cell.P,
                "n_train": cell.n_train,
                "seed": cell.seed,
                "solver": cell.solver,
                "options": cell.options,
                "hidden": list(config.hidden),
                "time_limit": config.time_limit,
                "target_accuracy": config.target_accuracy,
                "threads": config.threads,
                "formulation": dict(config.formulation),
            }
        )
    return tasks


def _load_dataset(task: dict[str, Any]):
    """The task's data set, parsed once per process (and per data source and grid)."""
    import json

    return _cached_dataset(json.dumps([task["dataset"], task["decimals"]], sort_keys=True))


@functools.lru_cache(maxsize=4)
def _cached_dataset(key: str):
    import json

    from mipnn_pyomo.data import load_dataset

    source, decimals = json.loads(key)
    return load_dataset(source, decimals=decimals)


def _run_mip(task, dataset, progress) -> dict[str, Any]:
    from mipnn_pyomo.formulation import FormulationOptions
    from mipnn_pyomo.training import train_on_dataset

    record = train_on_dataset(
        dataset,
        task["n_train"],
        task["seed"],
        hidden=tuple(task["hidden"]),
        P=task["P"],
        objective=task["method"],
        solver=task["solver"],
        time_limit=task["time_limit"],
        target_accuracy=task["target_accuracy"],
        threads=task["threads"],
        formulation=FormulationOptions(**task["formulation"]),
        solver_options=dict(task["options"]) or None,
        progress=progress,
    )
    return _run_fields(record)


def _run_gd(task, dataset) -> dict[str, Any]:
    from mipnn_pyomo.training import train_gd_on_dataset

    record = train_gd_on_dataset(dataset, task["n_train"], task["seed"], hidden=tuple(task["hidden"]), P=task["P"],
                                 target_accuracy=task["target_accuracy"], time_limit=task["time_limit"],
                                 **dict(task["options"]))
    fields = _run_fields(record)
    fields["solver_version"] = package_version()
    fields["summary_json"]["options"] = task["options"]
    return fields


def _run_fields(record) -> dict[str, Any]:
    """The database columns of a finished run from its TrainingRecord (every method alike)."""
    summary = record.summary()
    incumbents = summary.pop("incumbents", None)
    if incumbents is None and record.gd is not None:
        incumbents = list(record.gd.history or [])
    return {
        "state": "interrupted" if record.status == "interrupted" else "done",
        "status": record.status,
        "hit_time_limit": record.status == "time_limit",
        "target_reached": bool(record.target_reached),
        "runtime_s": record.runtime_s,
        "build_s": record.build_s,
        "solve_s": record.solve_s,
        "train_accuracy": record.train_accuracy,
        "test_accuracy": record.test_accuracy,
        "objective_value": summary.get("objective_value"),
        "objective_bound": summary.get("objective_bound"),
        "gap": summary.get("gap"),
        "solver_name": summary.get("solver"),
        "solver_version": summary.get("solver_version"),
        "network_json": record.network.to_json(indent=None),
        "incumbents_json": incumbents or [],
        "summary_json": summary,
    }


def _run_baselines(task, dataset) -> dict[str, Any]:
    from mipnn_pyomo.baselines import reference_baselines

    X, y, rows = dataset.sample(task["n_train"], task["seed"])
    b = reference_baselines(X, y, dataset.X_test, dataset.y_test, seed=task["seed"])
    return {
        "state": "done",
        "status": "done",
        "hit_time_limit": False,
        "runtime_s": sum(float(v.get("runtime_s", 0.0)) for v in b.values()),
        "solver_name": "scikit-learn",
        "solver_version": _sklearn_version(),
        "summary_json": {"baselines": b, "train_indices": [int(i) for i in rows]},
    }


def _sklearn_version() -> str:
    try:
        import sklearn

        return sklearn.__version__
    except Exception:  # pragma: no cover
        return "unknown"


def execute_task(task: dict[str, Any], progress: Callable | None = None) -> dict[str, Any]:
    """Run one cell and return its database record. Exceptions become a ``failed`` record (the
    error text and the traceback's tail); KeyboardInterrupt propagates."""
    started = utc_now()
    t0 = time.perf_counter()
    record: dict[str, Any] = {
        k: task[k]
        for k in ("cell_key", "experiment", "config_hash", "method", "P", "n_train", "seed", "solver",
                  "hidden", "time_limit", "target_accuracy", "threads")
    }
    record["dataset"] = task["dataset"].get("dataset")
    record["package_version"] = package_version()
    record["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    record["started_at"] = started
    try:
        dataset = _load_dataset(task)
        if task["method"] == BASELINES_METHOD:
            out = _run_baselines(task, dataset)
        elif task["method"] == GD_METHOD:
            out = _run_gd(task, dataset)
        else:
            out = _run_mip(task, dataset, progress)
        record.update(out)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, the grid goes on
        tb = traceback.format_exc().strip().splitlines()
        record.update(
            {
                "state": "failed",
                "status": "no_solution" if type(exc).__name__ == "NoSolutionError" else "error",
                "hit_time_limit": "time limit" in str(exc),
                "error": f"{type(exc).__name__}: {exc}\n" + "\n".join(tb[-15:]),
            }
        )
    record["wall_s"] = time.perf_counter() - t0
    record["finished_at"] = utc_now()
    return record


# ------------------------------------------------------------------------------------ workers

PARENT_GONE_EXIT_CODE = 70


def _child_pids(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc; empty where there is no /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # fields after the command name "(...)": state, ppid, ...
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            children.append(int(stat.parent.name))
    return children


def watch_parent(alive) -> None:
    """Parent-death check for a pool worker or the progress manager: a daemon thread blocks on
    ``alive``, the read end of a pipe whose only write end the parent (the ``experiment run``
    process) holds. End of file means the parent is gone, even after SIGKILL: the thread kills this
    process's own children (e.g. a CBC subprocess) and exits at once. Its cell is not recorded, so
    the next run of the same command runs it again."""

    def watch() -> None:
        try:
            while True:
                alive.recv_bytes()  # the parent never writes: this returns only at EOF (an error)
        except (EOFError, OSError):
            pass
        for pid in _child_pids(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(PARENT_GONE_EXIT_CODE)

    threading.Thread(target=watch, name="mipnn-parent-watch", daemon=True).start()


def _worker_init(alive=None) -> None:
    if alive is not None:
        watch_parent(alive)
    # the parent decides about Ctrl-C; a worker's solve stops on SIGTERM from the parent only
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # pragma: no cover
        pass


def _queue_progress(q, key: str):
    if q is None:
        return None

    def send(inc) -> None:
        try:
            q.put(("inc", key, inc.to_dict() if hasattr(inc, "to_dict") else dict(inc)))
        except Exception:  # pragma: no cover - progress must never break a run
            pass

    return send


def _pool_entry(task: dict[str, Any], q=None) -> dict[str, Any]:
    """A cell in a pool worker; ``q`` (a manager queue, or None) carries its progress to the parent."""
    if q is not None:
        try:
            q.put(("start", task["cell_key"], time.time()))
        except Exception:  # pragma: no cover
            q = None
    return execute_task(task, _queue_progress(q, task["cell_key"]))


# ------------------------------------------------------------------------------------ progress


def _fmt_duration(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


@dataclass
class RunSummary:
    experiment: str
    total: int
    skipped_done: int = 0
    skipped_failed: int = 0
    done: int = 0
    failed: int = 0
    interrupted: int = 0
    elapsed_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.done + self.failed + self.interrupted


class Progress:
    """Progress lines on ``stream``; ``quiet`` prints nothing."""

    def __init__(self, summary: RunSummary, todo: int, stream: TextIO | None, quiet: bool, labels: dict[str, str],
                 heartbeat_s: float = 60.0, incumbent_every_s: float = 5.0):
        self.s = summary
        self.todo = todo
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.labels = labels
        self.t0 = time.time()
        self.running: dict[str, dict[str, Any]] = {}
        self.heartbeat_s = heartbeat_s
        self.incumbent_every_s = incumbent_every_s
        self.last_heartbeat = time.time()

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def header(self) -> str:
        finished = self.s.ran
        elapsed = time.time() - self.t0
        eta = (self.todo - finished) * elapsed / finished if finished else None
        done_total = self.s.skipped_done + self.s.skipped_failed + finished
        return (
            f"[{done_total}/{self.s.total} cells | failed {self.s.failed + self.s.skipped_failed} | "
            f"running {len(self.running)} | elapsed {_fmt_duration(elapsed)} | ETA {_fmt_duration(eta) if finished else '?'}]"
        )

    def start(self, key: str, when: float | None = None) -> None:
        self.running[key] = {"since": when or time.time(), "inc": None, "printed": 0.0}

    def incumbent(self, key: str, inc: dict[str, Any]) -> None:
        r = self.running.setdefault(key, {"since": time.time(), "inc": None, "printed": 0.0})
        r["inc"] = inc
        now = time.time()
        if now - r["printed"] >= self.incumbent_every_s:
            r["printed"] = now
            self._print(f"    {self.labels.get(key, key)}: {self._inc_text(inc)}")

    @staticmethod
    def _inc_text(inc: dict[str, Any]) -> str:
        from mipnn_pyomo.solvers.base import relative_gap

        gap = relative_gap(inc.get("objective"), inc.get("bound"))
        gap_s = f"{100 * gap:.1f}%" if gap is not None else "-"
        return f"incumbent at {inc.get('time_s', 0):.1f} s: train {_pct(inc.get('train_accuracy'))}, gap {gap_s}"

    def finish(self, rec: dict[str, Any]) -> None:
        key = rec["cell_key"]
        self.running.pop(key, None)
        label = self.labels.get(key, key)
        state = rec.get("state")
        if state == "done":
            self.s.done += 1
            if rec["method"] == BASELINES_METHOD:
                b = (rec.get("summary_json") or {}).get("baselines", {})
                detail = ", ".join(f"{k} test {_pct(v.get('test_accuracy'))}" for k, v in b.items())
            else:
                detail = (
                    f"{rec.get('status')}: train {_pct(rec.get('train_accuracy'))}, test {_pct(rec.get('test_accuracy'))}, "
                    f"{rec.get('runtime_s') or 0:.1f} s"
                )
        elif state == "interrupted":
            self.s.interrupted += 1
            detail = "interrupted (will be rerun)"
        else:
            self.s.failed += 1
            first = (rec.get("error") or "").splitlines()[0] if rec.get("error") else "?"
            self.s.failures.append(f"{label}: {first}")
            detail = f"FAILED: {first}"
        self._print(f"{self.header()} {label}: {detail}")

    def tick(self) -> None:
        now = time.time()
        if now - self.last_heartbeat < self.heartbeat_s:
            return
        self.last_heartbeat = now
        self._print(self.header())
        for key, r in self.running.items():
            inc = r.get("inc")
            text = self._inc_text(inc) if inc else "no incumbent yet"
            self._print(f"    running {self.labels.get(key, key)} for {now - r['since']:.0f} s; {text}")


# ------------------------------------------------------------------------------------ drivers


def _run_in_process(tasks, store, progress: Progress) -> None:
    for task in tasks:
        key = task["cell_key"]
        progress.start(key)
        cb = None if progress.quiet else (lambda inc, key=key: progress.incumbent(key, inc.to_dict()))
        rec = execute_task(task, cb)
        store.record(rec)
        progress.finish(rec)


def _drain(q, progress: Progress) -> None:
    if q is None:
        return
    while True:
        try:
            kind, key, payload = q.get_nowait()
        except queue_mod.Empty:
            return
        except (EOFError, OSError):  # manager gone
            return
        if kind == "start":
            progress.start(key, payload)
        elif kind == "inc":
            progress.incumbent(key, payload)


def _mp_context():
    """forkserver where available (workers fork from a clean server that has imported the solver
    stack once; never fork a parent that may hold solver threads), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mipnn_pyomo.experiments.runner", "mipnn_pyomo.training", "mipnn_pyomo.data"])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_process_pool(tasks, store, progress: Progress, workers: int) -> None:
    ctx = _mp_context()
    # The pipe of the parent-death check (watch_parent): the workers and the manager get the read
    # end, only this process holds the write end.
    alive_r, alive_w = ctx.Pipe(duplex=False)
    try:
        _pool_with_manager(tasks, store, progress, workers, ctx, alive_r)
    finally:
        alive_w.close()
        alive_r.close()


def _pool_with_manager(tasks, store, progress: Progress, workers: int, ctx, alive) -> None:
    manager = None
    if not progress.quiet:
        from multiprocessing.managers import SyncManager

        manager = SyncManager(ctx=ctx)
        manager.start(watch_parent, (alive,))
    try:
        _pool_loop(tasks, store, progress, workers, ctx, alive, manager.Queue() if manager is not None else None)
    finally:
        if manager is not None:
            manager.shutdown()


def _pool_loop(tasks, store, progress: Progress, workers: int, ctx, alive, q) -> None:
    executor = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                      initargs=(alive,))
    futures: dict[cf.Future, dict[str, Any]] = {}
    try:
        for task in tasks:
            futures[executor.submit(_pool_entry, task, q)] = task
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            _drain(q, progress)
            for fut in done:
                task = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # the worker process died (e.g. killed, out of memory)
                    rec = _crash_record(task, exc)
                store.record(rec)
                progress.finish(rec)
            progress.tick()
        executor.shutdown(wait=True)
    except BaseException:
        for fut in futures:
            fut.cancel()
        procs = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # stop running solves: their results are not recorded
            try:
                p.terminate()
            except Exception:  # pragma: no cover
                pass
        raise


def _crash_record(task: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    rec = {k: task[k] for k in ("cell_key", "experiment", "config_hash", "method", "P", "n_train", "seed",
                                "solver", "hidden", "time_limit", "target_accuracy", "threads")}
    rec.update(
        dataset=task["dataset"].get("dataset"),
        package_version=package_version(),
        state="failed",
        status="crashed",
        error=f"worker crashed: {type(exc).__name__}: {exc}",
        finished_at=utc_now(),
    )
    return rec


def _import_distributed():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--scheduler needs Dask distributed, which is not installed; install it with "
            "pip install 'mipnn-pyomo[dask]' (or pip install 'dask[distributed]')"
        ) from None
    return distributed


def _probe_scheduler(address: str, timeout_s: float = 10.0) -> None:
    """ConfigError unless a TCP connection to the scheduler's host and port opens (checked before
    the results database is created; other transports are left to Dask)."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        socket.create_connection(parse_host_port(location, 8786), timeout=timeout_s).close()
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None


def _run_dask(tasks, store, progress: Progress, address, workers: int) -> None:
    import logging

    distributed = _import_distributed()
    cluster = None
    if address == "local":
        # the scheduler's web server on a free port (no "port 8787 is already in use" warning; it
        # starts one even without a dashboard) and only Dask's errors on stderr
        cluster = distributed.LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        address = cluster.scheduler_address
        progress._print(f"started a local Dask cluster at {address} with {max(1, workers)} worker(s)")
    try:
        client = distributed.Client(address, timeout="30s", set_as_default=False)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None
    futures = {}
    run_id = uuid.uuid4().hex[:8]
    try:
        for task in tasks:
            fut = client.submit(execute_task, task, key=f"mipnn-{task['cell_key']}-{run_id}", pure=False)
            futures[fut] = task
        for fut in distributed.as_completed(list(futures), loop=client.loop):
            task = futures[fut]
            try:
                rec = fut.result()
            except Exception as exc:
                rec = _crash_record(task, exc)
            store.record(rec)
            progress.finish(rec)
            progress.tick()
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_experiment(
    config: ExperimentConfig,
    db: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    time_limit: float | None = None,
    retry_failed: bool = False,
    quiet: bool = False,
    stream: TextIO | None = None,
) -> RunSummary:
    """Run every cell of ``config`` not yet in ``db``. ``workers=0`` runs the cells in this process
    (one after the other); ``scheduler`` is a Dask scheduler address (or ``"local"``)."""
    config = config.with_time_limit(time_limit)
    if workers is None:
        workers = default_workers()
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if scheduler is not None:  # fail before touching the database
        _import_distributed()
        if scheduler != "local":
            _probe_scheduler(scheduler)
    tasks = make_tasks(config)
    summary = RunSummary(config.name, len(tasks))
    t0 = time.time()
    created = not Path(db).exists()
    try:
        with ResultStore(db) as store:
            store.register_experiment(config.name, config.config_hash,
                                      {**config.settings(), "description": config.description}, config.path)
            todo = _cells_to_run(store, tasks, summary, retry_failed)
            progress = Progress(summary, len(todo), stream, quiet, {t["cell_key"]: t["label"] for t in tasks})
            where = (
                f"Dask scheduler {scheduler}" if scheduler else
                ("this process" if workers == 0 else f"{workers} worker process{'es' if workers > 1 else ''}")
            )
            progress._print(
                f"experiment {config.name} (config {config.config_hash}, time limit {config.time_limit:g} s per run): "
                f"{len(tasks)} cells, {summary.skipped_done} already done, "
                f"{summary.skipped_failed} failed earlier{' (skipped; --retry-failed reruns them)' if summary.skipped_failed else ''}; "
                f"running {len(todo)} on {where}; results in {db}"
            )
            if todo:
                _run_cells(todo, store, progress, db, scheduler, workers)
    except ConfigError:
        if created:
            _remove_if_empty(db)
        raise
    summary.elapsed_s = time.time() - t0
    return summary


def _cells_to_run(store, tasks, summary: RunSummary, retry_failed: bool) -> list[dict[str, Any]]:
    """The tasks not recorded as done (nor as failed, unless ``retry_failed``); counts the skipped."""
    states = store.states([t["cell_key"] for t in tasks])
    todo = []
    for t in tasks:
        st = states.get(t["cell_key"])
        if st == "done":
            summary.skipped_done += 1
        elif st == "failed" and not retry_failed:
            summary.skipped_failed += 1
        else:
            todo.append(t)
    return todo


def _run_cells(todo, store, progress: Progress, db, scheduler: str | None, workers: int) -> None:
    """Run ``todo`` on the chosen backend; SIGTERM (``kill PID``) stops like Ctrl-C."""
    previous_term = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):  # noqa: ARG001 - turn `kill PID` into a clean stop
            raise KeyboardInterrupt

        previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        if scheduler is not None:
            _run_dask(todo, store, progress, scheduler, workers)
        elif workers == 0:
            _run_in_process(todo, store, progress)
        else:
            _run_process_pool(todo, store, progress, min(workers, len(todo)))
    except KeyboardInterrupt:
        progress._print(
            f"interrupted after {progress.s.ran} run(s) this session; finished runs are saved in {db}; "
            "rerun the same command to resume"
        )
        raise
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _remove_if_empty(db) -> None:
    """Delete a results database this call created if it holds no run (e.g. the scheduler was
    unreachable), with its WAL and shared-memory files."""
    try:
        with ResultStore(db, create=False) as store:
            if store.runs():
                return
    except ConfigError:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{os.fspath(db)}{suffix}")
        except OSError:
            pass
