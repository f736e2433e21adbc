"""The exact neighbourhood of one hidden neuron: which training rows a move can change, and the task
a worker solves (method ``neighbourhood``, docs/batch.md).

Network (one hidden layer, sign activation, sign(0) = +1, inputs x on the 10^-d grid):

    A_ij = 10^d (x_i . W1[:, j] + b1_j)          an integer (X_int = 10^d x is integral)
    h_ij = +1 if A_ij >= 0 else -1
    s_ic = sum_j h_ij W2[j, c] + b2_c            integer output scores

Prediction is the forward pass's (``network.tie_break_argmax``): the maximal score, ties broken by
one random key per (row, class), r_ic = default_rng([tie_seed, row_key_i]).random(n_classes), the
largest key winning (equal keys: the lower class index). So row i (label y) is classified
correctly exactly when, for every class c != y,

    s_iy - s_ic >= t_ic,    t_ic = 0 if (r_iy > r_ic or (r_iy == r_ic and y < c)) else 1.    (correct)

A move of neuron j changes only W1[:, j], b1_j, W2[j, :] and b2 (every other parameter stays at
the current network v), within the box [-P, P] and the local-branching ball sum_t |p_t - v_t| <= k
over those parameters. Per row and class c != y, with m_ic = s_iy - s_ic (current margin):

* if h_ij stays, the margin changes only through W2[j, y], W2[j, c], b2_y, b2_c, by at most one
  per unit of L1 distance:  m' in [m - k, m + k];
* h_ij can flip only if the first-layer part of the move (W1[:, j], b1_j) has L1 distance
  f >= f_i = ceil(need_i / g_i), need_i = A_ij + 1 if A_ij >= 0 else -A_ij, g_i = max(10^d,
  max_f |X_int[i, f]|) (one unit of a weight moves A by at most g_i); then
  m' in [m + delta - (k - f_i), m + delta + (k - f_i)], delta_ic = -2 h_ij (v2[j, y] - v2[j, c]).

Let lo_ic / hi_ic be the smallest / largest end over the possible cases. The row is **safe
correct** if lo_ic >= t_ic for all c, **safe wrong** if hi_ic < t_ic for some c: its correctness is
the same for every allowed move. Every other row is **sensitive** and enters the MIP
(:mod:`.neighbourhood_mip`); a sensitive row with f_i <= k is a **flip row** (its h_ij is a
variable), any other has h_ij fixed. So the MIP's objective plus the safe-correct count is the
number of correctly classified training rows, exactly, for every network in the neighbourhood.

With ``margin`` tau > 0 every t_ic above becomes t_ic + tau: the count is then of the rows
classified correctly with a score margin of at least tau (a more robust target than accuracy);
every bound and the exactness check stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mipnn_pyomo.network import row_keys


def tie_thresholds(X: np.ndarray, y: np.ndarray, n_classes: int, tie_seed: int, decimals: int) -> np.ndarray:
    """t (n, n_classes) of rule (correct): 0 where the true class wins a tie with class c, else 1
    (t[i, y_i] = 0, unused). The keys are the forward pass's (``tie_break_argmax`` with row keys)."""
    keys = row_keys(X, decimals)
    t = np.zeros((len(y), n_classes), dtype=np.int64)
    classes = np.arange(n_classes)
    for i, key in enumerate(keys):
        r = np.random.default_rng([int(tie_seed) & 0xFFFFFFFF, int(key)]).random(n_classes)
        wins = (r[y[i]] > r) | ((r[y[i]] == r) & (y[i] < classes))
        t[i] = np.where(wins | (classes == y[i]), 0, 1)
    return t


