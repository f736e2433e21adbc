"""Gradient-descent baseline: BinaryNet-style training of an integer sign-activation network in numpy.

The trained object is the same :class:`~mipnn_pyomo.network.IntegerNetwork` the MIP returns: an MLP
with sign activations (sign(0) = +1) and integer weights and biases in [-P, P]. Training keeps
real-valued *latent* parameters ``W_lat``; every forward pass uses the integer network

    Wq = round(clip(W_lat, -P, P)),      h^l = sign(h^{l-1} Wq^l + bq^l),      s = h^{L-1} Wq^L + bq^L,

and the loss is the MIP's min-hinge objective written in the normalised outputs
``yhat = s / S``, S = P (H + 1) / 2 (:func:`mipnn_pyomo.numerics.score_scale`), with one-hot +-1
targets Y and margin m (``margin``, default 1/2, the formulation's ``--margin``):

    loss = sum_{k, j} max(0, m - Y_kj * yhat_kj)^2.

Gradients come from the straight-through estimator (STE):

* ``d round(clip(w)) / dw = 1`` if ``|w| <= P`` else 0 (round is passed straight through, the clip is not);
* ``d sign(a) / da = 1`` if ``|a| <= window_l`` else 0 (a hard-tanh window per hidden layer).

This is *exactly* the backward pass of the smooth surrogate network in which round is replaced by the
identity inside the clip and sign by ``clip(a, -window_l, window_l)`` (= window_l * hardtanh(a / window_l)),
evaluated with the integer network's forward values. :func:`gd_loss_and_grads` runs either forward pass
(``mode="ste"`` or ``mode="surrogate"``) through one shared backward routine, so finite differences of
the surrogate check the STE's backward rules.

Window: by default ``window_l = window_scale * (P / 2) * sqrt(fan_in_l * ms(input_l) + 1)``, which is about
the standard deviation of layer l's pre-activation (weights and bias) at initialisation: the quantised
initial parameters have an rms of roughly P/2. ``ms(input)`` is the mean square of the (grid-rounded)
data for the first layer and 1 for later layers, whose inputs are +-1. See docs/gd.md.

``backprop="quantized"`` (default) is the strict STE: the gradient is passed back through the integer
weights Wq used in the forward pass. ``backprop="latent"`` passes it back through clip(W_lat) instead,
so that weights rounded to 0 do not block the gradient of earlier layers (a variant, off by default).

Optimiser: full-batch Adam (beta1 0.9, beta2 0.999, eps 1e-8) with step size ``lr * lr_decay**epoch``;
latent parameters are clipped to [-P, P] after each step (as in BinaryNet), so that no latent weight
leaves the region where its STE gradient is non-zero. Initial latent weights and biases are drawn from
a normal with std P/2 truncated at 2 std (so inside [-P, P]). No batch norm.

``P_first`` (None: P): the first layer's weights and biases live in [-P_first, P_first] instead.
Every P above is then per layer, P_l (:func:`mipnn_pyomo.numerics.layer_P`): the clip, the
rounding and the STE mask of a parameter use its layer's P_l, its initial std is P_l / 2 and the
first layer's window uses P_1; the loss's scale S = P (H + 1) / 2 stays on the output layer's P.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mipnn_pyomo.errors import DataError, ModelConfigError
from mipnn_pyomo.network import HIDDEN_ACTIVATION, IntegerNetwork, row_keys, tie_break_argmax
from mipnn_pyomo.numerics import check_P, check_P_first, layer_P, score_scale

__all__ = [
    "GDResult",
    "train_gd",
    "gd_loss_and_grads",
    "default_windows",
    "init_latent",
    "quantize",
    "one_hot_pm1",
    "integer_loss",
]

DEFAULT_MARGIN = 0.5  # the formulation's default margin (FormulationOptions.margin)


@dataclass
class GDResult:
    """The outcome of :func:`train_gd`: the best integer network seen and how training went."""

    network: IntegerNetwork
    status: str  # "target_reached" | "plateau" | "time_limit" | "max_epochs"
    train_accuracy: float  # network.accuracy(X, y): the shared forward pass
    loss: float  # loss of the returned integer network (not of the latent parameters)
    epochs: int  # epochs run (forward passes evaluated)
    runtime_s: float
    history: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- building blocks
def param_bounds(n_layers: int, P: int, P_first: int | None = None) -> list[int]:
    """P_l of each latent parameter [W1, b1, ..., WL, bL] (P_first for W1 and b1 when set)."""
    return [layer_P(P, P_first, l) for l in range(1, n_layers + 1) for _ in (0, 1)]


def quantize(w: np.ndarray, P: int) -> np.ndarray:
    """Integer parameters round(clip(w, -P, P)) as float64 (exact small integers)."""
    return np.rint(np.clip(w, -P, P))


def one_hot_pm1(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Targets Y[k, j] = +1 if y_k == j else -1, shape (n, n_classes)."""
    Y = -np.ones((len(y), n_classes))
    Y[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
    return Y


def _hinge_loss_and_grad(s: np.ndarray, Y: np.ndarray, P: int, H: int,
                         margin: float = DEFAULT_MARGIN) -> tuple[float, np.ndarray]:
    """Squared hinge loss of scores s at margin m and its gradient d loss / d s."""
    c = 1.0 / score_scale(P, H)
    r = np.maximum(0.0, margin - Y * (c * s))
    return float(np.sum(r * r)), -2.0 * r * Y * c


def integer_loss(network: IntegerNetwork, X: np.ndarray, y: np.ndarray, margin: float = DEFAULT_MARGIN) -> float:
    """The training loss of an integer network, from its own forward pass (IntegerNetwork.output_scores)."""
    Y = one_hot_pm1(np.asarray(y), network.n_outputs)
    s = np.asarray(network.output_scores(X), dtype=float)
    return _hinge_loss_and_grad(s, Y, network.P, network.last_hidden_width, margin)[0]


def _truncated_normal(rng: np.random.Generator, std: float, shape: tuple[int, ...]) -> np.ndarray:
    """Normal(0, std) truncated at +-2 std (resampling outside values), deterministic for the generator."""
    out = rng.normal(0.0, std, size=shape)
    bad = np.abs(out) > 2.0 * std
    while bad.any():
        out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
        bad = np.abs(out) > 2.0 * std
    return out


def init_latent(layer_sizes: Sequence[int], P: int, seed: int, P_first: int | None = None) -> list[np.ndarray]:
    """Latent parameters [W1, b1, W2, b2, ...] from a truncated normal (std P_l/2, cut at 2 std = P_l)."""
    rng = np.random.default_rng(seed)
    params: list[np.ndarray] = []
    for l, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1):
        bound = layer_P(P, P_first, l)
        params.append(_truncated_normal(rng, bound / 2.0, (n_in, n_out)))
        params.append(_truncated_normal(rng, bound / 2.0, (n_out,)))
    return params


