"""The integer network: data only (weights, biases, P, classes, preprocessing) and a numpy forward pass.

A network with layers l = 1..L maps an input x (on the 10^-d grid) to

    a^1 = x W^1 + b^1,             h^l = sign(a^l)  in {-1, +1}, sign(0) = +1   (hidden layers)
    a^l = h^{l-1} W^l + b^l,       l = 2..L
    s   = a^L                      (integer output scores, one per class)
    yhat_j = 2 s_j / (P (H + 1))   (normalised output in [-2, 2], H = width of the last hidden layer)

and predicts argmax_j s_j, ties broken by a seeded random choice among the maximal outputs.
All weights and biases are integers in [-P, P]. This module is the single source of truth for
accuracy: every accuracy this library reports is computed here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mipnn_pyomo.activations.sign import SIGN, sign  # noqa: F401  (sign: re-exported, the hidden activation)
from mipnn_pyomo.errors import DataError, ModelFileError
from mipnn_pyomo.numerics import score_scale

FORMAT_NAME = "mipnn-integer-network"
FORMAT_VERSION = 1


# The hidden layers' activation (its forward function, MIP rows and start values live in
# mipnn_pyomo/activations/sign.py).
HIDDEN_ACTIVATION = SIGN


def tie_break_argmax(scores: np.ndarray, seed: int = 0, row_keys: np.ndarray | None = None) -> np.ndarray:
    """Row-wise argmax of integer ``scores`` (n, k); ties broken by a random choice seeded by ``seed``.

    With ``row_keys`` (one integer per row, e.g. :func:`row_keys` of the inputs) the choice for a
    row depends only on (seed, its key), so a sample is predicted the same wherever it stands in a
    batch; without, one generator draw per row position."""
    scores = np.asarray(scores)
    best = scores.max(axis=1, keepdims=True)
    is_max = scores == best
    if row_keys is None:
        keys = np.random.default_rng(seed).random(scores.shape)
    else:
        keys = np.zeros(scores.shape)
        for i in np.flatnonzero(is_max.sum(axis=1) > 1):  # ties are rare: draw only for them
            keys[i] = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(row_keys[i])]).random(scores.shape[1])
    # A random key per (row, output); the maximal output with the largest key wins.
    return np.argmax(np.where(is_max, keys, -1.0), axis=1)


def row_keys(X: np.ndarray, decimals: int = 4) -> np.ndarray:
    """A 63-bit key per row from its values on the 10^-d grid (for order-free tie breaking)."""
    grid = np.ascontiguousarray(np.rint(np.asarray(X, dtype=float) * 10.0**decimals).astype(np.int64))
    return np.array([int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") >> 1
                     for row in grid], dtype=np.int64)


@dataclass
class IntegerNetwork:
    """An MLP with sign activations and integer weights in [-P, P] (data only, no solver state).

    ``weights[l]`` has shape (n_in, n_out) and ``biases[l]`` shape (n_out,); the last layer is the
    output layer with one neuron per class."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    P: int
    classes: list[Any] = field(default_factory=list)
    preprocessing: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    tie_seed: int = 0

    def __post_init__(self) -> None:
        self.weights = [np.asarray(np.rint(w), dtype=np.int64) for w in self.weights]
        self.biases = [np.asarray(np.rint(b), dtype=np.int64).reshape(-1) for b in self.biases]
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ModelFileError("a network needs one bias vector per weight matrix and at least one layer")
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[1] != b.shape[0]:
                raise ModelFileError(f"layer {l}: weights {w.shape} do not match biases {b.shape}")
            if l and w.shape[0] != self.weights[l - 1].shape[1]:
                raise ModelFileError(f"layer {l} takes {w.shape[0]} inputs but layer {l - 1} has {self.weights[l - 1].shape[1]} outputs")
            if np.abs(w).max(initial=0) > self.P or np.abs(b).max(initial=0) > self.P:
                raise ModelFileError(f"layer {l} has a weight or bias outside [-P, P] = [-{self.P}, {self.P}]")
        if not self.classes:
            self.classes = list(range(self.n_outputs))
        if len(self.classes) != self.n_outputs:
            raise ModelFileError(f"{len(self.classes)} classes but {self.n_outputs} output neurons")

    # ------------------------------------------------------------------ shape
    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.weights[-1].shape[1])

    @property
    def hidden(self) -> list[int]:
        return [int(w.shape[1]) for w in self.weights[:-1]]

    @property
    def last_hidden_width(self) -> int:
        """H in the output normalisation: the width of the last hidden layer (n_inputs without one)."""
        return int(self.weights[-1].shape[0])

    # ---------------------------------------------------------------- forward
    def _check_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have shape (n, {self.n_inputs}), got {X.shape}")
        return X

    def forward(self, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Hidden activations h^l = act(a^l) (sign: in {-1,+1}, one array per hidden layer) and integer output scores s.

        The first layer's pre-activation x W + b is computed in floating point; on the 10^-d input
        grid it is a lattice point, so its sign is exact. Later layers are integer arithmetic."""
        decimals = int((self.preprocessing or {}).get("decimals", 4))
        X = np.round(self._check_X(X), decimals)  # inputs live on the 10^-d grid
        activations: list[np.ndarray] = []
        h: np.ndarray = X
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = h @ w + b
            if l == 0:
                # x W + b is a multiple of 10^-d: rounding removes floating noise around sign(0) = +1.
                a = np.round(a, decimals)
            if l < len(self.weights) - 1:
                h = HIDDEN_ACTIVATION.forward(a)
                activations.append(h)
            else:
                return activations, np.asarray(np.rint(a), dtype=np.int64) if l else a
        raise AssertionError("unreachable")

    def output_scores(self, X: np.ndarray) -> np.ndarray:
        """Output scores s (n, n_classes): integers when the network has a hidden layer."""
        return self.forward(X)[1]

    def normalised_outputs(self, X: np.ndarray) -> np.ndarray:
        """yhat = s / S, S = P (H + 1) / 2: the quantity the MIP objectives are written in."""
        return self.output_scores(X) / score_scale(self.P, self.last_hidden_width)

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        """Class index per row: argmax of the outputs, ties broken by a random choice seeded by tie_seed."""
        decimals = int((self.preprocessing or {}).get("decimals", 4))
        return tie_break_argmax(self.output_scores(X), self.tie_seed, row_keys(X, decimals))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class label per row."""
        return np.asarray(self.classes, dtype=object)[self.predict_index(X)]

    def accuracy(self, X: np.ndarray, y_index: np.ndarray) -> float:
        """Fraction of rows whose predicted class index equals ``y_index``."""
        y_index = np.asarray(y_index)
        if len(y_index) == 0:
            return float("nan")
        if y_index.min() < 0 or y_index.max() >= self.n_outputs:
            raise DataError(
                f"labels must be class indices 0..{self.n_outputs - 1} (the network has {self.n_outputs} outputs), "
                f"got values in [{y_index.min()}, {y_index.max()}]"
            )
        return float(np.mean(self.predict_index(X) == y_index))

    # ------------------------------------------------------------- save/load
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "P": int(self.P),
            "layers": [
                {"weights": w.tolist(), "biases": b.tolist()} for w, b in zip(self.weights, self.biases)
            ],
            "classes": [_jsonable(c) for c in self.classes],
            "tie_seed": int(self.tie_seed),
            "preprocessing": self.preprocessing,
            "training": _jsonable(self.training),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | Path) -> None:
        """Write the network as JSON, atomically (a failure never leaves half a file)."""
        from mipnn_pyomo.outputs import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "IntegerNetwork":
        if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
            raise ModelFileError(f"not a {FORMAT_NAME} file (its 'format' field is {d.get('format') if isinstance(d, dict) else None!r})")
        if d.get("version") != FORMAT_VERSION:
            raise ModelFileError(f"model file version {d.get('version')!r} is not supported (this library reads version {FORMAT_VERSION})")
        try:
            P = int(d["P"])
            layers = d["layers"]
            weights = [np.asarray(layer["weights"], dtype=float).reshape(len(layer["weights"]), -1) for layer in layers]
            biases = [np.asarray(layer["biases"], dtype=float) for layer in layers]
            classes = d.get("classes") or []
            tie_seed = int(d.get("tie_seed", 0))
            for key, want in (("classes", list), ("preprocessing", dict), ("training", dict)):
                if d.get(key) is not None and not isinstance(d[key], want):
                    raise TypeError(f"'{key}' must be a {want.__name__}, got {type(d[key]).__name__}")
            if tie_seed < 0:
                raise ValueError(f"'tie_seed' must be >= 0, got {tie_seed}")
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ModelFileError(f"model file is missing or has a malformed field: {exc}") from None
        for arr in weights + biases:
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.rint(arr)):
                raise ModelFileError("model file has a weight or bias that is not an integer")
        return cls(
            weights=weights,
            biases=biases,
            P=P,
            classes=list(classes),
            preprocessing=d.get("preprocessing"),
            training=d.get("training") or {},
            tie_seed=tie_seed,
        )

    @classmethod
    def load(cls, path: str | Path) -> "IntegerNetwork":
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ModelFileError(f"model file {path} does not exist") from None
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model file {path} is not valid JSON (corrupt or truncated at line {exc.lineno})") from None
        try:
            return cls.from_dict(d)
        except ModelFileError as exc:
            raise ModelFileError(f"model file {path}: {exc}") from None

    # ------------------------------------------------------------- canonical weight vector
    def to_vector(self) -> np.ndarray:
        """All parameters in the canonical order: the weights of layers 1..L, each (i, j) row-major,
        then the biases of layers 1..L (the order of ``formulation.weight_variables``)."""
        return np.concatenate([w.ravel() for w in self.weights] + [b.ravel() for b in self.biases])

    @classmethod
    def from_vector(cls, vector, layer_sizes, P: int, **meta: Any) -> "IntegerNetwork":
        """Inverse of :meth:`to_vector` for ``layer_sizes`` (inputs, hidden..., outputs); values are
        rounded to integers and clipped to [-P, P]; ``meta`` goes to the constructor."""
        vector = np.clip(np.rint(np.asarray(vector, dtype=float)), -P, P).astype(np.int64)
        sizes = [int(s) for s in layer_sizes]
        shapes = list(zip(sizes[:-1], sizes[1:]))
        if vector.size != sum(a * b + b for a, b in shapes):
            raise ValueError(f"a weight vector of {vector.size} values does not fit layer sizes {sizes}")
        weights, pos = [], 0
        for a, b in shapes:
            weights.append(vector[pos : pos + a * b].reshape(a, b))
            pos += a * b
        biases = []
        for _, b in shapes:
            biases.append(vector[pos : pos + b])
            pos += b
        return cls(weights=weights, biases=biases, P=P, **meta)


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside ``obj`` to plain Python for JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
