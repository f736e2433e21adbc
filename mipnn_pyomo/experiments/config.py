"""Experiment configs: a TOML file describing a grid of training runs.

    name = "exp1"
    sample_sizes = [40, 80, 120]
    seeds = [0, 1, 2]
    time_limit = 36000            # seconds per run (the paper's 10 h)
    target_accuracy = 0.9         # stop a run at this training accuracy ("none": solve to optimality)
    hidden = [16]
    threads = 1                   # solver threads per run
    baselines = true              # also run majority / logistic regression / MLP per (N, seed)

    [dataset]
    name = "adult"                # or "csv" with path, target (test_csv, test_size, split_seed, categorical)

    [formulation]                 # FormulationOptions fields
    variant = "tight"

    [[methods]]
    objective = "sat-margin"      # an MIP objective, or "gd" for the gradient-descent baseline
    P = [1, 3]
    solver = "highs"

Every (method, P, N, seed) is one *cell*. A malformed file raises :class:`ConfigError` naming the
file, the line and the key path (``methods[1].P``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mipnn_pyomo.errors import ConfigError, MipnnError
from mipnn_pyomo.solvers import DEFAULT_SOLVER

__all__ = ["ExperimentConfig", "MethodSpec", "Cell", "load_config", "parse_config", "GD_METHOD", "BASELINES_METHOD"]

GD_METHOD = "gd"
BASELINES_METHOD = "baselines"
PAPER_TIME_LIMIT = 36000.0


@dataclass(frozen=True)
class MethodSpec:
    objective: str  # an MIP objective name or "gd"
    P: tuple[int, ...] = (1,)
    solver: str = DEFAULT_SOLVER
    options: dict[str, Any] = field(default_factory=dict)  # train_gd kwargs (gd) or solver options (MIP)

    @property
    def is_gd(self) -> bool:
        return self.objective == GD_METHOD

    def to_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "P": list(self.P), "solver": self.solver, "options": dict(self.options)}


@dataclass(frozen=True)
class Cell:
    """One run of the grid (``method == "baselines"`` is the reference-baselines task of an (N, seed))."""

    method: str
    P: int | None
    n_train: int
    seed: int
    solver: str | None
    options: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        if self.method == BASELINES_METHOD:
            return f"baselines N={self.n_train} seed={self.seed}"
        return f"{self.method} P={self.P} N={self.n_train} seed={self.seed}"


@dataclass
class ExperimentConfig:
    name: str
    methods: list[MethodSpec]
    sample_sizes: list[int]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    time_limit: float = PAPER_TIME_LIMIT
    target_accuracy: float | None = 0.9
    hidden: list[int] = field(default_factory=lambda: [16])
    threads: int | None = 1
    baselines: bool = False
    dataset: dict[str, Any] = field(default_factory=lambda: {"dataset": "adult"})  # a load_dataset source
    decimals: int = 4
    formulation: dict[str, Any] = field(default_factory=dict)  # FormulationOptions keyword arguments
    description: str = ""
    path: str | None = None

    # ------------------------------------------------------------------ derived
    def settings(self) -> dict[str, Any]:
        """Everything that defines the results (the path and description excluded)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "decimals": self.decimals,
            "methods": [m.to_dict() for m in self.methods],
            "sample_sizes": list(self.sample_sizes),
            "seeds": list(self.seeds),
            "time_limit": self.time_limit,
            "target_accuracy": self.target_accuracy,
            "hidden": list(self.hidden),
            "threads": self.threads,
            "baselines": self.baselines,
            "formulation": dict(self.formulation),
        }

    @property
    def config_hash(self) -> str:
        return stable_hash(self.settings())[:16]

    def with_time_limit(self, seconds: float | None) -> "ExperimentConfig":
        if seconds is None:
            return self
        if not (isinstance(seconds, (int, float)) and seconds > 0 and math.isfinite(seconds)):
            raise ConfigError(f"time limit override must be a positive number of seconds, got {seconds!r}")
        return dataclasses.replace(self, time_limit=float(seconds))

    def cells(self) -> list[Cell]:
        """The grid in run order: by N (small first, so early results come quickly), then seed, then
        method and P; the baselines task of (N, seed) first."""
        out: list[Cell] = []
        for n in self.sample_sizes:
            for seed in self.seeds:
                if self.baselines:
                    out.append(Cell(BASELINES_METHOD, None, n, seed, None))
                for m in self.methods:
                    for P in m.P:
                        out.append(Cell(m.objective, P, n, seed, None if m.is_gd else m.solver, dict(m.options)))
        return out

    def cell_key(self, cell: Cell) -> str:
        """Identity of a cell's run: the experiment name and every setting the run depends on (not
        the threads or the rest of the grid). Two configs that share a cell share its key."""
        common = {
            "experiment": self.name,
            "dataset": self.dataset,
            "decimals": self.decimals,
            "n_train": cell.n_train,
            "seed": cell.seed,
        }
        if cell.method == BASELINES_METHOD:
            return stable_hash({**common, "method": BASELINES_METHOD})[:24]
        spec = {
            **common,
            "method": cell.method,
            "P": cell.P,
            "hidden": list(self.hidden),
            "time_limit": self.time_limit,
            "target_accuracy": self.target_accuracy,
            "options": cell.options,
        }
        if cell.method != GD_METHOD:
            spec["solver"] = cell.solver
            spec["formulation"] = self.formulation
        return stable_hash(spec)[:24]


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------- locating keys


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=""")


def _split_key(text: str) -> list[str]:
    parts = re.findall(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_\-]+)""", text)
    return [a or b or c for a, b, c in parts]


