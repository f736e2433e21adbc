"""The three training objectives, each a component added onto the base model of
:mod:`mipnn_pyomo.formulation`, and each evaluable on an integer network by plain numpy.

All output constraints are written in the integer score s = sum_i c + b, with yhat = s / S,
S = P (H + 1) / 2 (eq. 1), and z[j,k] = Y[k,j] yhat[j,k] with Y the one-hot +-1 label.

max-correct (eqs. 13-17)
    o[j,k] in {0,1}:  o = 1 => s >= 0:   s >= -M (1 - o)
                      o = 0 => s <= -1:  s <= -1 + (M + 1) o          M = P (H + 1)
    sum_j o[j,k] = 1 for every sample k (one positive output; the paper's eq. 16 sums over k by a typo)
    maximise sum_k o[y_k, k]   (the number of correctly classified samples)

min-hinge (eqs. 18-19)
    t[j,k] >= 0,  t[j,k] >= alpha_p z[j,k] + beta_p  for every chord p of f(z) = max(0, m - z)^2
    on breakpoints evenly spaced on [-1, 1] (default int(2P(H+1) + 1) points), the outer chords
    extended over z's whole range [-2, 2]; f is convex and minimised, so the epigraph is exact at
    the breakpoints and needs no binaries.
    minimise sum_{j,k} t[j,k]

sat-margin (eqs. 20-24)
    q[j,k] in {0,1}:  q = 1 => z >= m.  Since s is integral, z >= m <=> Y s >= T, T = ceil(m S):
    Y s >= T - (T + M)(1 - q)
    maximise sum_{j,k} q[j,k]   (the (sample, output) pairs meeting the margin)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyomo.environ as pyo

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import PAPER_BIG_M, FormulationOptions, ProblemData, ceil_threshold
from mipnn_pyomo.network import IntegerNetwork

MAXIMIZE, MINIMIZE = "maximize", "minimize"


def hinge_breakpoints(data: ProblemData, options: FormulationOptions) -> np.ndarray:
    n = options.hinge_breakpoints or int(2 * data.P * (data.H + 1) + 1)
    return np.linspace(-1.0, 1.0, n)


def hinge_function(z: np.ndarray, margin: float) -> np.ndarray:
    return np.maximum(0.0, margin - z) ** 2


def hinge_cuts(data: ProblemData, options: FormulationOptions) -> list[tuple[float, float]]:
    """(slope, intercept) of each chord of f on the breakpoints; chords with slope 0 and intercept
    0 (all of f's flat part) are dropped since t >= 0 covers them. Duplicates removed."""
    z = hinge_breakpoints(data, options)
    f = hinge_function(z, options.margin)
    cuts = []
    for z0, z1, f0, f1 in zip(z[:-1], z[1:], f[:-1], f[1:]):
        slope = (f1 - f0) / (z1 - z0)
        intercept = f0 - slope * z0
        if abs(slope) < 1e-12 and abs(intercept) < 1e-12:
            continue
        cut = (round(float(slope), 12), round(float(intercept), 12))
        if cut not in cuts:
            cuts.append(cut)
    return cuts


def hinge_pwl(z: np.ndarray, cuts: list[tuple[float, float]]) -> np.ndarray:
    """The piecewise-linear loss the MIP minimises: max(0, max_p alpha_p z + beta_p)."""
    z = np.asarray(z, dtype=float)
    value = np.zeros_like(z)
    for slope, intercept in cuts:
        value = np.maximum(value, slope * z + intercept)
    return value


# --------------------------------------------------------------------------- components


def _add_max_correct(m) -> None:
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


def _add_min_hinge(m) -> None:
    m.t = pyo.Var(m.OUTPUTS, m.SAMPLES, within=pyo.NonNegativeReals, doc="epigraph of the hinge loss")

    def cut(m, j, k, p):
        z = m.Y[k, j] * m.preactivation[pyo.value(m.L), j, k] / m.score_scale
        return m.t[j, k] >= m.hinge_slope[p] * z + m.hinge_intercept[p]

    m.hinge_epigraph = pyo.Constraint(m.OUTPUTS, m.SAMPLES, m.HINGE_CUTS, rule=cut)
    m.objective = pyo.Objective(rule=lambda m: sum(m.t[j, k] for j in m.OUTPUTS for k in m.SAMPLES), sense=pyo.minimize)


def _add_sat_margin(m) -> None:
    m.q = pyo.Var(m.OUTPUTS, m.SAMPLES, within=pyo.Binary, doc="q = 1 => y * yhat >= margin")

    def margin(m, j, k):
        ys = m.Y[k, j] * m.preactivation[pyo.value(m.L), j, k]
        return ys >= m.margin_threshold - (m.margin_threshold + m.M_out) * (1 - m.q[j, k])

    m.margin_met = pyo.Constraint(m.OUTPUTS, m.SAMPLES, rule=margin, doc="q = 1 => Y s >= T")
    m.objective = pyo.Objective(rule=lambda m: sum(m.q[j, k] for j in m.OUTPUTS for k in m.SAMPLES), sense=pyo.maximize)


def _declare_output_params(m) -> None:
    m.M_out = pyo.Param(within=pyo.PositiveReals, doc="bound on |s|: P (H + 1)")
    m.eps_out = pyo.Param(within=pyo.PositiveReals, doc="s < 0 <=> s <= -eps_out (1: s is integral)")
    m.score_scale = pyo.Param(within=pyo.PositiveReals, doc="S = P (H + 1) / 2, yhat = s / S")
    m.margin_threshold = pyo.Param(within=pyo.Reals, doc="T: z >= margin <=> Y s >= T")
    m.HINGE_CUTS = pyo.Set(ordered=True)
    m.hinge_slope = pyo.Param(m.HINGE_CUTS, within=pyo.Reals)
    m.hinge_intercept = pyo.Param(m.HINGE_CUTS, within=pyo.Reals)


def output_data(data: ProblemData, options: FormulationOptions, objective: str) -> dict[str, Any]:
    paper = options.variant == "paper"
    scale = data.score_bound / 2.0
    cuts = hinge_cuts(data, options) if objective == "min-hinge" else []
    return {
        "M_out": {None: PAPER_BIG_M if paper else float(data.score_bound)},
        "eps_out": {None: data.eps if paper else 1.0},
        "score_scale": {None: scale},
        "margin_threshold": {None: options.margin * scale if paper else float(ceil_threshold(options.margin, data))},
        "HINGE_CUTS": {None: list(range(len(cuts)))},
        "hinge_slope": {p: c[0] for p, c in enumerate(cuts)},
        "hinge_intercept": {p: c[1] for p, c in enumerate(cuts)},
    }


# --------------------------------------------------------------------------- evaluation by forward pass


def _z(network: IntegerNetwork, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = network.output_scores(X)
    Y = np.where(np.arange(network.n_outputs)[None, :] == np.asarray(y)[:, None], 1, -1)
    return s, Y


def evaluate_max_correct(network, X, y, data, options) -> float:
    """Samples whose only non-negative output is the true class's (the MIP's count)."""
    s, Y = _z(network, X, y)
    positive = s >= 0
    return float(np.sum((positive.sum(axis=1) == 1) & positive[np.arange(len(y)), y]))


def evaluate_min_hinge(network, X, y, data, options) -> float:
    s, Y = _z(network, X, y)
    return float(hinge_pwl(Y * s / (data.score_bound / 2.0), hinge_cuts(data, options)).sum())


def evaluate_sat_margin(network, X, y, data, options) -> float:
    s, Y = _z(network, X, y)
    return float(np.sum(Y * s / (data.score_bound / 2.0) >= options.margin - 1e-12))


def start_max_correct(instance, network, X, y) -> list:
    """o = [s >= 0]. Feasible only where exactly one output is non-negative on every sample."""
    s = network.output_scores(X)
    return [(instance.o[j, k], float(s[k, j] >= 0)) for k in range(s.shape[0]) for j in range(s.shape[1])]


def start_min_hinge(instance, network, X, y) -> list:
    s, Y = _z(network, X, y)
    scale = pyo.value(instance.score_scale)
    cuts = [(pyo.value(instance.hinge_slope[p]), pyo.value(instance.hinge_intercept[p])) for p in instance.HINGE_CUTS]
    t = hinge_pwl(Y * s / scale, cuts)
    return [(instance.t[j, k], float(t[k, j])) for k in range(s.shape[0]) for j in range(s.shape[1])]


def start_sat_margin(instance, network, X, y) -> list:
    s, Y = _z(network, X, y)
    thr = pyo.value(instance.margin_threshold)
    return [(instance.q[j, k], float(Y[k, j] * s[k, j] >= thr - 1e-9)) for k in range(s.shape[0]) for j in range(s.shape[1])]


@dataclass(frozen=True)
class Objective:
    name: str
    sense: str
    add: Callable[[Any], None]
    evaluate: Callable[..., float]
    start_values: Callable[..., list]
    description: str
    monotone_in_margin: bool = False  # only ever wants z = Y s larger: output products may be one-sided


OBJECTIVES: dict[str, Objective] = {
    "max-correct": Objective(
        "max-correct", MAXIMIZE, _add_max_correct, evaluate_max_correct, start_max_correct,
        "maximise correctly classified samples (one positive output per sample)",
    ),
    "min-hinge": Objective(
        "min-hinge", MINIMIZE, _add_min_hinge, evaluate_min_hinge, start_min_hinge,
        "minimise the piecewise-linear squared hinge max(0, 0.5 - y*yhat)^2", True,
    ),
    "sat-margin": Objective(
        "sat-margin", MAXIMIZE, _add_sat_margin, evaluate_sat_margin, start_sat_margin,
        "maximise the (sample, output) pairs with y*yhat >= 0.5", True,
    ),
}


def get_objective(name: str) -> Objective:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ModelConfigError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}") from None


def add_objective(abstract_model, name: str) -> None:
    """Declare the output params and add objective ``name``'s variables, rows and Objective."""
    _declare_output_params(abstract_model)
    get_objective(name).add(abstract_model)


def objective_upper_limit(name: str, data: ProblemData) -> float:
    """The best conceivable objective value (N, 0 or n_classes N): used for gaps and targets."""
    return {"max-correct": data.n_samples, "min-hinge": 0.0, "sat-margin": data.n_samples * data.n_classes}[name]

