"""A primal heuristic: integer local search on a network, by forward pass.

Given an incumbent network, try every single-parameter change w -> v (v in {-P..P}, all v at once)
and keep the best improving one, parameter by parameter in a seeded random order, until a full
pass finds no improvement or the time budget ends. The score is the training objective evaluated
by the numpy forward pass (the same function the MIP optimises), so an improved network is a
better MIP solution: the solver adapters hand it back to the solver as a new incumbent (HiGHS:
the user-solution callback).

For one hidden layer the moves are incremental: with A = X W1 + b1, h = sign(A), S = h W2 + b2,
changing W1[f, j] only changes column j of A by X[:, f] (v - w) and S by (h_j' - h_j) W2[j, :];
changing W2[i, j] or b2[j] shifts S[:, j] only.
"""

from __future__ import annotations

import time

import numpy as np

from mipnn_pyomo.network import IntegerNetwork, sign


class ScoreFunction:
    """Training objective as a function of the output scores S (N, n_out), larger is better."""

    def __init__(self, objective: str, y: np.ndarray, n_classes: int, P: int, H: int, margin: float, cuts=None,
                 one_positive: bool = False):
        self.objective = objective
        self.one_positive = one_positive  # only networks with exactly one non-negative output per sample
        self.y = np.asarray(y)
        self.Y = np.where(np.arange(n_classes)[None, :] == self.y[:, None], 1, -1)
        self.scale = P * (H + 1) / 2.0
        self.threshold = int(np.ceil(margin * self.scale - 1e-9))
        self.cuts = cuts or []

    def objective_value(self, S: np.ndarray) -> np.ndarray:
        """The MIP objective (larger is better: min-hinge is negated) of (..., N, n_out) scores;
        for the ``accuracy`` guide, the number of samples whose true output is strictly the largest
        (a lower bound on the forward pass's correct count, which may also win ties)."""
        if self.objective == "accuracy":
            true = S[..., np.arange(len(self.y)), self.y]
            other = np.where(self.Y < 0, S, np.iinfo(np.int64).min).max(axis=-1)
            return (true > other).sum(axis=-1).astype(float)
        if self.objective == "sat-margin":
            return (self.Y * S >= self.threshold).sum(axis=(-1, -2)).astype(float)
        if self.objective == "min-hinge":
            z = self.Y * S / self.scale
            loss = np.zeros_like(z, dtype=float)
            for slope, intercept in self.cuts:
                loss = np.maximum(loss, slope * z + intercept)
            value = -loss.sum(axis=(-1, -2))
            if self.one_positive:
                value = np.where(((S >= 0).sum(axis=-1) == 1).all(axis=-1), value, -np.inf)
            return value
        # max-correct: the MIP needs exactly one non-negative output on every sample
        positive = S >= 0
        one = positive.sum(axis=-1) == 1
        correct = positive[..., np.arange(len(self.y)), self.y] & one
        feasible = one.all(axis=-1)
        return np.where(feasible, correct.sum(axis=-1).astype(float), -np.inf)

    def __call__(self, S: np.ndarray) -> np.ndarray:
        """Search score: the objective, plus for the counting objectives a tie-breaker in (-1, 0]
        (the squared hinge, normalised) that guides single moves across their flat plateaus
        without ever trading away a unit of the objective."""
        value = self.objective_value(S)
        if self.objective == "min-hinge":
            return value
        z = self.Y * S / self.scale
        hinge = (np.maximum(0.0, 0.5 - z) ** 2).sum(axis=(-1, -2))
        return value - hinge / (6.25 * self.Y.size + 1.0)


def guided_local_search(network, X, score: ScoreFunction, *, time_budget: float = 2.0, seed: int = 0,
                        fixed_zero_inputs=None, guide: ScoreFunction | None = None,
                        stop=None, done=None) -> tuple[IntegerNetwork, float, float]:
    """For the counting objectives (sat-margin, max-correct), whose single-move landscape is mostly
    flat, first descend the hinge loss (a smooth guide toward margins), then polish by the objective
    itself; min-hinge searches its own objective. Returns as :func:`local_search`."""
    start_value = float(score.objective_value(network.output_scores(X)))
    guided = None
    if score.objective != "min-hinge":
        if guide is None:
            guide = ScoreFunction("min-hinge", score.y, score.Y.shape[1], 1, 0, 0.5, [])
            guide.Y, guide.scale = score.Y, score.scale
            guide.cuts = _squared_hinge_chords()
        guided, _, _ = local_search(network, X, guide, time_budget=time_budget / 2, seed=seed,
                                    fixed_zero_inputs=fixed_zero_inputs, stop=stop, done=done)
        # max-correct's rows need exactly one non-negative output per sample; the hinge guide does
        # not keep that, so polish from the guided network only where it is still a MIP solution
        # (for two classes, after pairing its outputs so that exactly one is non-negative).
        if not np.isfinite(score.objective_value(guided.output_scores(X))) and guided.n_outputs == 2:
            guided = pair_outputs(guided)
        if np.isfinite(score.objective_value(guided.output_scores(X))):
            network = guided
    network, value, _ = local_search(network, X, score, time_budget=time_budget / 2, seed=seed + 1,
                                     fixed_zero_inputs=fixed_zero_inputs, stop=stop, done=done)
    if guided is not None:
        guided_value = float(score.objective_value(guided.output_scores(X)))
        if np.isfinite(guided_value):
            LAST_GUIDED.append((guided, guided_value))
    return network, value, start_value