def default_windows(X: np.ndarray, layer_sizes: Sequence[int], P: int, scale: float = 1.0,
                    P_first: int | None = None) -> list[float]:
    """STE window per hidden layer: scale * (P_l/2) * sqrt(fan_in * ms(input) + 1), about the initial pre-activation std.

    ms(input) is the mean square of X for the first layer and 1 for later layers (inputs +-1); the +1 is the bias.
    A first-layer window is never below 1e-6 (all-zero data would otherwise give no gradient)."""
    windows = []
    for l in range(len(layer_sizes) - 2):  # hidden layers only
        fan_in = layer_sizes[l]
        ms = float(np.mean(np.square(X))) if l == 0 else 1.0
        windows.append(max(scale * layer_P(P, P_first, l + 1) * math.sqrt(fan_in * ms + 1.0) / 2.0, 1e-6))
    return windows


def gd_loss_and_grads(
    params_latent: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    P: int,
    windows: Sequence[float],
    *,
    mode: str = "ste",
    decimals: int | None = 4,
    backprop: str = "quantized",
    margin: float = DEFAULT_MARGIN,
    P_first: int | None = None,
) -> tuple[float, list[np.ndarray], np.ndarray]:
    """Loss, gradients w.r.t. the latent parameters, and output scores.

    ``params_latent`` is [W1, b1, ..., WL, bL] (weights (n_in, n_out), biases (n_out,)); ``Y`` the +-1
    one-hot targets; ``windows`` one STE window per hidden layer.

    * ``mode="ste"``: forward pass of the integer network (Wq = round(clip(W)), h = sign(a) with
      sign(0) = +1, first-layer pre-activation rounded to ``decimals`` like IntegerNetwork.forward), so
      the loss is the integer network's true loss and the scores its integer scores; gradients by the STE.
    * ``mode="surrogate"``: forward pass of the smooth surrogate (clip(W) instead of round(clip(W)),
      clip(a, -window, window) instead of sign(a)); the returned gradient is its exact gradient.

    Both modes use the same backward rules: d q/dw = 1{|w| <= P}, d act/da = 1{|a| <= window}.
    ``backprop`` ("quantized" or "latent") picks the weights the gradient flows back through in
    ``mode="ste"``; in ``mode="surrogate"`` both are clip(W), the surrogate's weights.
    ``X`` is used as given (round it to the grid beforehand, as train_gd does); ``margin`` is the hinge's m.
    ``P_first``: the first layer's parameters use P_first in place of P (clip, round and mask)."""
    if backprop not in ("quantized", "latent"):
        raise ModelConfigError(f"backprop must be 'quantized' or 'latent', got {backprop!r}")
    if mode not in ("ste", "surrogate"):
        raise ModelConfigError(f"mode must be 'ste' or 'surrogate', got {mode!r}")
    n_layers = len(params_latent) // 2
    if len(windows) != n_layers - 1:
        raise ModelConfigError(f"need one window per hidden layer ({n_layers - 1}), got {len(windows)}")
    ste = mode == "ste"
    bounds = param_bounds(n_layers, P, P_first)
    qs = [quantize(p, bd) if ste else np.clip(p, -bd, bd) for p, bd in zip(params_latent, bounds)]
    masks = [(np.abs(p) <= bd).astype(float) for p, bd in zip(params_latent, bounds)]

    hs = [X]  # inputs to each layer
    act_masks = []
    h = X
    for l in range(n_layers):
        a = h @ qs[2 * l] + qs[2 * l + 1]
        if l == n_layers - 1:
            s = a
            break
        if ste and l == 0 and decimals is not None:
            a = np.round(a, decimals)  # same lattice rounding as IntegerNetwork.forward
        w = windows[l]
        act_masks.append((np.abs(a) <= w).astype(float))
        h = HIDDEN_ACTIVATION.forward(a).astype(float) if ste else np.clip(a, -w, w)
        hs.append(h)
    if ste and n_layers > 1:
        s = np.rint(s)
    H = qs[-2].shape[0]
    loss, g = _hinge_loss_and_grad(s, Y, P, H, margin)

    grads: list[np.ndarray] = [np.empty(0)] * len(params_latent)
    for l in range(n_layers - 1, -1, -1):
        grads[2 * l] = (hs[l].T @ g) * masks[2 * l]
        grads[2 * l + 1] = g.sum(axis=0) * masks[2 * l + 1]
        if l:
            back_w = qs[2 * l] if backprop == "quantized" else np.clip(params_latent[2 * l], -bounds[2 * l],
                                                                       bounds[2 * l])
            g = (g @ back_w.T) * act_masks[l - 1]
    return loss, grads, s


