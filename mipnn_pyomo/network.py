"""The integer network: data only (weights, biases, P, classes, preprocessing) and a numpy forward pass.

A network with layers l = 1..L maps an input x (on the 10^-d grid) to

    a^1 = x W^1 + b^1,             h^l = sign(a^l)  in {-1, +1}, sign(0) = +1   (hidden layers)
    a^l = h^{l-1} W^l + b^l,       l = 2..L
    s   = a^L                      (integer output scores, one per class)
    yhat_j = 2 s_j / (P (H + 1))   (normalised output in [-2, 2], H = width of the last hidden layer)

and predicts argmax_j s_j, ties broken by a seeded random choice among the maximal outputs.
All weights and biases are integers in [-P_l, P_l]: P_1 = P_first for the first layer when it is
set (a larger range for the input weights, ``--p-first``), every other P_l = P (so the output
normalisation S = P (H + 1) / 2 is the output layer's). This module is the single source of truth
for accuracy: every accuracy this library reports is computed here.
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
from mipnn_pyomo.numerics import layer_P, score_scale

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
    """An MLP with sign activations and integer weights in [-P_l, P_l] (data only, no solver state).

    ``weights[l]`` has shape (n_in, n_out) and ``biases[l]`` shape (n_out,); the last layer is the
    output layer with one neuron per class. ``P_first`` (None: P) bounds the first layer's weights
    and biases; :meth:`layer_P` gives any layer's bound (l = 1 the first, as in the formulation)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    P: int
    classes: list[Any] = field(default_factory=list)
    preprocessing: dict[str, Any] | None = None
    training: dict[str, Any] = field(default_factory=dict)
    tie_seed: int = 0
    P_first: int | None = None

    def __post_init__(self) -> None:
        self.weights = [np.asarray(np.rint(w), dtype=np.int64) for w in self.weights]
        self.biases = [np.asarray(np.rint(b), dtype=np.int64).reshape(-1) for b in self.biases]
        if len(self.weights) != len(self.biases) or not self.weights:
            raise ModelFileError("a network needs one bias vector per weight matrix and at least one layer")
        if self.P_first is not None:
            integral = isinstance(self.P_first, (int, np.integer)) and not isinstance(self.P_first, bool)
            if not integral or self.P_first < 1:
                raise ModelFileError(f"P_first must be an integer >= 1 or None, got {self.P_first!r}")
            self.P_first = int(self.P_first)
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or w.shape[1] != b.shape[0]:
                raise ModelFileError(f"layer {l}: weights {w.shape} do not match biases {b.shape}")
            if l and w.shape[0] != self.weights[l - 1].shape[1]:
                raise ModelFileError(f"layer {l} takes {w.shape[0]} inputs but layer {l - 1} has {self.weights[l - 1].shape[1]} outputs")
            bound, name = self.layer_P(l + 1), "P_first" if l == 0 and self.P_first is not None else "P"
            if np.abs(w).max(initial=0) > bound or np.abs(b).max(initial=0) > bound:
                raise ModelFileError(f"layer {l} has a weight or bias outside [-{name}, {name}] = [-{bound}, {bound}]")
        if not self.classes:
            self.classes = list(range(self.n_outputs))
        if len(self.classes) != self.n_outputs:
            raise ModelFileError(f"{len(self.classes)} classes but {self.n_outputs} output neurons")

    # ------------------------------------------------------------------ shape
    def layer_P(self, l: int) -> int:
        """P_l, the bound of layer l's weights and biases (l = 1 the first layer): P_first or P."""
        return layer_P(self.P, self.P_first, l)

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

    def sparsity(self) -> dict[str, Any]:
        """How much of the network is used: ``nonzero_weights`` of ``total_weights`` (the weight
        matrices' entries, biases not counted), ``fraction_zero`` = 1 - nonzero / total,
        ``nonzero_biases``, and per hidden layer the ``active_hidden`` neurons (at least one non-zero
        incoming weight and one non-zero outgoing weight; any other hidden neuron is a constant or
        ignored) with their sum ``active_neurons`` of ``hidden_neurons``."""
        total = int(sum(w.size for w in self.weights))
        nonzero = int(sum(np.count_nonzero(w) for w in self.weights))
        active = [int(np.sum(np.any(w_in != 0, axis=0) & np.any(w_out != 0, axis=1)))
                  for w_in, w_out in zip(self.weights[:-1], self.weights[1:])]
        return {
            "nonzero_weights": nonzero,
            "total_weights": total,
            "fraction_zero": 1.0 - nonzero / total if total else 0.0,
            "nonzero_biases": int(sum(np.count_nonzero(b) for b in self.biases)),
            "active_hidden": active,
            "active_neurons": int(sum(active)),
            "hidden_neurons": int(sum(self.hidden)),
        }

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
        """The model file's fields; ``P_first`` only when set (files without it mean P everywhere)."""
        first = {} if self.P_first is None else {"P_first": int(self.P_first)}
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "P": int(self.P),
            **first,
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
        """A network from its JSON dict, every field checked exactly (see :func:`_checked_fields`)."""
        return cls(**_checked_fields(d))

    @classmethod
    def load(cls, path: str | Path) -> "IntegerNetwork":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelFileError(f"model file {path} does not exist") from None
        except IsADirectoryError:
            raise ModelFileError(f"model file {path} is a directory") from None
        except UnicodeDecodeError:
            raise ModelFileError(f"model file {path} is not UTF-8 text (not a model file, or corrupt)") from None
        except OSError as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model file {path} is not valid JSON (corrupt or truncated at line {exc.lineno})") from None
        except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits; nesting too deep
            raise ModelFileError(f"model file {path} is not a usable JSON file ({str(exc).splitlines()[0]})") from None
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
    def from_vector(cls, vector, layer_sizes, P: int, P_first: int | None = None, **meta: Any) -> "IntegerNetwork":
        """Inverse of :meth:`to_vector` for ``layer_sizes`` (inputs, hidden..., outputs); values are
        rounded to integers and clipped to each layer's [-P_l, P_l]; ``meta`` goes to the constructor."""
        sizes = [int(s) for s in layer_sizes]
        shapes = list(zip(sizes[:-1], sizes[1:]))
        vector = np.rint(np.asarray(vector, dtype=float))
        if vector.size != sum(a * b + b for a, b in shapes):
            raise ValueError(f"a weight vector of {vector.size} values does not fit layer sizes {sizes}")
        vector = np.clip(vector, -parameter_bounds(sizes, P, P_first), parameter_bounds(sizes, P, P_first))
        vector = vector.astype(np.int64)
        weights, pos = [], 0
        for a, b in shapes:
            weights.append(vector[pos : pos + a * b].reshape(a, b))
            pos += a * b
        biases = []
        for _, b in shapes:
            biases.append(vector[pos : pos + b])
            pos += b
        return cls(weights=weights, biases=biases, P=P, P_first=P_first, **meta)


