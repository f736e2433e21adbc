"""Constraint blocks of the generalisation objectives and of the recipes' held values, added to
the base model (formulation.py) only when an objective or a recipe stage needs them. Each works
on an abstract model (rules) and on a concrete one. Notation as in formulation.py; B = P (H + 1)
bounds every output score; hidden neurons are (l, j) with l < L; P_l is layer l's bound (P_first
for l = 1 when set, else P: the Param ``P_layer``).

nonzero indicators (min-weight)        z[l,i,j], zb[l,j] in {0,1}
    -P_l z[l,i,j] <= w[l,i,j] <= P_l z[l,i,j],   -P_l zb[l,j] <= b[l,j] <= P_l zb[l,j]  (z = 0 => w = 0)

neuron indicators (min-neurons)         v[l,j] in {0,1} per hidden neuron
    -P_l v[l,j] <= w[l,i,j] <= P_l v[l,j]              every in-weight i
    -P_l v[l,j] <= b[l,j]   <= P_l v[l,j]              its bias
    -P_{l+1} v[l,j] <= w[l+1,j,o] <= P_{l+1} v[l,j]    every out-weight o      (v = 0 => neuron removed)

neuron margins (neuron-margin, BeMi)    mu[l,j] in {0..U_l} integer; margin m[l,j] = eps_l mu[l,j]
    u = 1 => a >= m:          a[l,j,k] >= eps_l mu - (M + eps_l U_l) (1 - u[l,j,k])
    u = 0 => a <= -eps_l - m: a[l,j,k] <= -eps_l (1 + mu) + (M + eps_l (1 + U_l)) u[l,j,k]
    for every sample k (M, eps_l: the sign rows' big-M and step; U_1 = ceil(max_k M_k / eps_1),
    U_l = M_l for l >= 2). With sign(0) = +1 the margin of a neuron on the network is
    min_k (a_k if a_k >= 0 else -a_k - eps_l): the distance to the nearest pre-activation that
    would flip it.

accuracy floor (recipes' "accuracy" hold)   r[k] in {0,1} per sample
    r = 1 => sample k predicted y_k:  s[y_k,k] - s[j,k] >= delta[k,j] - (2B + 1)(1 - r[k])  (j != y_k)
    sum_k r[k] >= min_correct
    delta[k,j] = 0 when the network's tie rule (tie_break_argmax, tie seed 0) prefers y_k to j on
    sample k, else 1; so r = 1 exactly when the forward pass predicts y_k (ties included).
"""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo

from mipnn_pyomo.network import IntegerNetwork, row_keys


def _is_hidden(m, l) -> bool:
    return l < pyo.value(m.L)


# --------------------------------------------------------------------------- nonzero indicators


def add_nonzero_indicators(m) -> None:
    """z[l,i,j] (weights) and zb[l,j] (biases): -P_l z <= w <= P_l z."""
    m.z = pyo.Var(m.W_INDEX, within=pyo.Binary, doc="z = 0 => w = 0")
    m.zb = pyo.Var(m.B_INDEX, within=pyo.Binary, doc="zb = 0 => b = 0")
    m.weight_upper = pyo.Constraint(m.W_INDEX, rule=lambda m, l, i, j: m.w[l, i, j] <= m.P_layer[l] * m.z[l, i, j])
    m.weight_lower = pyo.Constraint(m.W_INDEX, rule=lambda m, l, i, j: m.w[l, i, j] >= -m.P_layer[l] * m.z[l, i, j])
    m.bias_upper = pyo.Constraint(m.B_INDEX, rule=lambda m, l, j: m.b[l, j] <= m.P_layer[l] * m.zb[l, j])
    m.bias_lower = pyo.Constraint(m.B_INDEX, rule=lambda m, l, j: m.b[l, j] >= -m.P_layer[l] * m.zb[l, j])


def nonzero_count(m):
    return sum(m.z.values()) + sum(m.zb.values())


def nonzero_start(m, network: IntegerNetwork) -> list:
    values = [(m.z[l + 1, i, j], float(v != 0)) for l, w in enumerate(network.weights) for (i, j), v in np.ndenumerate(w)]
    return values + [(m.zb[l + 1, j], float(v != 0)) for l, b in enumerate(network.biases) for j, v in enumerate(b)]


def count_nonzero(network: IntegerNetwork) -> int:
    """Non-zero weights and biases of ``network``."""
    return int(sum(np.count_nonzero(w) for w in network.weights) + sum(np.count_nonzero(b) for b in network.biases))


# --------------------------------------------------------------------------- neuron indicators


def _hidden_neurons(m) -> list:
    return [(l, j) for (l, j) in m.B_INDEX if _is_hidden(m, l)]


def _declare_hidden_neurons(m) -> None:
    if not hasattr(m, "HIDDEN_NEURONS"):
        m.HIDDEN_NEURONS = pyo.Set(dimen=2, ordered=True, initialize=_hidden_neurons)