# Networks reached by the guide phase (any integer network is a feasible sat-margin or min-hinge
# solution): IncumbentImprover hands them to the solver adapter as candidates, since they often
# have a higher training accuracy than the objective's own local optimum.
LAST_GUIDED: list = []


def pair_outputs(network: IntegerNetwork) -> IntegerNetwork:
    """A two-output network whose outputs always have exactly one non-negative: output 0 keeps the
    decision s0 - s1 (clipped to [-P, P]) and output 1 = -output 0 - 1, so s0 >= 0 <=> s1 <= -1."""
    P = network.P
    W = [w.copy() for w in network.weights]
    B = [b.copy() for b in network.biases]
    w_out = np.clip(W[-1][:, 0] - W[-1][:, 1], -P, P)
    b0 = int(np.clip(B[-1][0] - B[-1][1], -P, P - 1))
    W[-1] = np.stack([w_out, -w_out], axis=1)
    B[-1] = np.array([b0, -b0 - 1])
    return IntegerNetwork(W, B, P, classes=list(network.classes), preprocessing=network.preprocessing,
                          training=dict(network.training), tie_seed=network.tie_seed)


def _squared_hinge_chords(n: int = 41, margin: float = 0.5) -> list[tuple[float, float]]:
    z = np.linspace(-2.0, 2.0, n)
    f = np.maximum(0.0, margin - z) ** 2
    slopes = np.diff(f) / np.diff(z)
    return [(float(a), float(f0 - a * z0)) for a, f0, z0 in zip(slopes, f[:-1], z[:-1]) if abs(a) > 1e-12]


def local_search(
    network: IntegerNetwork,
    X: np.ndarray,
    score: ScoreFunction,
    *,
    time_budget: float = 2.0,
    seed: int = 0,
    fixed_zero_inputs: np.ndarray | None = None,
    stop=None,
    done=None,
) -> tuple[IntegerNetwork, float, float]:
    """(improved network, its objective value, the starting objective value), values as
    ``score.objective_value`` (min-hinge negated). One hidden layer: incremental moves on every
    parameter; deeper networks: output-layer moves only. ``done(S)`` (output scores -> bool) ends
    the search as soon as it holds (for example, a training-accuracy target is met)."""
    t_end = time.perf_counter() + time_budget
    rng = np.random.default_rng(seed)
    P = network.P
    W = [w.copy() for w in network.weights]
    B = [b.copy() for b in network.biases]
    values = np.arange(-P, P + 1)
    acts, S = network.forward(X)
    S = S.astype(np.int64)
    S0 = S.copy()
    best = float(score(S))
    one_hidden = len(W) == 2
    Xr = np.round(np.asarray(X, dtype=float), int((network.preprocessing or {}).get("decimals", 4)))
    if one_hidden:
        A = np.round(Xr @ W[0] + B[0], 8)
        h = sign(A)
    H_last = h if one_hidden else acts[-1]
    unused = set() if fixed_zero_inputs is None else set(int(i) for i in fixed_zero_inputs)

    params: list[tuple[str, int, int]] = []
    n_out = W[-1].shape[1]
    params += [("w2", i, j) for i in range(W[-1].shape[0]) for j in range(n_out)]
    params += [("b2", 0, j) for j in range(n_out)]
    if one_hidden:
        params += [("w1", f, j) for f in range(W[0].shape[0]) if f not in unused for j in range(W[0].shape[1])]
        params += [("b1", 0, j) for j in range(W[0].shape[1])]

    stop = stop or (lambda: False)
    reached = (lambda: bool(done(S))) if done is not None else (lambda: False)
    improved = not reached()
    while improved and time.perf_counter() < t_end and not stop():
        improved = False
        for k in rng.permutation(len(params)):
            if time.perf_counter() >= t_end or stop() or (improved and reached()):
                improved = improved and not reached()
                break
            kind, i, j = params[k]
            if kind in ("w2", "b2"):
                old = W[-1][i, j] if kind == "w2" else B[-1][j]
                col = H_last[:, i] if kind == "w2" else np.ones(len(S), dtype=np.int64)
                cand = np.repeat(S[None], len(values), axis=0)
                cand[:, :, j] += col[None, :] * (values - old)[:, None]
            else:
                old = W[0][i, j] if kind == "w1" else B[0][j]
                xcol = Xr[:, i] if kind == "w1" else np.ones(len(S))
                a_new = np.round(A[:, j][None, :] + xcol[None, :] * (values - old)[:, None], 8)
                dh = sign(a_new) - h[:, j][None, :]  # (V, N)
                cand = S[None] + dh[:, :, None] * W[1][j][None, None, :]
            scores = score(cand)
            v = int(np.argmax(scores))
            if scores[v] > best + 1e-9 and values[v] != old:
                best = float(scores[v])
                S = cand[v].copy()
                delta = values[v] - old
                if kind == "w2":
                    W[-1][i, j] = values[v]
                elif kind == "b2":
                    B[-1][j] = values[v]
                else:
                    if kind == "w1":
                        W[0][i, j] = values[v]
                        A[:, j] = np.round(A[:, j] + Xr[:, i] * delta, 8)
                    else:
                        B[0][j] = values[v]
                        A[:, j] = np.round(A[:, j] + delta, 8)
                    h[:, j] = sign(A[:, j])
                improved = True
    out = IntegerNetwork(W, B, P, classes=list(network.classes), preprocessing=network.preprocessing,
                         training=dict(network.training), tie_seed=network.tie_seed)
    return out, float(score.objective_value(S)), float(score.objective_value(S0))