# --------------------------------------------------------------------------- validation
def _validate(X, y, n_classes, hidden, P, lr, lr_decay, max_epochs, target_accuracy, time_limit, patience, classes):
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataError("X must be a numeric array of shape (n_samples, n_features)") from None
    if X.ndim != 2:
        raise DataError(f"X must be a 2-D array (n_samples, n_features), got {X.ndim} dimension(s)")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"X must have at least one row and one column, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise DataError("X contains NaN or infinite values")
    y_arr = np.asarray(y)
    if y_arr.ndim != 1 or y_arr.shape[0] != X.shape[0]:
        raise DataError(f"y must be a 1-D array with one label per row of X ({X.shape[0]}), got shape {y_arr.shape}")
    if y_arr.dtype.kind not in "iub":
        if y_arr.dtype.kind != "f" or not np.all(np.isfinite(y_arr)) or not np.all(y_arr == np.rint(y_arr)):
            raise DataError("y must hold integer class indices 0..n_classes-1 (NaN or non-integer labels found)")
    y_arr = y_arr.astype(np.int64)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ModelConfigError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    if y_arr.min() < 0 or y_arr.max() >= n_classes:
        raise DataError(f"labels must lie in 0..{n_classes - 1}, found labels from {y_arr.min()} to {y_arr.max()}")
    check_P(P)
    try:
        hidden = [int(h) for h in hidden]
    except (TypeError, ValueError):
        raise ModelConfigError(f"hidden must be a list of positive integer layer widths, got {hidden!r}") from None
    if any(h < 1 for h in hidden):
        raise ModelConfigError(f"every hidden layer width must be at least 1, got {hidden}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ModelConfigError(f"lr must be a positive number, got {lr!r}")
    if not (0 < lr_decay <= 1):
        raise ModelConfigError(f"lr_decay must lie in (0, 1], got {lr_decay!r}")
    if int(max_epochs) < 1:
        raise ModelConfigError(f"max_epochs must be at least 1, got {max_epochs!r}")
    if target_accuracy is not None and not (0 < target_accuracy <= 1):
        raise ModelConfigError(f"target_accuracy must lie in (0, 1] or be None, got {target_accuracy!r}")
    if time_limit is not None and not (time_limit > 0):
        raise ModelConfigError(f"time_limit must be positive or None, got {time_limit!r}")
    if int(patience) < 1:
        raise ModelConfigError(f"patience must be at least 1, got {patience!r}")
    if classes is not None and len(classes) != n_classes:
        raise ModelConfigError(f"classes has {len(classes)} entries but n_classes is {n_classes}")
    return X, y_arr, hidden


# --------------------------------------------------------------------------- training
class _Adam:
    """Full-batch Adam (beta1 0.9, beta2 0.999, eps 1e-8), step size lr * lr_decay**(epoch - 1);
    parameters clipped to their layer's [-P_l, P_l] after each step (``bounds``: one P_l per parameter)."""

    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def __init__(self, params: list[np.ndarray], lr: float, lr_decay: float, bounds: list[int]):
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.lr, self.lr_decay, self.bounds = lr, lr_decay, bounds

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], epoch: int) -> None:
        step = self.lr * self.lr_decay ** (epoch - 1)
        b1, b2 = self.beta1, self.beta2
        bc1, bc2 = 1 - b1**epoch, 1 - b2**epoch
        for i, g in enumerate(grads):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            params[i] = np.clip(params[i] - step * (self.m[i] / bc1) / (np.sqrt(self.v[i] / bc2) + self.eps),
                                -self.bounds[i], self.bounds[i])