def correct_mask(scores: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Rule (correct): s_y - s_c >= t_c for every class c != y."""
    rows = np.arange(len(y))
    margin = scores[rows, y][:, None] - scores
    ok = margin >= thresholds
    ok[rows, y] = True
    return ok.all(axis=1)


@dataclass
class NeuronView:
    """The network v seen from hidden neuron j on some rows: A_j (integer pre-activation, 10^d
    units), h_j, the other neurons' part of the scores (``other``, without b2) and the scores."""

    neuron: int
    pre: np.ndarray  # (n,) int64, A_ij
    h: np.ndarray  # (n,) in {-1, +1}
    other: np.ndarray  # (n, n_classes) int64: sum_{j' != j} h_ij' W2[j', c]
    scores: np.ndarray  # (n, n_classes) int64


def unpack(vector: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(W1, b1, W2, b2) of a one-hidden-layer network vector (canonical order: weights, then biases)."""
    n_in, n_hidden, n_out = sizes
    v = np.asarray(vector, dtype=np.int64)
    w2_at, b1_at = n_in * n_hidden, n_in * n_hidden + n_hidden * n_out
    return (v[:w2_at].reshape(n_in, n_hidden), v[b1_at: b1_at + n_hidden], v[w2_at:b1_at].reshape(n_hidden, n_out),
            v[b1_at + n_hidden:])


def grid_inputs(X: np.ndarray, decimals: int) -> np.ndarray:
    """X_int = 10^d x as int64 (exact: the inputs are on the 10^-d grid)."""
    return np.rint(np.asarray(X, dtype=float) * 10.0**decimals).astype(np.int64)


def neuron_view(X_int: np.ndarray, vector: np.ndarray, sizes: list[int], neuron: int, decimals: int) -> NeuronView:
    """Integer forward pass of v on X_int, split into neuron j and the rest."""
    W1, b1, W2, b2 = unpack(vector, sizes)
    pre_all = X_int @ W1 + b1 * 10**decimals
    H = np.where(pre_all >= 0, 1, -1)
    full = H @ W2
    other = full - H[:, [neuron]] * W2[neuron][None, :]
    return NeuronView(neuron, pre_all[:, neuron], H[:, neuron], other, full + b2)


def flip_cost(X_int: np.ndarray, pre: np.ndarray, decimals: int) -> np.ndarray:
    """f_i: the least first-layer L1 distance that can flip h_ij (module docstring)."""
    unit = np.maximum(10**decimals, np.abs(X_int).max(axis=1, initial=0))
    need = np.where(pre >= 0, pre + 1, -pre)
    return -(-need // unit)


def margin_bounds(view: NeuronView, W2: np.ndarray, y: np.ndarray, k: int, cost: np.ndarray):
    """(lo, hi): (n, n_classes) bounds of the margin m'_ic over all allowed moves (module docstring)."""
    rows = np.arange(len(y))
    margin = view.scores[rows, y][:, None] - view.scores
    w_j = W2[view.neuron]
    delta = -2 * view.h[:, None] * (w_j[y][:, None] - w_j[None, :])
    can_flip = (cost <= k)[:, None]
    rest = np.maximum(k - cost, 0)[:, None]
    lo = np.minimum(margin - k, np.where(can_flip, margin + delta - rest, margin - k))
    hi = np.maximum(margin + k, np.where(can_flip, margin + delta + rest, margin + k))
    return lo, hi


@dataclass
class RowClasses:
    """Per training row: ``safe_correct`` / ``safe_wrong`` (bool masks), ``sensitive`` (indices),
    ``flip`` (bool per sensitive row: h_j may change), ``correct`` (bool: correct under v)."""

    safe_correct: np.ndarray
    safe_wrong: np.ndarray
    sensitive: np.ndarray
    flip: np.ndarray
    correct: np.ndarray


def classify_rows(view: NeuronView, W2: np.ndarray, y: np.ndarray, thresholds: np.ndarray, k: int,
                  X_int: np.ndarray, decimals: int) -> RowClasses:
    """Safe-correct, safe-wrong and sensitive rows for neuron j and radius k (module docstring)."""
    cost = flip_cost(X_int, view.pre, decimals)
    lo, hi = margin_bounds(view, W2, y, k, cost)
    rows = np.arange(len(y))
    others = np.ones_like(thresholds, dtype=bool)
    others[rows, y] = False
    safe_correct = np.where(others, lo >= thresholds, True).all(axis=1)
    safe_wrong = np.where(others, hi < thresholds, False).any(axis=1)
    sensitive = np.flatnonzero(~(safe_correct | safe_wrong))
    return RowClasses(safe_correct, safe_wrong, sensitive, cost[sensitive] <= k,
                      correct_mask(view.scores, y, thresholds))


@dataclass
class NeighbourhoodTask:
    """One step, for a worker: the sensitive rows of neuron ``neuron`` under v and everything to
    build and check their MIP (plain arrays: cheap to send to a Dask worker). The worker recomputes
    the neuron's view and the flip rows from X and v (:func:`neuron_view`, :func:`flip_cost`)."""

    epoch: int
    batch: int  # position of the step in the epoch's neuron order
    neuron: int
    X: np.ndarray  # sensitive rows' inputs (on the 10^-d grid)
    y: np.ndarray
    thresholds: np.ndarray  # t (rows x classes)
    vector: np.ndarray  # the current network v
    sizes: list[int]
    P: int
    k: int
    decimals: int
    engine: str  # "mip" | "ls"
    seed: int
    time_limit: float
    nodes: int | None
    ls_time: float
    margin: int  # thresholds = rule (correct)'s t + margin (0: the training accuracy)
    mip_k: int | None  # None: the MIP in the ball of radius k around v; else radius mip_k around the local search's point
    safe_correct: int  # training rows correct under every allowed move
    n_train: int


def block_positions(sizes: list[int], neuron: int) -> dict[str, np.ndarray]:
    """Vector positions of W1[:, j], b1_j, W2[j, :], b2 (canonical order of ``vectors``)."""
    n_in, n_hidden, n_out = sizes
    base_b = n_in * n_hidden + n_hidden * n_out
    return {"w1": np.arange(n_in) * n_hidden + neuron, "b1": np.array([base_b + neuron]),
            "w2": n_in * n_hidden + neuron * n_out + np.arange(n_out), "b2": base_b + n_hidden + np.arange(n_out)}


@dataclass
class RowData:
    """The worker's numpy view of the task's rows under v."""

    X_int: np.ndarray
    h: np.ndarray  # h_ij under v
    pre: np.ndarray  # A_ij under v
    other: np.ndarray  # other neurons' score part
    flip: np.ndarray  # bool: h_ij may change
    unit: np.ndarray  # max(10^d, max_f X_int[i, f])
    correct: np.ndarray  # bool, under v


def row_data(task: NeighbourhoodTask) -> RowData:
    X_int = grid_inputs(task.X, task.decimals)
    view = neuron_view(X_int, task.vector, task.sizes, task.neuron, task.decimals)
    unit = np.maximum(10**task.decimals, np.abs(X_int).max(axis=1, initial=0))
    flip = flip_cost(X_int, view.pre, task.decimals) <= task.k
    return RowData(X_int, view.h, view.pre, view.other, flip, unit, correct_mask(view.scores, task.y, task.thresholds))