def _neuron_links(m) -> list:
    """(l, j, kind, t) for every parameter of every hidden neuron (l, j): kind "in" (w[l,t,j]),
    "bias" (b[l,j]), "out" (w[l+1,j,t])."""
    links = []
    for l, j in _hidden_neurons(m):
        links += [(l, j, "in", i) for i in range(pyo.value(m.n_in[l]))] + [(l, j, "bias", 0)]
        links += [(l, j, "out", o) for (ll, o) in m.B_INDEX if ll == l + 1]
    return links


def _link_var(m, l, j, kind, t):
    return m.w[l, t, j] if kind == "in" else m.b[l, j] if kind == "bias" else m.w[l + 1, j, t]


def _link_bound(m, l, kind):
    """P of the linked parameter's layer: P_l for in-weights and the bias, P_{l+1} for out-weights."""
    return m.P_layer[l + 1] if kind == "out" else m.P_layer[l]


def add_neuron_indicators(m) -> None:
    """v[l,j] per hidden neuron: -P_l v <= every in-weight, the bias <= P_l v; -P_{l+1} v <= every
    out-weight <= P_{l+1} v."""
    _declare_hidden_neurons(m)
    m.NEURON_LINKS = pyo.Set(dimen=4, ordered=True, initialize=_neuron_links)
    m.v = pyo.Var(m.HIDDEN_NEURONS, within=pyo.Binary, doc="v = 0 => the neuron's parameters are 0")
    m.neuron_upper = pyo.Constraint(
        m.NEURON_LINKS, rule=lambda m, l, j, kind, t: _link_var(m, l, j, kind, t) <= _link_bound(m, l, kind) * m.v[l, j])
    m.neuron_lower = pyo.Constraint(
        m.NEURON_LINKS, rule=lambda m, l, j, kind, t: _link_var(m, l, j, kind, t) >= -_link_bound(m, l, kind) * m.v[l, j])


def active_neurons(network: IntegerNetwork) -> np.ndarray:
    """(one bool array per hidden layer) neurons with a non-zero in-weight, bias or out-weight."""
    out = []
    for l in range(len(network.weights) - 1):
        w_in, b, w_out = network.weights[l], network.biases[l], network.weights[l + 1]
        out.append((w_in != 0).any(axis=0) | (b != 0) | (w_out != 0).any(axis=1))
    return out


def active_neuron_count(network: IntegerNetwork) -> int:
    return int(sum(a.sum() for a in active_neurons(network)))


def neuron_start(m, network: IntegerNetwork) -> list:
    return [(m.v[l + 1, j], float(on)) for l, act in enumerate(active_neurons(network)) for j, on in enumerate(act)]


# --------------------------------------------------------------------------- neuron margins


def _margin_cap(m, l) -> int:
    """U_l: the largest margin (in steps eps_l) a pre-activation of layer l can have."""
    eps = pyo.value(m.eps_layer[l])
    big_m = max(pyo.value(m.M_first[k]) for k in m.SAMPLES) if l == 1 else pyo.value(m.M_layer[l])
    return int(math.ceil(big_m / eps - 1e-9))


def add_neuron_margins(m) -> None:
    """mu[l,j] integer in [0, U_l]; u = 1 => a >= eps_l mu; u = 0 => a <= -eps_l (1 + mu) (module docstring).
    Uses the sign activation's u, M_first, M_layer and eps_layer."""
    _declare_hidden_neurons(m)
    m.margin_cap = pyo.Param(m.LAYERS, initialize=lambda m, l: _margin_cap(m, l) if _is_hidden(m, l) else 0)
    m.mu = pyo.Var(m.HIDDEN_NEURONS, within=pyo.NonNegativeIntegers,
                   bounds=lambda m, l, j: (0, m.margin_cap[l]), doc="margin of neuron (l,j) in steps eps_l")

    def big_m(m, l, k):
        return pyo.value(m.M_first[k] if l == 1 else m.M_layer[l]), pyo.value(m.eps_layer[l])

    def active(m, l, j, k):
        M, eps = big_m(m, l, k)
        return m.preactivation[l, j, k] >= eps * m.mu[l, j] - (M + eps * m.margin_cap[l]) * (1 - m.u[l, j, k])

    def inactive(m, l, j, k):
        M, eps = big_m(m, l, k)
        return m.preactivation[l, j, k] <= -eps * (1 + m.mu[l, j]) + (M + eps * (1 + m.margin_cap[l])) * m.u[l, j, k]

    m.margin_active = pyo.Constraint(m.HIDDEN_INDEX, rule=active, doc="u = 1 => a >= eps mu")
    m.margin_inactive = pyo.Constraint(m.HIDDEN_INDEX, rule=inactive, doc="u = 0 => a <= -eps (1 + mu)")


