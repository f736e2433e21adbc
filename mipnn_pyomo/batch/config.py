"""Settings of a batch-training run (:class:`BatchConfig`) and the seeded choices derived from them.

Every random choice of a run derives from (seed, purpose, epoch, batch) through
:func:`derived_rng` / :func:`derived_seed`, never from a generator carried across steps: a run
resumed from a checkpoint therefore makes exactly the choices an uninterrupted run makes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from mipnn_pyomo.errors import ModelConfigError

METHODS = ("average", "local", "neighbourhood")
ENGINES = ("mip", "ls")
STARTS = ("gd", "zero")
BATCH_ROWS = ("shuffle", "hard")
ACCEPTS = ("train", "train-val")

# Purposes of derived random streams (fixed numbers: changing one changes every run's choices).
PURPOSE_SPLIT, PURPOSE_SHUFFLE, PURPOSE_BLOCK, PURPOSE_SOLVER, PURPOSE_HARD, PURPOSE_NEURON = 11, 23, 37, 41, 53, 59
NEIGHBOURHOOD_EPOCHS = 3  # default epochs of method "neighbourhood" (docs/results/batch.md)


@dataclass(frozen=True)
class BatchConfig:
    """One batch-training run. ``method``: ``average`` (the reference: independent batch MIPs,
    validation-weighted mean, narrowing bounds) or ``local`` (this package's method: moves of a
    current network proposed by local-branching batch MIPs, accepted when they raise the training
    accuracy) or ``neighbourhood`` (exact MIPs over all training rows in the neighbourhood of one
    hidden neuron, :mod:`.neighbourhood`). ``engine``: ``mip`` solves each batch problem with
    ``solver``; ``ls`` replaces every solve by the local search alone (the ablation).
    ``neighbourhood`` uses ``k`` (the ball's radius), ``round_size`` (neurons per round),
    ``batch_time``/``batch_nodes`` (per MIP), ``ls_time`` and the ``start*`` settings; it ignores
    ``batch_size``, ``block`` and ``batch_rows`` (every step sees all training rows, one neuron)."""

    method: str = "local"
    engine: str = "mip"
    batch_size: int = 100
    epochs: int | None = None  # None: the method's default (average: P + 1; local: 1; neighbourhood: 3)
    P: int = 15
    hidden: tuple[int, ...] = (16,)
    objective: str = "sat-margin"
    solver: str = "highs"
    seed: int = 0
    n_train: int | None = None  # rows of the pool used (train + validation); None: all
    val_fraction: float = 0.2
    batch_time: float = 6.0  # seconds per batch solve (a cap; HiGHS node limit below is the deterministic budget)
    batch_nodes: int | None = None  # HiGHS mip_max_nodes per batch solve
    ls_time: float = 2.0  # seconds of local search per batch (engine "ls")
    time_limit: float | None = None  # seconds for the whole run
    # local method
    start: str = "gd"  # first network: "gd" (gradient descent on the training rows) or "zero"
    start_time: float = 240.0  # seconds for the GD start (a cap; start_epochs is the deterministic budget)
    start_epochs: int = 3000  # GD epochs cap (deterministic unless start_time cuts in)
    start_lr: float = 0.1  # GD learning rate (chosen by validation accuracy on Adult: docs/results/batch.md)
    block: int = 2  # hidden neurons whose weights a batch move may change
    k: int | None = 8  # local branching: sum |w - w0| <= k over the free weights (None: no row)
    round_size: int = 8  # batches proposed against the same current network before acceptance
    batch_rows: str = "hard"  # local: "hard" (rows near the decision boundary) or "shuffle" (epoch batches)
    accept: str = "train"  # neighbourhood: keep a step if the count rises ("train") and validation does not drop ("train-val")
    mip_k: int | None = None  # neighbourhood: MIP ball radius around the local search's point (None: the same ball)
    margin: int = 0  # neighbourhood: count a row as correct when s_y - s_c >= t_c + margin (0: accuracy)
    decimals: int = 4
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # recorded, not used

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        checks = [
            (self.method in METHODS, f"unknown batch method {self.method!r}; choose one of {', '.join(METHODS)}"),
            (self.engine in ENGINES, f"unknown batch engine {self.engine!r}; choose one of {', '.join(ENGINES)}"),
            (self.batch_rows in BATCH_ROWS, f"unknown batch rows {self.batch_rows!r}; choose one of {', '.join(BATCH_ROWS)}"),
            (self.accept in ACCEPTS, f"unknown accept rule {self.accept!r}; choose one of {', '.join(ACCEPTS)}"),
            (self.start in STARTS, f"unknown start {self.start!r}; choose one of {', '.join(STARTS)}"),
            (_is_int(self.batch_size) and self.batch_size >= 2, f"batch size must be an integer >= 2, got {self.batch_size!r}"),
            (self.epochs is None or (_is_int(self.epochs) and self.epochs >= 1), f"epochs must be >= 1, got {self.epochs!r}"),
            (_is_int(self.P) and self.P >= 1, f"P must be an integer >= 1, got {self.P!r}"),
            (len(self.hidden) == 1 and self.hidden[0] >= 1, f"batch training needs one hidden layer, got {list(self.hidden)}"),
            (self.n_train is None or (_is_int(self.n_train) and self.n_train >= 4), f"n_train must be >= 4 or 'all', got {self.n_train!r}"),
            (0.0 < self.val_fraction < 1.0, f"validation fraction must be in (0, 1), got {self.val_fraction}"),
            (self.batch_time > 0 and self.ls_time > 0 and self.start_time > 0, "batch, local-search and start times must be > 0"),
            (self.start_lr > 0, f"start learning rate must be > 0, got {self.start_lr}"),
            (self.time_limit is None or self.time_limit > 0, f"time limit must be > 0 seconds, got {self.time_limit}"),
            (self.batch_nodes is None or (_is_int(self.batch_nodes) and self.batch_nodes >= 0), f"batch nodes must be >= 0, got {self.batch_nodes!r}"),
            (_is_int(self.block) and 1 <= self.block <= self.hidden[0], f"block must be in 1..{self.hidden[0]}, got {self.block!r}"),
            (self.k is None or (_is_int(self.k) and self.k >= 1), f"k must be >= 1 or None, got {self.k!r}"),
            (_is_int(self.round_size) and self.round_size >= 1, f"round size must be >= 1, got {self.round_size!r}"),
            (_is_int(self.seed) and 0 <= self.seed < 2**31, f"seed must be an integer in [0, 2^31), got {self.seed!r}"),
            (self.mip_k is None or (_is_int(self.mip_k) and self.mip_k >= 1), f"mip_k must be >= 1 or None, got {self.mip_k!r}"),
            (_is_int(self.margin) and self.margin >= 0, f"margin must be an integer >= 0, got {self.margin!r}"),
            (self.method != "neighbourhood" or self.k is not None, "method neighbourhood needs a radius k >= 1, got None"),
            (self.method != "neighbourhood" or self.engine == "ls" or self.solver == "highs",
             f"method neighbourhood solves its MIPs with HiGHS only, got solver {self.solver!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ModelConfigError(message)

    @property
    def n_epochs(self) -> int:
        if self.epochs is not None:
            return int(self.epochs)
        if self.method == "neighbourhood":
            return NEIGHBOURHOOD_EPOCHS
        return self.P + 1 if self.method == "average" else 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["epochs"] = self.n_epochs
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BatchConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def run_key(self) -> str:
        """Hash of everything that determines the result (not the time limit, which only cuts a run short)."""
        d = self.to_dict()
        for volatile in ("time_limit", "extra"):
            d.pop(volatile, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def batch_config_options(options: dict | None) -> dict:
    """Extra BatchConfig fields given as a dict (the estimator's ``batch_options``), checked by name."""
    options = dict(options or {})
    names = {f.name for f in fields(BatchConfig)} - {"extra"}
    unknown = sorted(set(options) - names)
    if unknown:
        raise ModelConfigError(f"unknown batch option(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}")
    return options


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def derived_rng(seed: int, purpose: int, epoch: int = 0, batch: int = 0) -> np.random.Generator:
    """The generator for one (seed, purpose, epoch, batch): independent of everything else."""
    return np.random.default_rng([int(seed), int(purpose), int(epoch), int(batch)])


def derived_seed(seed: int, epoch: int, batch: int) -> int:
    """A solver / local-search seed in [0, 2^31) for one batch solve."""
    return int(derived_rng(seed, PURPOSE_SOLVER, epoch, batch).integers(0, 2**31 - 1))
