"""The numeric constants of the model, each in one place (numpy only, imported everywhere).

    score bound   |s| <= P (H + 1)              every output score (H = width of the last hidden layer)
    score scale   S = P (H + 1) / 2             eq. (1): yhat = s / S in [-2, 2]
    threshold     T = ceil(m S)                 z = Y yhat >= m  <=>  Y s >= T, since s is an integer
    MAX_P         weights and biases in {-P..P} with P <= MAX_P (why: docs/formulation.md, "Limits")
    layer bound   P_l = P_first for l = 1 (the first layer's weights and biases) when P_first is set,
                  else P; every later layer, the output layer included, keeps P (so S and B stay on P)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mipnn_pyomo.errors import ModelConfigError

# Largest P accepted. The first layer's big-M is M_k = P (sum_i |x_ki| + 1); with the solvers'
# integrality tolerance 1e-9 a relaxed u = 1 - 1e-9 lets a >= -M_k 1e-9 pass, which must stay below
# the input grid step 10^-4: P <= 1000 keeps M_k 1e-9 < 1e-4 for every sample with sum |x| < 99.
# The local search also holds 2P + 1 candidate score matrices per move.
MAX_P = 1000

# Most breakpoints of min-hinge's piecewise-linear loss. The default 2P(H+1) + 1 puts one on every
# output lattice point of [-1, 1] (exact there) and is kept up to P(H+1) = 256 (P = 15 with H = 16,
# the largest benchmarked setting); beyond, the chord error of the squared hinge between
# breakpoints h = 2/512 apart is at most h^2/4 < 4e-6 per (sample, output), while every breakpoint
# adds about 0.75 N n_out rows.
MAX_HINGE_BREAKPOINTS = 513

# Generic big-M of the paper's model as written (variant "paper").
PAPER_BIG_M = 1000.0


def check_P(P: Any, name: str = "P") -> int:
    """P as an int, or one clear ModelConfigError (``name``: how the message calls it)."""
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ModelConfigError(f"{name} must be an integer >= 1, got {P!r}")
    if P > MAX_P:
        raise ModelConfigError(
            f"{name} must be at most {MAX_P} (weights in {{-{name}..{name}}}; larger values break the big-M "
            f"rows' exactness at 1e-9 tolerances, see docs/formulation.md), got {P}")
    return int(P)


def check_P_first(P_first: Any) -> int | None:
    """P_first as an int (the first layer's bound), None (P everywhere), or one clear ModelConfigError."""
    return None if P_first is None else check_P(P_first, "P_first")


def layer_P(P: int, P_first: int | None, layer: int) -> int:
    """The bound P_l of layer ``layer`` (1-based, the formulation's l): weights and biases of layer l
    are integers in [-P_l, P_l]; P_1 = P_first when set, every other P_l = P."""
    if layer < 1:
        raise ValueError(f"layers are numbered from 1, got {layer}")
    return int(P_first) if layer == 1 and P_first is not None else int(P)


def score_bound(P: int, H: int) -> int:
    """|s| <= P (H + 1) for every output score."""
    return int(P) * (int(H) + 1)


def score_scale(P: int, H: int) -> float:
    """S = P (H + 1) / 2 of eq. (1): yhat = s / S."""
    return score_bound(P, H) / 2.0


def margin_threshold(margin: float, P: int, H: int) -> int:
    """T = ceil(m S): the smallest integer score s with s / S >= m (exact, s is integral)."""
    return int(math.ceil(margin * score_scale(P, H) - 1e-9))