def margin_sum(m):
    return sum(m.eps_layer[l] * m.mu[l, j] for (l, j) in m.HIDDEN_NEURONS)


def neuron_margins(network: IntegerNetwork, X: np.ndarray, eps_first: float) -> list[np.ndarray]:
    """Per hidden layer, each neuron's margin on the rows X: min_k (a if a >= 0 else -a - eps_l),
    eps_1 = the input grid step, 1 for later layers (integer pre-activations)."""
    decimals = int((network.preprocessing or {}).get("decimals", 4))
    h = np.round(np.asarray(X, dtype=float), decimals)
    out = []
    for l in range(len(network.weights) - 1):
        a = h @ network.weights[l] + network.biases[l]
        eps = eps_first if l == 0 else 1.0
        if l == 0:
            a = np.round(a, decimals)
        dist = np.where(a >= 0, a, -a - eps)
        out.append(dist.min(axis=0) if len(a) else np.zeros(a.shape[1]))
        h = np.where(a >= 0, 1, -1)
    return out


def margin_start(m, network: IntegerNetwork, X: np.ndarray, eps_first: float) -> list:
    values = []
    for l, margins in enumerate(neuron_margins(network, X, eps_first), start=1):
        eps = eps_first if l == 1 else 1.0
        values += [(m.mu[l, j], float(math.floor(v / eps + 1e-6))) for j, v in enumerate(margins)]
    return values


# --------------------------------------------------------------------------- accuracy floor


def tie_preference(y: np.ndarray, X: np.ndarray, n_classes: int, decimals: int, tie_seed: int = 0) -> np.ndarray:
    """delta[k, j] (N, n_classes): 0 where j = y_k or the tie rule of :func:`network.tie_break_argmax` (keys
    drawn per row from (tie_seed, row key)) prefers y_k to output j on sample k, else 1."""
    keys = row_keys(X, decimals)
    delta = np.ones((len(y), n_classes), dtype=np.int64)
    for k, key in enumerate(keys.tolist()):
        draws = np.random.default_rng([int(tie_seed) & 0xFFFFFFFF, int(key)]).random(n_classes)
        delta[k] = np.where(draws[int(y[k])] > draws, 0, 1)
        delta[k, int(y[k])] = 0  # the true class against itself: no row
    return delta


def add_accuracy_floor(m) -> None:
    """r[k]: r = 1 => s[y_k,k] - s[j,k] >= delta[k,j] - (2B + 1)(1 - r); sum_k r >= min_correct.
    Params tie_delta[k,j], true_class[k], min_correct (data: :func:`accuracy_floor_data`)."""
    m.tie_delta = pyo.Param(m.SAMPLES, m.OUTPUTS, within=pyo.Binary, doc="0: y_k wins a tie against j")
    m.true_class = pyo.Param(m.SAMPLES, within=pyo.NonNegativeIntegers)
    m.min_correct = pyo.Param(within=pyo.NonNegativeIntegers, mutable=True, doc="samples that must be correct")
    m.r = pyo.Var(m.SAMPLES, within=pyo.Binary, doc="r = 1 => sample k is predicted correctly")

    def beats(m, k, j):
        y, L = pyo.value(m.true_class[k]), pyo.value(m.L)
        if j == y:
            return pyo.Constraint.Skip
        slack = 2 * pyo.value(m.M_out) + 1
        return (m.preactivation[L, y, k] - m.preactivation[L, j, k]
                >= m.tie_delta[k, j] - slack * (1 - m.r[k]))

    m.correct_beats = pyo.Constraint(m.SAMPLES, m.OUTPUTS, rule=beats, doc="r = 1 => s_y - s_j >= delta")
    m.accuracy_floor = pyo.Constraint(rule=lambda m: sum(m.r[k] for k in m.SAMPLES) >= m.min_correct)


def accuracy_floor_data(X: np.ndarray, y: np.ndarray, n_classes: int, decimals: int, min_correct: int) -> dict:
    delta = tie_preference(y, X, n_classes, decimals)
    return {
        "tie_delta": {(k, j): int(delta[k, j]) for k in range(len(y)) for j in range(n_classes)},
        "true_class": {k: int(c) for k, c in enumerate(y)},
        "min_correct": {None: int(min_correct)},
    }


def correct_counts(S: np.ndarray, y: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Samples predicted correctly (ties by ``delta``) for stacks of output scores S (..., N, n_out):
    s[y_k] - s[j] >= delta[k, j] for every j."""
    true = S[..., np.arange(len(y)), y][..., None]
    return np.all(true - S >= delta, axis=-1).sum(axis=-1)


def accuracy_start(m, network: IntegerNetwork, X: np.ndarray, y: np.ndarray) -> list:
    correct = network.predict_index(X) == y
    return [(m.r[k], float(c)) for k, c in enumerate(correct)]
