"""The training objectives: one :class:`Objective` per entry of :data:`OBJECTIVES`, each owning its
sense, MIP rows, numpy evaluation, start values and trivial bound. Everything else (instance,
solvers, heuristics, reports) asks the objective; a new objective is one registry entry
(checklist in docs/formulation.md, "How to add an objective").

Output constraints are written in the integer score s, with yhat = s / S, S = P (H + 1) / 2
(eq. 1), z[j,k] = Y[k,j] yhat[j,k] and Y the one-hot +-1 label; :class:`OutputContext` is the one
place that reads scores this way (scale S, margin m, threshold T = ceil(m S), hinge loss).

max-correct (eqs. 13-17)
    o[j,k] in {0,1}:  o = 1 => s >= 0:   s >= -M (1 - o)
                      o = 0 => s <= -1:  s <= -1 + (M + 1) o          M = P (H + 1)
    sum_j o[j,k] = 1 for every sample k (one positive output; the paper's eq. 16 sums over k by a typo)
    maximise sum_k o[y_k, k]   (the number of correctly classified samples)

min-hinge (eqs. 18-19)
    t[j,k] >= 0,  t[j,k] >= alpha_p z[j,k] + beta_p  for every chord p of f(z) = max(0, m - z)^2
    on breakpoints evenly spaced on [-1, 1] (default min(2P(H+1) + 1, MAX_HINGE_BREAKPOINTS)
    points), the outer chords extended over z's whole range [-2, 2]; f is convex and minimised, so
    the epigraph is exact at the breakpoints and needs no binaries.
    minimise sum_{j,k} t[j,k]

sat-margin (eqs. 20-24)
    q[j,k] in {0,1}:  q = 1 => z >= m.  Since s is integral, z >= m <=> Y s >= T, T = ceil(m S):
    Y s >= T - (T + M)(1 - q)
    maximise sum_{j,k} q[j,k]   (the (sample, output) pairs meeting the margin)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pyomo.environ as pyo

from mipnn_pyomo import blocks
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import FormulationOptions, ProblemData
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.numerics import MAX_HINGE_BREAKPOINTS, PAPER_BIG_M, margin_threshold, score_bound, score_scale

MAXIMIZE, MINIMIZE = "maximize", "minimize"


# --------------------------------------------------------------------------- the squared hinge


def hinge_function(z: np.ndarray, margin: float) -> np.ndarray:
    return np.maximum(0.0, margin - z) ** 2


class HingeLoss:
    """The piecewise-linear squared hinge the MIP minimises: the chords of f(z) = max(0, m - z)^2
    between ``n`` breakpoints evenly spaced on [-1, 1], the outer chords extended, floored at 0."""

    def __init__(self, margin: float, n: int):
        self.z = np.linspace(-1.0, 1.0, int(n))
        self.f = hinge_function(self.z, margin)
        self.slopes = np.diff(self.f) / np.diff(self.z)

    @cached_property
    def cuts(self) -> list[tuple[float, float]]:
        """(slope, intercept) of each chord; the chords of f's flat part (slope 0, intercept 0) are
        dropped since t >= 0 covers them. Duplicates removed (sorting, not pairwise: n may be large)."""
        intercepts = self.f[:-1] - self.slopes * self.z[:-1]
        pairs = np.round(np.stack([self.slopes, intercepts], axis=1), 12)
        pairs = pairs[(np.abs(pairs) >= 1e-12).any(axis=1)]
        _, first = np.unique(pairs, axis=0, return_index=True)
        return [(float(a), float(b)) for a, b in pairs[np.sort(first)]]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """max(0, max_p alpha_p z + beta_p) of any array z, by interpolation (O(log n) per value)."""
        z = np.asarray(z, dtype=float)
        value = np.interp(z, self.z, self.f)
        value = np.where(z < self.z[0], self.f[0] + self.slopes[0] * (z - self.z[0]), value)
        value = np.where(z > self.z[-1], self.f[-1] + self.slopes[-1] * (z - self.z[-1]), value)
        return np.maximum(value, 0.0)


def hinge_pwl(z: np.ndarray, cuts: list[tuple[float, float]]) -> np.ndarray:
    """The reference form of the loss: max(0, max_p alpha_p z + beta_p) over explicit cuts."""
    z = np.asarray(z, dtype=float)
    value = np.zeros_like(z)
    for slope, intercept in cuts:
        value = np.maximum(value, slope * z + intercept)
    return value


# --------------------------------------------------------------------------- reading output scores


class OutputContext:
    """How the objectives read output scores S (..., N, n_out) of one training set: the labels,
    the scale S = P(H+1)/2, the margin m and threshold T = ceil(m S), and (built on first use, by
    min-hinge and the search's hinge guide) the hinge loss. Built once per training instance."""

    def __init__(self, y: np.ndarray, n_classes: int, P: int, H: int, margin: float = 0.5,
                 hinge_breakpoints: int | None = None, variant: str = "tight", decimals: int = 4):
        self.y = np.asarray(y, dtype=np.int64)
        self.Y = np.where(np.arange(n_classes)[None, :] == self.y[:, None], 1, -1)
        self.n_samples, self.n_classes = len(self.y), int(n_classes)
        self.P, self.H, self.margin, self.variant = int(P), int(H), float(margin), variant
        self.grid_step = 10.0 ** -int(decimals)  # the paper's one eps
        self.bound = score_bound(P, H)
        self.scale = score_scale(P, H)
        self.threshold = margin_threshold(margin, P, H)
        self.hinge_breakpoints = hinge_breakpoints or min(2 * self.bound + 1, MAX_HINGE_BREAKPOINTS)

    @classmethod
    def of(cls, data: ProblemData, options: FormulationOptions | None = None) -> "OutputContext":
        options = options or FormulationOptions()
        return cls(data.y, data.n_classes, data.P, data.H, options.margin, options.hinge_breakpoints,
                   options.variant, data.decimals)

    def z(self, S: np.ndarray) -> np.ndarray:
        """z = Y s / S, the normalised score toward the true label."""
        return self.Y * S / self.scale

    @cached_property
    def hinge(self) -> HingeLoss:
        return HingeLoss(self.margin, self.hinge_breakpoints)

    def pyomo_data(self) -> dict[str, Any]:
        """The output Params every objective's rows may read (M_out, eps_out, score_scale, T)."""
        paper = self.variant == "paper"
        return {
            "M_out": {None: PAPER_BIG_M if paper else float(self.bound)},
            "eps_out": {None: self.grid_step if paper else 1.0},
            "score_scale": {None: self.scale},
            "margin_threshold": {None: self.margin * self.scale if paper else float(self.threshold)},
        }


# --------------------------------------------------------------------------- the Objective record


def _always(S: np.ndarray, ctx: OutputContext) -> np.ndarray:
    return np.ones(np.shape(S)[:-2], dtype=bool)


def _no_data(ctx: OutputContext) -> dict:
    return {}


@dataclass(frozen=True)
class Objective:
    """One training objective. ``value(S, ctx)`` is its numpy value of output scores S of shape
    (..., N, n_out) (one value per leading index), in its own sense; ``feasible(S, ctx)`` says where
    its MIP rows admit S; ``start(m, S, ctx)`` gives (var, value) of its own variables;
    ``best_possible(ctx)`` is its trivial bound (the stop rule); ``add_rows(m)`` adds its
    variables, rows and Objective to the abstract model, ``model_data(ctx)`` their Pyomo data.
    ``monotone_in_margin``: it only ever wants z = Y s larger (output products may be one-sided)."""

    name: str
    sense: str
    description: str
    add_rows: Callable[[Any], None]
    value: Callable[[np.ndarray, OutputContext], np.ndarray]
    start: Callable[[Any, np.ndarray, OutputContext], list]
    best_possible: Callable[[OutputContext], float]
    feasible: Callable[[np.ndarray, OutputContext], np.ndarray] = _always
    model_data: Callable[[OutputContext], dict] = _no_data
    monotone_in_margin: bool = False
    network_value: Callable[[IntegerNetwork, np.ndarray, OutputContext], float] | None = None
    network_start: Callable[[Any, IntegerNetwork, np.ndarray, OutputContext], list] | None = None

    @property
    def score_based(self) -> bool:
        """Its value is a function of the output scores alone (the local search can evaluate it);
        False for the structure objectives (min-weight, min-neurons, neuron-margin), whose
        ``network_value(network, X, ctx)`` reads the weights or pre-activations."""
        return self.network_value is None

    @property
    def maximises(self) -> bool:
        return self.sense == MAXIMIZE

    def evaluate(self, network: IntegerNetwork, X: np.ndarray, ctx: OutputContext) -> float:
        """The objective of ``network`` on (X, ctx's labels), by forward pass."""
        if self.network_value is not None:
            return float(self.network_value(network, X, ctx))
        return float(self.value(network.output_scores(X), ctx))

    def search_value(self, S: np.ndarray, ctx: OutputContext) -> np.ndarray:
        """Larger is better: the value (negated when minimised), -inf where the rows forbid S."""
        value = np.asarray(self.value(S, ctx), dtype=float)
        return np.where(self.feasible(S, ctx), value if self.maximises else -value, -np.inf)

    def in_mip_sense(self, search_value: float) -> float:
        """A :meth:`search_value` back in the objective's own sense."""
        return search_value if self.maximises else -search_value

    def better(self, a: float, b: float | None) -> bool:
        """``a`` strictly better than ``b`` (None: anything is better)."""
        return b is None or (a > b if self.maximises else a < b)

    def at_bound(self, value: float, ctx: OutputContext) -> bool:
        return abs(value - self.best_possible(ctx)) < 1e-9

    def start_values(self, m, network: IntegerNetwork, X: np.ndarray, ctx: OutputContext) -> list:
        if self.network_start is not None:
            return self.network_start(m, network, X, ctx)
        return self.start(m, network.output_scores(X), ctx)


def _per_pair(m, var_name: str, values: np.ndarray) -> list:
    """(var[j, k], values[k, j]) for every (sample, output)."""
    var = getattr(m, var_name)
    return [(var[j, k], float(values[k, j])) for k in range(values.shape[0]) for j in range(values.shape[1])]


# --------------------------------------------------------------------------- max-correct


def _max_correct_rows(m) -> None:
    m.o = pyo.Var(m.OUTPUTS, m.SAMPLES, within=pyo.Binary, doc="o = 1 <=> output j positive on sample k")
    L = lambda m: pyo.value(m.L)  # noqa: E731

    def positive(m, j, k):
        return m.preactivation[L(m), j, k] >= -m.M_out * (1 - m.o[j, k])

    def negative(m, j, k):
        return m.preactivation[L(m), j, k] <= -m.eps_out + (m.M_out + m.eps_out) * m.o[j, k]

    m.output_positive = pyo.Constraint(m.OUTPUTS, m.SAMPLES, rule=positive, doc="o = 1 => s >= 0")
    m.output_negative = pyo.Constraint(m.OUTPUTS, m.SAMPLES, rule=negative, doc="o = 0 => s <= -1")
    m.one_positive_output = pyo.Constraint(m.SAMPLES, rule=lambda m, k: sum(m.o[j, k] for j in m.OUTPUTS) == 1)
    m.objective = pyo.Objective(
        rule=lambda m: sum(m.o[j, k] for k in m.SAMPLES for j in m.OUTPUTS if pyo.value(m.Y[k, j]) == 1),
        sense=pyo.maximize,
    )


def _one_positive(S: np.ndarray) -> np.ndarray:
    return (S >= 0).sum(axis=-1) == 1


def _max_correct_value(S, ctx) -> np.ndarray:
    """Samples whose only non-negative output is the true class's (the MIP's count)."""
    correct = (S >= 0)[..., np.arange(ctx.n_samples), ctx.y] & _one_positive(S)
    return correct.sum(axis=-1).astype(float)


def _max_correct_feasible(S, ctx) -> np.ndarray:
    """The rows need exactly one non-negative output on every sample."""
    return _one_positive(S).all(axis=-1)


# --------------------------------------------------------------------------- min-hinge


def _min_hinge_rows(m) -> None:
    m.HINGE_CUTS = pyo.Set(ordered=True)
    m.hinge_slope = pyo.Param(m.HINGE_CUTS, within=pyo.Reals)
    m.hinge_intercept = pyo.Param(m.HINGE_CUTS, within=pyo.Reals)
    m.t = pyo.Var(m.OUTPUTS, m.SAMPLES, within=pyo.NonNegativeReals, doc="epigraph of the hinge loss")

    def cut(m, j, k, p):
        z = m.Y[k, j] * m.preactivation[pyo.value(m.L), j, k] / m.score_scale
        return m.t[j, k] >= m.hinge_slope[p] * z + m.hinge_intercept[p]

    m.hinge_epigraph = pyo.Constraint(m.OUTPUTS, m.SAMPLES, m.HINGE_CUTS, rule=cut)
    m.objective = pyo.Objective(rule=lambda m: sum(m.t[j, k] for j in m.OUTPUTS for k in m.SAMPLES), sense=pyo.minimize)


def _min_hinge_data(ctx: OutputContext) -> dict:
    cuts = ctx.hinge.cuts
    return {
        "HINGE_CUTS": {None: list(range(len(cuts)))},
        "hinge_slope": {p: c[0] for p, c in enumerate(cuts)},
        "hinge_intercept": {p: c[1] for p, c in enumerate(cuts)},
    }


def _min_hinge_value(S, ctx) -> np.ndarray:
    return ctx.hinge(ctx.z(S)).sum(axis=(-1, -2))


# --------------------------------------------------------------------------- sat-margin


def _sat_margin_rows(m) -> None:
    m.q = pyo.Var(m.OUTPUTS, m.SAMPLES, within=pyo.Binary, doc="q = 1 => y * yhat >= margin")

    def margin(m, j, k):
        ys = m.Y[k, j] * m.preactivation[pyo.value(m.L), j, k]
        return ys >= m.margin_threshold - (m.margin_threshold + m.M_out) * (1 - m.q[j, k])

    m.margin_met = pyo.Constraint(m.OUTPUTS, m.SAMPLES, rule=margin, doc="q = 1 => Y s >= T")
    m.objective = pyo.Objective(rule=lambda m: sum(m.q[j, k] for j in m.OUTPUTS for k in m.SAMPLES), sense=pyo.maximize)


def _margin_met(S, ctx) -> np.ndarray:
    return ctx.Y * S >= ctx.threshold


# --------------------------------------------------------------------------- structure objectives


def _scores_not_enough(S, ctx):
    raise ModelConfigError("this objective is evaluated on the network (weights), not on output scores; "
                           "use Objective.evaluate")


def _min_weight_rows(m) -> None:
    blocks.add_nonzero_indicators(m)
    m.objective = pyo.Objective(rule=blocks.nonzero_count, sense=pyo.minimize)


def _min_neurons_rows(m) -> None:
    blocks.add_neuron_indicators(m)
    m.objective = pyo.Objective(rule=lambda m: sum(m.v.values()), sense=pyo.minimize)


def _neuron_margin_rows(m) -> None:
    blocks.add_neuron_margins(m)
    m.objective = pyo.Objective(rule=blocks.margin_sum, sense=pyo.maximize)


def _margin_total(network, X, ctx) -> float:
    return float(sum(margins.sum() for margins in blocks.neuron_margins(network, X, ctx.grid_step)))


def _structure_objective(name: str, sense: str, description: str, add_rows, network_value, network_start,
                         best_possible) -> Objective:
    """An objective on the network's structure: no output rows (monotone in the margin, so the
    output products may stay one-sided), evaluated on the network, never by the local search."""
    return Objective(name, sense, description, add_rows=add_rows, value=_scores_not_enough,
                     start=lambda m, S, ctx: [], best_possible=best_possible, monotone_in_margin=True,
                     network_value=network_value, network_start=network_start)


# --------------------------------------------------------------------------- the registry


OBJECTIVES: dict[str, Objective] = {
    "max-correct": Objective(
        "max-correct", MAXIMIZE, "maximise correctly classified samples (one positive output per sample)",
        add_rows=_max_correct_rows, value=_max_correct_value,
        start=lambda m, S, ctx: _per_pair(m, "o", S >= 0),
        best_possible=lambda ctx: float(ctx.n_samples), feasible=_max_correct_feasible,
    ),
    "min-hinge": Objective(
        "min-hinge", MINIMIZE, "minimise the piecewise-linear squared hinge max(0, m - y*yhat)^2",
        add_rows=_min_hinge_rows, value=_min_hinge_value,
        start=lambda m, S, ctx: _per_pair(m, "t", ctx.hinge(ctx.z(S))),
        best_possible=lambda ctx: 0.0, model_data=_min_hinge_data, monotone_in_margin=True,
    ),
    "sat-margin": Objective(
        "sat-margin", MAXIMIZE, "maximise the (sample, output) pairs with y*yhat >= m",
        add_rows=_sat_margin_rows, value=lambda S, ctx: _margin_met(S, ctx).sum(axis=(-1, -2)).astype(float),
        start=lambda m, S, ctx: _per_pair(m, "q", _margin_met(S, ctx)),
        best_possible=lambda ctx: float(ctx.n_samples * ctx.n_classes), monotone_in_margin=True,
    ),
}

# Objectives on the network's structure (blocks.py): the same records, kept apart from the training
# objectives above because each needs an accuracy floor or earlier values held (a recipe stage, or
# train_network's floor ceil(target N)) and is evaluated on the network, not by the local search.
STRUCTURE_OBJECTIVES: dict[str, Objective] = {
    "min-weight": _structure_objective(
        "min-weight", MINIMIZE, "minimise the non-zero weights and biases (Icarte et al.; with an accuracy floor)",
        _min_weight_rows, lambda net, X, ctx: float(blocks.count_nonzero(net)),
        lambda m, net, X, ctx: blocks.nonzero_start(m, net), best_possible=lambda ctx: 0.0,
    ),
    "min-neurons": _structure_objective(
        "min-neurons", MINIMIZE, "minimise the active hidden neurons (neuron pruning; with an accuracy floor)",
        _min_neurons_rows, lambda net, X, ctx: float(blocks.active_neuron_count(net)),
        lambda m, net, X, ctx: blocks.neuron_start(m, net), best_possible=lambda ctx: 0.0,
    ),
    "neuron-margin": _structure_objective(
        "neuron-margin", MAXIMIZE, "maximise the sum of the hidden neurons' margins (BeMi stage 2)",
        _neuron_margin_rows, _margin_total, lambda m, net, X, ctx: blocks.margin_start(m, net, X, ctx.grid_step),
        best_possible=lambda ctx: float("inf"),
    ),
}


def objective_names() -> list[str]:
    """Every objective name: the training objectives, then the structure objectives."""
    return [*OBJECTIVES, *STRUCTURE_OBJECTIVES]


def get_objective(name: str) -> Objective:
    spec = OBJECTIVES.get(name) or STRUCTURE_OBJECTIVES.get(name)
    if spec is None:
        raise ModelConfigError(f"unknown objective {name!r}; choose one of {', '.join(objective_names())}")
    return spec


def declare_output_params(m) -> None:
    m.M_out = pyo.Param(within=pyo.PositiveReals, doc="bound on |s|: P (H + 1)")
    m.eps_out = pyo.Param(within=pyo.PositiveReals, doc="s < 0 <=> s <= -eps_out (1: s is integral)")
    m.score_scale = pyo.Param(within=pyo.PositiveReals, doc="S = P (H + 1) / 2, yhat = s / S")
    m.margin_threshold = pyo.Param(within=pyo.Reals, doc="T: z >= margin <=> Y s >= T")


def add_objective(abstract_model, name: str) -> None:
    """Declare the output params and add objective ``name``'s variables, rows and Objective."""
    declare_output_params(abstract_model)
    get_objective(name).add_rows(abstract_model)


def output_data(ctx: OutputContext, name: str) -> dict[str, Any]:
    """The Pyomo data of the output params and of objective ``name``'s own components."""
    return {**ctx.pyomo_data(), **get_objective(name).model_data(ctx)}


def hinge_cuts(data: ProblemData, options: FormulationOptions) -> list[tuple[float, float]]:
    """(slope, intercept) of min-hinge's cuts for ``data`` and ``options``."""
    return OutputContext.of(data, options).hinge.cuts


def objective_upper_limit(name: str, data: ProblemData) -> float:
    """The best conceivable objective value (N, 0 or n_classes N): used for gaps and targets."""
    return get_objective(name).best_possible(OutputContext.of(data))