def parameter_bounds(layer_sizes, P: int, P_first: int | None = None) -> np.ndarray:
    """P_l of every entry of the canonical weight vector (:meth:`IntegerNetwork.to_vector` order)."""
    sizes = [int(s) for s in layer_sizes]
    shapes = list(zip(sizes[:-1], sizes[1:]))
    weights = [np.full(a * b, layer_P(P, P_first, l)) for l, (a, b) in enumerate(shapes, start=1)]
    biases = [np.full(b, layer_P(P, P_first, l)) for l, (_, b) in enumerate(shapes, start=1)]
    return np.concatenate(weights + biases).astype(np.int64)


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


# ------------------------------------------------------------------ model-file validation
# Bounds of a model file's integers: P fits the solvers' and numpy's int64 arithmetic (a score is at
# most (H + 1) P in absolute value); the tie seed seeds numpy's generator.
MAX_FILE_P = 2**31 - 1
MAX_TIE_SEED = 2**63 - 1
MAX_DECIMALS = 15


def _shown(value: Any) -> str:
    """A JSON value as it appears in a message (at most 40 characters)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(value: Any, where: str, lo: int, hi: int) -> int:
    if not _is_int(value) or not lo <= value <= hi:
        raise ModelFileError(f"malformed field {where}: {_shown(value)} is not an integer in [{lo}, {hi}]")
    return int(value)


def _int_vector(values: Any, where: str, P: int, name: str = "P") -> np.ndarray:
    """A non-empty JSON list of integers in [-P, P] as int64; the message names the first bad entry
    (``name``: the bound's name in it, P or P_first)."""
    if not isinstance(values, list) or not values:
        raise ModelFileError(f"malformed field {where}: must be a non-empty list of integers, got {_shown(values)}")
    if not all(_is_int(v) and -P <= v <= P for v in values):
        j, bad = next((j, v) for j, v in enumerate(values) if not (_is_int(v) and -P <= v <= P))
        what = (f"is outside [-{name}, {name}]" if _is_int(bad)
                else f"is not an integer (weights and biases are integers in [-{name}, {name}])")
        raise ModelFileError(f"malformed field {where}[{j}]: {_shown(bad)} {what} = [-{P}, {P}]")
    return np.array(values, dtype=np.int64)


def _checked_layers(layers: Any, P: int, P_first: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights (n_in, n_out) and biases (n_out,) of every layer, each in [-P_l, P_l]; layer l takes
    layer l-1's outputs."""
    if not isinstance(layers, list) or not layers:
        raise ModelFileError(f"malformed field layers: must be a non-empty list of layers, got {_shown(layers)}")
    weights, biases = [], []
    for l, layer in enumerate(layers):
        where = f"layers[{l}]"
        bound, name = layer_P(P, P_first, l + 1), ("P_first" if l == 0 and P_first is not None else "P")
        if not isinstance(layer, dict) or "weights" not in layer or "biases" not in layer:
            raise ModelFileError(
                f"malformed field {where}: must be an object with 'weights' and 'biases', got {_shown(layer)}")
        rows = layer["weights"]
        if not isinstance(rows, list) or not rows:
            raise ModelFileError(
                f"malformed field {where}.weights: must be a non-empty list of rows, got {_shown(rows)}")
        w = [_int_vector(row, f"{where}.weights[{i}]", bound, name) for i, row in enumerate(rows)]
        b = _int_vector(layer["biases"], f"{where}.biases", bound, name)
        for i, row in enumerate(w):
            if len(row) != len(b):
                raise ModelFileError(f"malformed field {where}.weights[{i}]: {len(row)} entries, "
                                     f"but the layer has {len(b)} biases (one per output)")
        if l and len(w) != len(biases[-1]):
            raise ModelFileError(f"malformed field {where}.weights: {len(w)} rows (inputs), "
                                 f"but layers[{l - 1}] has {len(biases[-1])} outputs")
        weights.append(np.vstack(w))
        biases.append(b)
    return weights, biases


def _checked_classes(classes: Any, n_outputs: int) -> list[Any]:
    """One distinct label (string, number or boolean) per output neuron; missing or [] means 0..k-1."""
    if classes is None or classes == []:
        return list(range(n_outputs))
    if not isinstance(classes, list):
        raise ModelFileError(f"malformed field: 'classes' must be a list, got {type(classes).__name__}")
    for k, c in enumerate(classes):
        if not isinstance(c, (str, int, float)) or (isinstance(c, float) and not np.isfinite(c)):
            raise ModelFileError(
                f"malformed field classes[{k}]: {_shown(c)} is not a class label (a string or a finite number)")
    if len({(isinstance(c, str), c) for c in classes}) != len(classes):
        raise ModelFileError(f"malformed field classes: the labels {_shown(classes)} are not distinct")
    if len(classes) != n_outputs:
        raise ModelFileError(f"{len(classes)} classes but {n_outputs} output neurons")
    return list(classes)


def _checked_preprocessing(prep: Any, n_inputs: int) -> dict[str, Any] | None:
    """None, ``{"decimals": d}`` (arrays already on the grid) or a full Preprocessor dict whose
    features are the first layer's inputs."""
    if prep is None:
        return None
    if not isinstance(prep, dict):
        raise ModelFileError(f"malformed field: 'preprocessing' must be a dict, got {type(prep).__name__}")
    if "decimals" in prep:
        _int_field(prep["decimals"], "preprocessing.decimals", 0, MAX_DECIMALS)
    if "features" in prep:
        from mipnn_pyomo.data import Preprocessor  # data does not import this module

        n_features = len(Preprocessor.from_dict(prep).features)
        if n_features != n_inputs:
            raise ModelFileError(f"the model lists {n_features} features but its first layer takes {n_inputs} inputs")
    return prep


def _checked_fields(d: Any) -> dict[str, Any]:
    """The constructor arguments of a model file's dict, every type and range checked exactly:
    format and version, P (and P_first, if present and not null) an integer in [1, MAX_FILE_P],
    every weight and bias an integer in [-P_l, P_l] (P_first for the first layer; not a float,
    boolean or string), consistent layer shapes, one distinct class per
    output, preprocessing, training a dict, tie_seed an integer in [0, 2^63 - 1]. Errors name the
    JSON path of the bad value, e.g. ``layers[0].weights[3][1]``."""
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
        raise ModelFileError(f"not a {FORMAT_NAME} file (its 'format' field is {d.get('format') if isinstance(d, dict) else None!r})")
    if not _is_int(d.get("version")) or d["version"] != FORMAT_VERSION:
        raise ModelFileError(f"model file version {_shown(d.get('version'))} is not supported (this library reads version {FORMAT_VERSION})")
    for key in ("P", "layers"):
        if key not in d:
            raise ModelFileError(f"model file is missing or has a malformed field: {key!r} is missing")
    P = _int_field(d["P"], "P", 1, MAX_FILE_P)
    P_first = None if d.get("P_first") is None else _int_field(d["P_first"], "P_first", 1, MAX_FILE_P)
    weights, biases = _checked_layers(d["layers"], P, P_first)
    training = d.get("training")
    if training is not None and not isinstance(training, dict):
        raise ModelFileError(f"malformed field: 'training' must be a dict, got {type(training).__name__}")
    return {
        "weights": weights,
        "biases": biases,
        "P": P,
        "P_first": P_first,
        "classes": _checked_classes(d.get("classes"), len(biases[-1])),
        "preprocessing": _checked_preprocessing(d.get("preprocessing"), len(weights[0])),
        "training": training or {},
        "tie_seed": _int_field(d.get("tie_seed", 0), "tie_seed", 0, MAX_TIE_SEED),
    }
