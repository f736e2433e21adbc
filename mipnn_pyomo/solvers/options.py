"""Solver option files (``--solver-options FILE``): TOML or JSON.

A file holds normalised keys (``time_limit``, ``threads``, ``mip_gap``, ``seed``) and any other
option under the solver's own name. It may be flat or have one table per solver::

    [highs]
    mip_heuristic_effort = 0.3
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from mipnn_pyomo.errors import ConfigError

NORMALISED_KEYS = ("time_limit", "threads", "mip_gap", "seed")


def load_solver_options(path: str | Path, solver: str | None = None) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read solver options file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"solver options file {path} is malformed: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"solver options file {path} must hold a table of options")
    if solver and isinstance(data.get(solver), dict):
        data = data[solver]
    return {k: v for k, v in data.items() if not isinstance(v, dict)}


def split_solver_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(normalised, pass-through) options."""
    normalised = {k: v for k, v in options.items() if k in NORMALISED_KEYS}
    extra = {k: v for k, v in options.items() if k not in NORMALISED_KEYS}
    return normalised, extra