@dataclass
class _Best:
    """The best integer parameters seen (highest accuracy, then lowest loss) and the plateau count."""

    key: tuple[float, float] | None = None
    ints: list[np.ndarray] = field(default_factory=list)
    epoch: int = -1
    loss_seen: float = math.inf
    since_improved: int = 0

    def update(self, acc: float, loss: float, params: list[np.ndarray], bounds: list[int], epoch: int) -> None:
        if self.key is None or (acc, -loss) > self.key:
            self.key, self.ints, self.epoch = (acc, -loss), [quantize(p, bd) for p, bd in zip(params, bounds)], epoch
        if loss < self.loss_seen - 1e-12:
            self.loss_seen, self.since_improved = loss, 0
        else:
            self.since_improved += 1


def train_gd(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    hidden: Sequence[int] = (16,),
    P: int = 1,
    *,
    seed: int = 0,
    lr: float = 1e-2,
    lr_decay: float = 0.999,
    max_epochs: int = 5000,
    target_accuracy: float | None = 0.9,
    time_limit: float | None = 60.0,
    patience: int = 500,
    classes: list[Any] | None = None,
    preprocessing: dict[str, Any] | None = None,
    verbose: bool = False,
    window_scale: float = 1.0,
    log_every: int = 10,
    backprop: str = "quantized",
    margin: float = DEFAULT_MARGIN,
    P_first: int | None = None,
) -> GDResult:
    """Train an integer sign-activation MLP by full-batch Adam with the straight-through estimator.

    Returns the best integer network seen (highest training accuracy, then lowest loss). Stops when the
    integer network reaches ``target_accuracy`` on the training data (checked by IntegerNetwork.accuracy),
    when the best integer loss has not improved for ``patience`` epochs ("plateau"), at ``time_limit``
    seconds, or after ``max_epochs``. Deterministic for a given seed (unless the time limit cuts in).
    ``history``: every ``log_every`` epochs, the first and the last. ``P_first``: module docstring."""
    t0 = time.perf_counter()
    X, y, hidden = _validate(X, y, n_classes, hidden, P, lr, lr_decay, max_epochs, target_accuracy,
                             time_limit, patience, classes)
    _check_window_and_margin(window_scale, margin)
    P, P_first, n_classes = int(P), check_P_first(P_first), int(n_classes)
    decimals = int((preprocessing or {}).get("decimals", 4))
    Xr = np.round(X, decimals)  # the grid IntegerNetwork.forward uses
    Y = one_hot_pm1(y, n_classes)
    sizes = [X.shape[1], *hidden, n_classes]
    windows = default_windows(Xr, sizes, P, window_scale, P_first)
    params, bounds = init_latent(sizes, P, seed, P_first), param_bounds(len(sizes) - 1, P, P_first)
    adam = _Adam(params, lr, lr_decay, bounds)
    training_info: dict[str, Any] = {
        "method": "gd", "seed": int(seed), "hidden": list(hidden), "lr": lr, "lr_decay": lr_decay,
        "max_epochs": int(max_epochs), "target_accuracy": target_accuracy, "patience": int(patience),
        "time_limit": time_limit, "window_scale": window_scale, "windows": windows, "backprop": backprop,
        "n_train": int(len(y)), "margin": margin,
    }

    def make_network(ints: list[np.ndarray]) -> IntegerNetwork:
        return IntegerNetwork(ints[0::2], ints[1::2], P, classes=list(classes) if classes is not None else [],
                              preprocessing=preprocessing, training=dict(training_info), P_first=P_first)

    best = _Best()
    history: list[dict[str, Any]] = []
    status = None
    epoch = 0
    keys = row_keys(Xr, decimals)
    for epoch in range(1, int(max_epochs) + 1):
        loss, grads, s = gd_loss_and_grads(params, Xr, Y, P, windows, mode="ste", decimals=decimals,
                                           backprop=backprop, margin=margin, P_first=P_first)
        acc = float(np.mean(tie_break_argmax(s, 0, keys) == y))  # same scores and tie-break as IntegerNetwork
        best.update(acc, loss, params, bounds, epoch)
        elapsed = time.perf_counter() - t0
        if epoch == 1 or epoch % max(int(log_every), 1) == 0:
            _log(history, epoch, elapsed, loss, acc, best, verbose)
        target_met = (target_accuracy is not None and best.key[0] >= target_accuracy - 1e-12  # confirmed on
                      and make_network(best.ints).accuracy(X, y) >= target_accuracy - 1e-12)  # the forward pass
        status = ("target_reached" if target_met else "plateau" if best.since_improved >= patience
                  else "time_limit" if time_limit is not None and elapsed >= time_limit else None)
        if status:
            break
        adam.step(params, grads, epoch)

    status = status or "max_epochs"
    runtime = time.perf_counter() - t0
    if not history or history[-1]["epoch"] != epoch:
        history.append({"epoch": epoch, "time_s": runtime, "loss": loss, "train_accuracy": acc})
    training_info.update({"status": status, "epochs": epoch, "best_epoch": best.epoch, "runtime_s": runtime})
    return _result(make_network(best.ints), X, y, margin, status, epoch, runtime, history, verbose)


