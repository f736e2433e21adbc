"""The results database: one SQLite file, one row per run (cell), written as each run finishes.

* WAL journal, a 60 s busy timeout and one ``BEGIN IMMEDIATE`` transaction per write, so several
  processes may write the same file (each write is atomic; none is lost).
* A ``schema_version`` table; a file of another version (or not an experiment database) is refused
  with a :class:`ConfigError`.
* ``runs.cell_key`` is unique: a rerun of a cell (a retried failure, an interrupted run) replaces
  the row and increments ``attempts``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from mipnn_pyomo.errors import ConfigError

__all__ = ["SCHEMA_VERSION", "ResultStore", "RUN_COLUMNS", "utc_now"]

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0

# name -> SQL type; every run record is a dict with (a subset of) these keys
RUN_COLUMNS: dict[str, str] = {
    "cell_key": "TEXT NOT NULL UNIQUE",
    "experiment": "TEXT NOT NULL",
    "config_hash": "TEXT NOT NULL",
    "dataset": "TEXT",
    "method": "TEXT NOT NULL",  # MIP objective, "gd" or "baselines"
    "P": "INTEGER",
    "n_train": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "solver": "TEXT",  # requested solver (NULL for gd / baselines)
    "hidden": "TEXT",  # JSON list
    "time_limit": "REAL",
    "target_accuracy": "REAL",
    "threads": "INTEGER",
    "state": "TEXT NOT NULL",  # done | failed | interrupted
    "status": "TEXT",  # termination: target_reached, time_limit, optimal, ... (gd: its own status)
    "hit_time_limit": "INTEGER",
    "target_reached": "INTEGER",
    "started_at": "TEXT",
    "finished_at": "TEXT",
    "wall_s": "REAL",  # wall time of the whole cell in the worker (data sampling, build, solve, test)
    "runtime_s": "REAL",  # training time as the paper counts it (MIP: build + solve; gd: training)
    "build_s": "REAL",
    "solve_s": "REAL",
    "train_accuracy": "REAL",
    "test_accuracy": "REAL",
    "objective_value": "REAL",
    "objective_bound": "REAL",
    "gap": "REAL",
    "solver_name": "TEXT",
    "solver_version": "TEXT",
    "package_version": "TEXT",
    "network_json": "TEXT",
    "incumbents_json": "TEXT",
    "summary_json": "TEXT",  # everything else (model size, formulation, train indices, baselines' numbers)
    "error": "TEXT",
    "worker": "TEXT",
    "attempts": "INTEGER NOT NULL DEFAULT 1",
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    config_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config_path TEXT,
    settings_json TEXT NOT NULL,
    first_started_at TEXT NOT NULL,
    last_started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(f"{k} {v}" for k, v in RUN_COLUMNS.items())}
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment, method, P, n_train, seed);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ResultStore:
    """A results database. ``create=False`` refuses a missing file (for reading reports)."""

    def __init__(self, path: str | os.PathLike, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise ConfigError(f"results database {str(self.path)!r} not found")
        if create and self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open results database {str(self.path)!r}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._retry(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._init_schema(create)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise ConfigError(f"{str(self.path)!r} is not a usable SQLite results database: {exc}") from None
        except BaseException:
            self.conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _retry(self, fn, attempts: int = 20):
        """Run ``fn``; retry 'database is locked' errors that slip past the busy timeout (e.g. while
        another process switches the file to WAL)."""
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or i == attempts - 1:
                    raise
                time.sleep(0.05 * (i + 1))

    def _transaction(self, fn):
        def attempt():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn()
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return out

        return self._retry(attempt)

    def _init_schema(self, create: bool) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            raise ConfigError(
                f"{str(self.path)!r} is an SQLite file but not a mipnn experiment database "
                f"(no schema_version table; it has tables {', '.join(sorted(tables))}); use another --db file"
            )
        if "schema_version" in tables:
            self._check_version()
            return
        if not create:
            raise ConfigError(f"{str(self.path)!r} is empty: no experiment has been run into it")

        def create_schema():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self.conn.execute(stmt)
            if self.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                self.conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

        self._transaction(create_schema)
        self._check_version()

    def _check_version(self) -> None:
        rows = [r[0] for r in self.conn.execute("SELECT version FROM schema_version")]
        if len(rows) != 1 or rows[0] != SCHEMA_VERSION:
            found = rows[0] if len(rows) == 1 else rows
            raise ConfigError(
                f"results database {str(self.path)!r} has schema version {found}, but this version of "
                f"mipnn reads and writes schema version {SCHEMA_VERSION}; write to a new --db file "
                "(or use the mipnn version that created it)"
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def register_experiment(self, name: str, config_hash: str, settings: dict, config_path: str | None) -> None:
        now = utc_now()

        def write():
            self.conn.execute(
                "INSERT INTO experiments (config_hash, name, config_path, settings_json, first_started_at, last_started_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(config_hash) DO UPDATE SET last_started_at = excluded.last_started_at, "
                "config_path = excluded.config_path",
                (config_hash, name, config_path, json.dumps(settings, sort_keys=True), now, now),
            )

        self._transaction(write)

    def record(self, run: dict[str, Any]) -> None:
        """Insert a finished (or failed / interrupted) run atomically; a row with the same cell_key is
        replaced (attempts + 1)."""
        unknown = set(run) - set(RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        cols = [c for c in RUN_COLUMNS if c in run and c != "attempts"]
        values = [_sql_value(run[c]) for c in cols]
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "cell_key")
        sql = (
            f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            f"ON CONFLICT(cell_key) DO UPDATE SET {updates}, attempts = runs.attempts + 1"
        )
        self._transaction(lambda: self.conn.execute(sql, values))

    # ------------------------------------------------------------------ reads
    def states(self, cell_keys: Iterable[str] | None = None) -> dict[str, str]:
        """cell_key -> state of the recorded runs (all of them, or those in ``cell_keys``)."""
        rows = self.conn.execute("SELECT cell_key, state FROM runs").fetchall()
        out = {r[0]: r[1] for r in rows}
        if cell_keys is not None:
            keys = set(cell_keys)
            out = {k: v for k, v in out.items() if k in keys}
        return out

    def runs(self, experiment: str | None = None, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        where, args = [], []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if states is not None:
            states = list(states)
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    def experiments(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM experiments ORDER BY first_started_at").fetchall()]

    def experiment_names(self) -> list[str]:
        names = [r[0] for r in self.conn.execute("SELECT DISTINCT experiment FROM runs ORDER BY experiment")]
        return names


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v)
    if hasattr(v, "item") and callable(v.item):  # numpy scalar
        return v.item()
    return v