def locate_key(text: str, path: tuple) -> int | None:
    """1-based line of the key ``path`` (strings and array-of-tables indices) in TOML ``text``;
    the longest located prefix of the path if the key itself is not written on its own line."""
    want = [p for p in path]
    found: dict[tuple, int] = {}
    table: list = []
    aot_counts: dict[tuple, int] = {}
    in_multiline: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        m = _HEADER.match(line)
        if m and not _KEY.match(line):
            keys = _split_key(m.group(2))
            if m.group(1) == "[[":
                idx = aot_counts.get(tuple(keys), 0)
                aot_counts[tuple(keys)] = idx + 1
                table = keys + [idx]
            else:
                table = keys
            found.setdefault(tuple(table), lineno)
            if len(table) > 1 and isinstance(table[-1], int):
                found.setdefault(tuple(table[:-1]), lineno)
            continue
        m = _KEY.match(line)
        if m:
            full = tuple(table + _split_key(m.group(1)))
            found.setdefault(full, lineno)
            rest = line[m.end():]
            for q in ('"""', "'''"):
                if rest.count(q) == 1:
                    in_multiline = q
    for k in range(len(want), 0, -1):
        key = tuple(want[:k])
        if key in found:
            return found[key]
    return None


def format_path(path: tuple) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


# ---------------------------------------------------------------------------------- parsing


class _Ctx:
    def __init__(self, text: str, where: str):
        self.text = text
        self.where = where

    def error(self, path: tuple, message: str) -> ConfigError:
        line = locate_key(self.text, path)
        at = f", line {line}" if line else ""
        return ConfigError(f"{self.where}{at}: {format_path(path)}: {message}")


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(v), type(v).__name__)


def _int(ctx, path, v, minimum: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ctx.error(path, f"expected an integer, got {_type_name(v)} ({v!r})")
    if minimum is not None and v < minimum:
        raise ctx.error(path, f"must be an integer >= {minimum}, got {v}")
    return v


def _int_list(ctx, path, v, minimum: int | None = None, allow_scalar: bool = False, unique: bool = True) -> list[int]:
    if allow_scalar and isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list):
        raise ctx.error(path, f"expected a list of integers, got {_type_name(v)} ({v!r})")
    if not v:
        raise ctx.error(path, "must not be empty")
    out = [_int(ctx, path + (i,), x, minimum) for i, x in enumerate(v)]
    if unique and len(set(out)) != len(out):
        raise ctx.error(path, f"has duplicate values: {out}")
    return out


def _str(ctx, path, v) -> str:
    if not isinstance(v, str):
        raise ctx.error(path, f"expected a string, got {_type_name(v)} ({v!r})")
    if not v.strip():
        raise ctx.error(path, "must not be empty")
    return v


def _bool(ctx, path, v) -> bool:
    if not isinstance(v, bool):
        raise ctx.error(path, f"expected true or false, got {_type_name(v)} ({v!r})")
    return v