def _check_window_and_margin(window_scale: float, margin: float) -> None:
    if not (window_scale > 0):
        raise ModelConfigError(f"window_scale must be positive, got {window_scale!r}")
    if not (0 < margin <= 1):
        raise ModelConfigError(f"margin must be in (0, 1], got {margin!r}")


def _log(history: list, epoch: int, elapsed: float, loss: float, acc: float, best: _Best, verbose: bool) -> None:
    history.append({"epoch": epoch, "time_s": elapsed, "loss": loss, "train_accuracy": acc})
    if verbose:
        print(f"[gd] epoch {epoch:5d}  loss {loss:10.4f}  acc {acc:.4f}  best acc {best.key[0]:.4f}")


def _result(network: IntegerNetwork, X, y, margin: float, status: str, epoch: int, runtime: float,
            history: list, verbose: bool) -> GDResult:
    """The GDResult of the best network, with its accuracy and loss by its own forward pass."""
    train_accuracy = network.accuracy(X, y)
    true_loss = integer_loss(network, X, y, margin)
    network.training.update({"train_accuracy": train_accuracy, "loss": true_loss})
    if verbose:
        print(f"[gd] {status} after {epoch} epochs ({runtime:.2f} s): best epoch {network.training['best_epoch']}, "
              f"train accuracy {train_accuracy:.4f}, loss {true_loss:.4f}")
    return GDResult(network=network, status=status, train_accuracy=train_accuracy, loss=true_loss,
                    epochs=epoch, runtime_s=runtime, history=history)
