"""A primal heuristic: integer local search on a network, by forward pass.

Given an incumbent network, try every single-parameter change w -> v (v in {-P_l..P_l} of the
parameter's layer l: P_first for the first layer when set, else P; all v at once,
in chunks that bound memory at large P) and keep the best improving one, parameter by parameter
in a seeded random order, until a full pass finds no improvement, the time budget ends or
``stop()`` holds (checked between chunks). The score is the training objective evaluated by its
:class:`~mipnn_pyomo.objectives.Objective` on the output scores (the same function the MIP
optimises), so an improved network is a better MIP solution: the solver adapters hand it back to
the solver as a new incumbent.

For one hidden layer the moves are incremental: with A = X W1 + b1, h = act(A), S = h W2 + b2,
changing W1[f, j] only changes column j of A by X[:, f] (v - w) and S by (h_j' - h_j) W2[j, :];
changing W2[i, j] or b2[j] shifts S[:, j] only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from mipnn_pyomo.network import HIDDEN_ACTIVATION, IntegerNetwork
from mipnn_pyomo.objectives import Objective, OutputContext

# Candidate score entries evaluated at once (values x samples x outputs): about 16 MB of int64.
CHUNK_ENTRIES = 1 << 21


class ScoreFunction:
    """A search score of output scores S (..., N, n_out), larger is better: ``objective_value(S)``
    (-inf where S is no solution of the MIP) plus, with ``tie_break``, a term in (-1, 0] (the
    squared hinge at the objective's margin, normalised) that guides single moves across the flat
    plateaus of a count without ever trading away a unit of it. Build it by :meth:`for_objective`
    or as one of the search-only guides :meth:`hinge_guide` and :meth:`accuracy_guide`."""

    def __init__(self, value: Callable[[np.ndarray], np.ndarray], outputs: OutputContext, *, tie_break: bool,
                 guided: bool = False, name: str = ""):
        self.value = value
        self.outputs = outputs
        self.tie_break = tie_break
        self.guided = guided  # descend the hinge guide first (a count's single-move landscape is flat)
        self.name = name

    @classmethod
    def for_objective(cls, objective: Objective, outputs: OutputContext) -> "ScoreFunction":
        """The objective itself; maximised objectives here are counts: tie-breaker and guide."""
        return cls(lambda S: objective.search_value(S, outputs), outputs, tie_break=objective.maximises,
                   guided=objective.maximises, name=objective.name)

    @classmethod
    def hinge_guide(cls, outputs: OutputContext, feasible=None) -> "ScoreFunction":
        """Minus the MIP's hinge loss (a smooth guide toward margins); with ``feasible(S)``, -inf
        outside that set."""
        def value(S):
            loss = -outputs.hinge(outputs.z(S)).sum(axis=(-1, -2))
            return loss if feasible is None else np.where(feasible(S), loss, -np.inf)

        return cls(value, outputs, tie_break=False, name="hinge guide")

    @classmethod
    def accuracy_guide(cls, outputs: OutputContext) -> "ScoreFunction":
        """The number of samples whose true output is strictly the largest (a lower bound on the
        forward pass's correct count, which may also win ties), hinge tie-break."""
        y, N = outputs.y, outputs.n_samples

        def value(S):
            true = S[..., np.arange(N), y]
            other = np.where(outputs.Y < 0, S, np.iinfo(np.int64).min).max(axis=-1)
            return (true > other).sum(axis=-1).astype(float)

        return cls(value, outputs, tie_break=True, name="accuracy")

    def objective_value(self, S: np.ndarray) -> np.ndarray:
        return self.value(S)

    def __call__(self, S: np.ndarray) -> np.ndarray:
        value = self.value(S)
        if not self.tie_break:
            return value
        ctx = self.outputs
        hinge = (np.maximum(0.0, ctx.margin - ctx.z(S)) ** 2).sum(axis=(-1, -2))
        return value - hinge / ((ctx.margin + 2.0) ** 2 * ctx.Y.size + 1.0)


@dataclass
class GuidedResult:
    """What :func:`guided_local_search` found: the polished network, its value and the start's
    (both as ``score.objective_value``), and the guide phase's network where it is a MIP solution
    (with its value), which often has a higher training accuracy than the polished one."""

    network: IntegerNetwork
    value: float
    start_value: float
    guided: tuple[IntegerNetwork, float] | None = None


def guided_local_search(network, X, score: ScoreFunction, guide: ScoreFunction, *, time_budget: float = 2.0,
                        seed: int = 0, fixed_zero_inputs=None, stop=None, done=None) -> GuidedResult:
    """For a ``score.guided`` objective (a count, whose single-move landscape is mostly flat),
    first descend ``guide`` (the hinge guide), then polish by the objective itself; otherwise search
    the objective alone."""
    start_value = float(score.objective_value(network.output_scores(X)))
    guided = None
    if score.guided:
        guided, _, _ = local_search(network, X, guide, time_budget=time_budget / 2, seed=seed,
                                    fixed_zero_inputs=fixed_zero_inputs, stop=stop, done=done)
        # The objective's rows may forbid the guided network (max-correct needs exactly one
        # non-negative output per sample): polish from it only where it is a MIP solution (for two
        # outputs, after pairing them so that exactly one is non-negative).
        if not np.isfinite(score.objective_value(guided.output_scores(X))) and guided.n_outputs == 2:
            guided = pair_outputs(guided)
        if np.isfinite(score.objective_value(guided.output_scores(X))):
            network = guided
    network, value, _ = local_search(network, X, score, time_budget=time_budget / 2, seed=seed + 1,
                                     fixed_zero_inputs=fixed_zero_inputs, stop=stop, done=done)
    found = None
    if guided is not None:
        guided_value = float(score.objective_value(guided.output_scores(X)))
        if np.isfinite(guided_value):
            found = (guided, guided_value)
    return GuidedResult(network, value, start_value, found)


def pair_outputs(network: IntegerNetwork) -> IntegerNetwork:
    """A two-output network whose outputs always have exactly one non-negative: output 0 keeps the
    decision s0 - s1 (clipped to the output layer's [-P, P]) and output 1 = -output 0 - 1, so
    s0 >= 0 <=> s1 <= -1."""
    P = network.layer_P(len(network.weights))
    W = [w.copy() for w in network.weights]
    B = [b.copy() for b in network.biases]
    w_out = np.clip(W[-1][:, 0] - W[-1][:, 1], -P, P)
    b0 = int(np.clip(B[-1][0] - B[-1][1], -P, P - 1))
    W[-1] = np.stack([w_out, -w_out], axis=1)
    B[-1] = np.array([b0, -b0 - 1])
    return IntegerNetwork(W, B, network.P, classes=list(network.classes), preprocessing=network.preprocessing,
                          training=dict(network.training), tie_seed=network.tie_seed, P_first=network.P_first)


class _SearchState:
    """The network under search with its cached forward pass: W, B, output scores S, and for one
    hidden layer its pre-activations A and activations h (incremental moves)."""

    def __init__(self, network: IntegerNetwork, X: np.ndarray, fixed_zero_inputs):
        self.network = network
        self.W = [w.copy() for w in network.weights]
        self.B = [b.copy() for b in network.biases]
        acts, S = network.forward(X)
        self.S = S.astype(np.int64)
        self.one_hidden = len(self.W) == 2
        self.X = np.round(np.asarray(X, dtype=float), int((network.preprocessing or {}).get("decimals", 4)))
        if self.one_hidden:
            self.A = np.round(self.X @ self.W[0] + self.B[0], 8)
            self.h = HIDDEN_ACTIVATION.forward(self.A)
        self.h_last = self.h if self.one_hidden else acts[-1]
        unused = set() if fixed_zero_inputs is None else set(int(i) for i in fixed_zero_inputs)
        n_out = self.W[-1].shape[1]
        self.params = [("w2", i, j) for i in range(self.W[-1].shape[0]) for j in range(n_out)]
        self.params += [("b2", 0, j) for j in range(n_out)]
        if self.one_hidden:
            self.params += [("w1", f, j) for f in range(self.W[0].shape[0]) if f not in unused
                            for j in range(self.W[0].shape[1])]
            self.params += [("b1", 0, j) for j in range(self.W[0].shape[1])]

    def current(self, kind: str, i: int, j: int) -> int:
        if kind == "w2":
            return int(self.W[-1][i, j])
        if kind == "b2":
            return int(self.B[-1][j])
        return int(self.W[0][i, j] if kind == "w1" else self.B[0][j])

    def candidates(self, kind: str, i: int, j: int, values: np.ndarray) -> np.ndarray:
        """Output scores (V, N, n_out) after setting parameter (kind, i, j) to each of ``values``."""
        old = self.current(kind, i, j)
        if kind in ("w2", "b2"):
            col = self.h_last[:, i] if kind == "w2" else np.ones(len(self.S), dtype=np.int64)
            cand = np.repeat(self.S[None], len(values), axis=0)
            cand[:, :, j] += col[None, :] * (values - old)[:, None]
            return cand
        xcol = self.X[:, i] if kind == "w1" else np.ones(len(self.S))
        a_new = np.round(self.A[:, j][None, :] + xcol[None, :] * (values - old)[:, None], 8)
        dh = HIDDEN_ACTIVATION.forward(a_new) - self.h[:, j][None, :]  # (V, N)
        return self.S[None] + dh[:, :, None] * self.W[1][j][None, None, :]

    def apply(self, kind: str, i: int, j: int, value: int, S: np.ndarray) -> None:
        delta = value - self.current(kind, i, j)
        self.S = S.copy()
        if kind == "w2":
            self.W[-1][i, j] = value
        elif kind == "b2":
            self.B[-1][j] = value
        else:
            if kind == "w1":
                self.W[0][i, j] = value
                self.A[:, j] = np.round(self.A[:, j] + self.X[:, i] * delta, 8)
            else:
                self.B[0][j] = value
                self.A[:, j] = np.round(self.A[:, j] + delta, 8)
            self.h[:, j] = HIDDEN_ACTIVATION.forward(self.A[:, j])

    def result(self) -> IntegerNetwork:
        n = self.network
        return IntegerNetwork(self.W, self.B, n.P, classes=list(n.classes), preprocessing=n.preprocessing,
                              training=dict(n.training), tie_seed=n.tie_seed, P_first=n.P_first)

    def values(self, kind: str, first: np.ndarray, later: np.ndarray) -> np.ndarray:
        """The candidate values of a parameter: ``first`` ({-P_1..P_1}) for the first layer's
        ("w1", "b1"), ``later`` ({-P..P}) for the output layer's."""
        return first if kind in ("w1", "b1") else later


def _best_move(state: _SearchState, param, values: np.ndarray, score: ScoreFunction, best: float,
               halt: Callable[[], bool]):
    """(value, scores S) of the best strictly improving setting of ``param``, or None; the values
    are scored in chunks of at most CHUNK_ENTRIES score entries, ``halt()`` checked between them."""
    kind, i, j = param
    old = state.current(kind, i, j)
    chunk = max(1, CHUNK_ENTRIES // max(1, state.S.size))
    found = None
    for start in range(0, len(values), chunk):
        if start and halt():
            break
        part = values[start:start + chunk]
        cand = state.candidates(kind, i, j, part)
        scores = score(cand)
        v = int(np.argmax(scores))
        if scores[v] > best + 1e-9 and part[v] != old:
            best, found = float(scores[v]), (int(part[v]), cand[v].copy())
    return found, best


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
    """(improved network, its value, the starting value), values as ``score.objective_value``.
    One hidden layer: incremental moves on every parameter; deeper networks: output-layer moves
    only. ``done(S)`` (output scores -> bool) ends the search as soon as it holds (for example, a
    training-accuracy target is met); ``stop()`` and the time budget are checked between moves and
    between chunks of a move's values."""
    t_end = time.perf_counter() + time_budget
    rng = np.random.default_rng(seed)
    state = _SearchState(network, X, fixed_zero_inputs)
    later = np.arange(-network.P, network.P + 1)  # the output layer's range (every layer after the first)
    first = np.arange(-network.layer_P(1), network.layer_P(1) + 1)
    S0 = state.S.copy()
    best = float(score(state.S))
    stop = stop or (lambda: False)
    halt = lambda: time.perf_counter() >= t_end or stop()  # noqa: E731
    reached = (lambda: bool(done(state.S))) if done is not None else (lambda: False)
    improved = not reached()
    while improved and not halt():
        improved = False
        for k in rng.permutation(len(state.params)):
            if halt() or (improved and reached()):
                improved = improved and not reached()
                break
            param = state.params[k]
            found, best = _best_move(state, param, state.values(param[0], first, later), score, best, halt)
            if found is not None:
                state.apply(*state.params[k], *found)
                improved = True
    return state.result(), float(score.objective_value(state.S)), float(score.objective_value(S0))