def _positive_number(ctx, path, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.error(path, f"expected a number of seconds, got {_type_name(v)} ({v!r})")
    if not (v > 0) or math.isinf(v):
        raise ctx.error(path, f"must be a positive finite number, got {v}")
    return float(v)


def _target(ctx, path, v) -> float | None:
    if isinstance(v, str) and v.lower() in ("none", "off", "optimal"):
        return None
    if v is False:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.error(path, f"expected a number in (0, 1] or \"none\", got {_type_name(v)} ({v!r})")
    if not (0 < v <= 1):
        raise ctx.error(path, f"must be in (0, 1] (a fraction, not a percentage), got {v}")
    return float(v)


def _table(ctx, path, v) -> dict:
    if not isinstance(v, dict):
        raise ctx.error(path, f"expected a table, got {_type_name(v)} ({v!r})")
    return v


def _check_keys(ctx, path, d: dict, allowed: list[str]) -> None:
    for k in d:
        if k not in allowed:
            raise ctx.error(path + (k,), f"unknown key {k!r}; allowed keys here: {', '.join(allowed)}")


TOP_KEYS = ["name", "description", "dataset", "methods", "sample_sizes", "seeds", "time_limit",
            "target_accuracy", "hidden", "threads", "baselines", "formulation", "solver"]
METHOD_KEYS = ["objective", "P", "solver", "options"]
DATASET_KEYS = {
    "adult": ["name", "decimals"],
    "csv": ["name", "path", "target", "test_csv", "test_size", "split_seed", "categorical", "decimals"],
}


def _known_objectives() -> list[str]:
    from mipnn_pyomo.objectives import OBJECTIVES

    return list(OBJECTIVES)


def _formulation_fields() -> dict[str, Any]:
    from mipnn_pyomo.formulation import FormulationOptions

    return {f.name: f for f in dataclasses.fields(FormulationOptions)}


def _parse_dataset(ctx, raw: Any, base: Path) -> tuple[dict[str, Any], int]:
    path = ("dataset",)
    if isinstance(raw, str):  # dataset = "adult"
        raw = {"name": raw}
    raw = _table(ctx, path, raw)
    kind = _str(ctx, path + ("name",), raw.get("name", "adult"))
    if kind not in DATASET_KEYS:
        raise ctx.error(path + ("name",), f"unknown dataset {kind!r}; expected 'adult' or 'csv'")
    _check_keys(ctx, path, raw, DATASET_KEYS[kind])
    decimals = _int(ctx, path + ("decimals",), raw.get("decimals", 4), 0)
    if kind == "adult":
        return {"dataset": "adult"}, decimals
    for key in ("path", "target"):
        if key not in raw:
            raise ctx.error(path, f"a csv dataset needs the key {key!r}")
    source: dict[str, Any] = {"dataset": "csv"}
    csv_path = Path(_str(ctx, path + ("path",), raw["path"]))
    source["csv"] = str(csv_path if csv_path.is_absolute() else (base / csv_path).resolve())
    source["target"] = _str(ctx, path + ("target",), raw["target"])
    if "test_csv" in raw:
        t = Path(_str(ctx, path + ("test_csv",), raw["test_csv"]))
        source["test_csv"] = str(t if t.is_absolute() else (base / t).resolve())
    if "test_size" in raw:
        v = raw["test_size"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < 1):
            raise ctx.error(path + ("test_size",), f"must be a fraction in (0, 1), got {v!r}")
        source["test_size"] = float(v)
    if "split_seed" in raw:
        source["split_seed"] = _int(ctx, path + ("split_seed",), raw["split_seed"])
    if "categorical" in raw:
        v = raw["categorical"]
        if not isinstance(v, list):
            raise ctx.error(path + ("categorical",), f"expected a list of column names, got {_type_name(v)}")
        source["categorical"] = [_str(ctx, path + ("categorical", i), c) for i, c in enumerate(v)]
    return source, decimals


def _parse_formulation(ctx, raw: Any) -> dict[str, Any]:
    path = ("formulation",)
    raw = _table(ctx, path, raw)
    fields = _formulation_fields()
    _check_keys(ctx, path, raw, list(fields))
    out: dict[str, Any] = {}
    for k, v in raw.items():
        default = fields[k].default
        if isinstance(default, bool) and not isinstance(v, bool):
            raise ctx.error(path + (k,), f"expected true or false, got {_type_name(v)} ({v!r})")
        if isinstance(default, str) and not isinstance(v, str):
            raise ctx.error(path + (k,), f"expected a string, got {_type_name(v)} ({v!r})")
        if isinstance(default, float) and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ctx.error(path + (k,), f"expected a number, got {_type_name(v)} ({v!r})")
        out[k] = v
    from mipnn_pyomo.formulation import FormulationOptions

    try:
        FormulationOptions(**out)
    except MipnnError as exc:
        bad = next((k for k in out if k in str(exc)), None)
        raise ctx.error(path + ((bad,) if bad else ()), str(exc)) from None
    except TypeError as exc:
        raise ctx.error(path, str(exc)) from None
    return out


def _parse_methods(ctx, raw: Any, default_solver: str) -> list[MethodSpec]:
    path = ("methods",)
    if not isinstance(raw, list) or not raw:
        raise ctx.error(path, "expected a non-empty list of method tables ([[methods]] sections)")
    known = _known_objectives()
    methods = []
    seen = set()
    for i, m in enumerate(raw):
        mp = path + (i,)
        m = _table(ctx, mp, m)
        _check_keys(ctx, mp, m, METHOD_KEYS)
        if "objective" not in m:
            raise ctx.error(mp, "missing key 'objective' (an MIP objective or \"gd\")")
        obj = _str(ctx, mp + ("objective",), m["objective"])
        if obj not in known and obj != GD_METHOD:
            raise ctx.error(mp + ("objective",), f"unknown objective {obj!r}; choose one of {', '.join(known + [GD_METHOD])}")
        Ps = _int_list(ctx, mp + ("P",), m.get("P", [1]), 1, allow_scalar=True)
        solver = _str(ctx, mp + ("solver",), m.get("solver", default_solver)).lower()
        options = dict(_table(ctx, mp + ("options",), m.get("options", {})))
        for P in Ps:
            key = (obj, P)
            if key in seen:
                raise ctx.error(mp + ("P",), f"method {obj!r} with P={P} appears twice")
            seen.add(key)
        methods.append(MethodSpec(obj, tuple(Ps), solver, options))
    return methods


def parse_config(text: str, where: str = "<config>", base_dir: str | Path | None = None,
                 default_name: str | None = None) -> ExperimentConfig:
    """Parse and validate a TOML config given as text (``where`` names it in error messages)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"at line (\d+)", msg)
        if m:
            at = f", line {m.group(1)}"
        elif "end of document" in msg:
            at = f", line {max(1, len(text.rstrip().splitlines()))}"
        else:
            at = ""
        raise ConfigError(f"{where}{at}: invalid TOML: {msg}") from None
    ctx = _Ctx(text, where)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    _check_keys(ctx, (), raw, TOP_KEYS)
    if "name" in raw:
        name = _str(ctx, ("name",), raw["name"])
    elif default_name:
        name = default_name
    else:
        raise ctx.error(("name",), "missing key 'name'")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ctx.error(("name",), f"use letters, digits, '_', '-', '.' only, got {name!r}")
    description = _str(ctx, ("description",), raw["description"]) if "description" in raw else ""
    if "methods" not in raw:
        raise ctx.error(("methods",), "missing key 'methods' (add [[methods]] sections)")
    if "sample_sizes" not in raw:
        raise ctx.error(("sample_sizes",), "missing key 'sample_sizes'")
    solver = _str(ctx, ("solver",), raw.get("solver", DEFAULT_SOLVER)).lower()
    dataset, decimals = _parse_dataset(ctx, raw.get("dataset", {"name": "adult"}), base)
    threads = raw.get("threads", 1)
    cfg = ExperimentConfig(
        name=name,
        description=description,
        methods=_parse_methods(ctx, raw["methods"], solver),
        sample_sizes=_int_list(ctx, ("sample_sizes",), raw["sample_sizes"], 1),
        seeds=_int_list(ctx, ("seeds",), raw.get("seeds", [0, 1, 2]), 0),
        time_limit=_positive_number(ctx, ("time_limit",), raw.get("time_limit", PAPER_TIME_LIMIT)),
        target_accuracy=_target(ctx, ("target_accuracy",), raw.get("target_accuracy", 0.9)),
        hidden=_int_list(ctx, ("hidden",), raw.get("hidden", [16]), 1, allow_scalar=True, unique=False),
        threads=_int(ctx, ("threads",), threads, 1),
        baselines=_bool(ctx, ("baselines",), raw.get("baselines", False)),
        dataset=dataset,
        decimals=decimals,
        formulation=_parse_formulation(ctx, raw.get("formulation", {})),
        path=where,
    )
    return cfg


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a TOML experiment config; ConfigError (file, line, key) on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(p)!r}: {exc}") from None
    return parse_config(text, where=str(p), base_dir=p.parent.resolve(), default_name=p.stem)
