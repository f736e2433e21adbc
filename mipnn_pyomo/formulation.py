"""The base MIP of an integer sign-activation network, as one Pyomo AbstractModel.

Notation (samples k = 1..N, layers l = 1..L, layer l has n_l neurons, n_0 = number of features):

    w[l,i,j] in {-P..P}         weight from input i of layer l to neuron j          (integer)
    b[l,j]   in {-P..P}         bias of neuron j                                    (integer)
    u[l,j,k] in {0, 1}          activation of hidden neuron j on sample k, h = 2u - 1 (l < L)
    c[l,i,j,k] in [-P, P]       product h[l-1,i,k] * w[l,i,j] for l >= 2              (continuous)

    a[1,j,k] = sum_{i: x_ki != 0} x_ki w[1,i,j] + b[1,j]                 first-layer pre-activation
    a[l,j,k] = sum_i c[l,i,j,k] + b[l,j]                       l >= 2 (integer valued)
    s[j,k]   = a[L,j,k]                                        integer output score
    yhat[j,k] = 2 s[j,k] / (P (H + 1))                          eq. (1), bias inside the normalisation

Constraint blocks (each one named component, built by one documented function below):

    product_linearisation   eqs. (5)-(8): c = (2u - 1) w exactly, for u binary and |w| <= P:
        c <= w + 2P(1 - u),   c >= w - 2P(1 - u),   c <= -w + 2P u,   c >= -w - 2P u
    sign activation         u = 1  =>  a >= 0   and   u = 0  =>  a <= -eps
        a disjunction per (l, j, k), rewritten as big-M with tight per-sample M:
        a >= -M_lo (1 - u)   and   a <= -eps + (M_hi + eps) u
        first layer M = P (sum_i |x_ki| + 1), eps = 10^-d (the input grid step);
        later layers M = P (n_{l-1} + 1), eps = 1 (pre-activations are integers there).

Inputs live on the 10^-d grid, so every first-layer pre-activation is a multiple of 10^-d and
"a < 0" is the same as "a <= -eps": the MIP's activations are exactly the forward pass's.

The encoding of the sign implication is picked from ``ACTIVATION_ENCODINGS`` (OMLT style):
``"bigm"`` writes the two big-M rows directly (fast), ``"gdp"`` writes a ``pyomo.gdp``
Disjunction and lets ``gdp.bigm`` rewrite it with the same M values (the reference encoding;
slower to build). Objectives are added on top of this base model by :mod:`mipnn_pyomo.objectives`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict
from typing import Any, Callable, Sequence

import numpy as np
import pyomo.environ as pyo
from pyomo.gdp import Disjunct, Disjunction

from mipnn_pyomo.errors import DataError, ModelConfigError
from mipnn_pyomo.network import IntegerNetwork


@dataclass(frozen=True)
class FormulationOptions:
    """How the MIP is written. ``variant="paper"`` reproduces the paper's model as written
    (generic big-M values, no strengthening); ``"tight"`` (default) uses tight per-sample big-M,
    integer-rounded thresholds and the strengthening flags below."""

    encoding: str = "bigm"  # key of ACTIVATION_ENCODINGS
    variant: str = "tight"  # "tight" | "paper"
    fix_unused_inputs: bool = True  # w[1,i,j] = 0 when feature i is zero in every training sample
    symmetry_breaking: bool = False  # order hidden neurons of the first layer by their bias
    one_sided_output_products: bool = True  # output-layer products bounded on one side only (see add_product_linearisation)
    hinge_breakpoints: int | None = None  # default int(2P(H+1) + 1)
    margin: float = 0.5  # m of sat-margin (and the hinge's margin)

    def __post_init__(self) -> None:
        if self.encoding not in ACTIVATION_ENCODINGS:
            raise ModelConfigError(f"unknown encoding {self.encoding!r}; choose one of {sorted(ACTIVATION_ENCODINGS)}")
        if self.variant not in ("tight", "paper"):
            raise ModelConfigError(f"unknown formulation variant {self.variant!r}; choose 'tight' or 'paper'")
        if not (0 < self.margin <= 1):
            raise ModelConfigError(f"margin must be in (0, 1], got {self.margin}")
        if self.hinge_breakpoints is not None and self.hinge_breakpoints < 2:
            raise ModelConfigError("hinge_breakpoints must be at least 2")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Generic big-M of the paper's model as written (used by variant="paper").
PAPER_BIG_M = 1000.0


@dataclass
class ProblemData:
    """Validated numeric data of one training instance."""

    X: np.ndarray  # (N, n_features), on the 10^-d grid
    y: np.ndarray  # (N,) class index
    n_classes: int
    hidden: tuple[int, ...]
    P: int
    decimals: int = 4
    Y: np.ndarray = field(init=False)  # (N, n_classes) one-hot +-1

    def __post_init__(self) -> None:
        validate_architecture(self.hidden, self.P)
        X = np.asarray(self.X, dtype=float)
        y = np.asarray(self.y)
        if X.ndim != 2:
            raise DataError(f"X must be a 2-D array (samples x features), got shape {X.shape}")
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(f"y must have one label per row of X ({len(X)}), got shape {y.shape}")
        if len(X) == 0:
            raise DataError("no training samples")
        if not np.all(np.isfinite(X)):
            raise DataError(f"X contains {int(np.sum(~np.isfinite(X)))} NaN or infinite values")
        if not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.isfinite(y.astype(float))) or np.any(y.astype(float) != np.rint(y.astype(float))):
                raise DataError("y must hold integer class indices 0..n_classes-1")
            y = y.astype(np.int64)
        if self.n_classes < 2:
            raise DataError(f"need at least 2 classes, got {self.n_classes}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise DataError(f"labels must be class indices in 0..{self.n_classes - 1}, got values in [{y.min()}, {y.max()}]")
        if not isinstance(self.decimals, (int, np.integer)) or not (0 <= self.decimals <= 8):
            raise ModelConfigError(f"decimals must be an integer in 0..8, got {self.decimals!r}")
        self.X = np.round(X, self.decimals)
        self.y = y.astype(np.int64)
        self.Y = np.where(np.arange(self.n_classes)[None, :] == self.y[:, None], 1, -1)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def layer_sizes(self) -> list[int]:
        """[n_0, n_1, ..., n_L]: features, hidden widths, outputs."""
        return [self.n_features, *self.hidden, self.n_classes]

    @property
    def H(self) -> int:
        return int(self.hidden[-1])

    @property
    def eps(self) -> float:
        return 10.0 ** (-self.decimals)

    @property
    def score_bound(self) -> int:
        """|s| <= P (H + 1) for every output score."""
        return int(self.P * (self.H + 1))


def validate_architecture(hidden: Sequence[int], P: Any) -> None:
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 1:
        raise ModelConfigError(f"P must be an integer >= 1, got {P!r}")
    if len(hidden) == 0:
        raise ModelConfigError("the network needs at least one hidden layer (H in the output normalisation)")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ModelConfigError(f"every hidden width must be an integer >= 1, got {list(hidden)}")


# --------------------------------------------------------------------------- abstract model


def build_abstract_model(options: FormulationOptions | None = None) -> pyo.AbstractModel:
    """The base network model (no objective) with Sets, Params and Vars; instantiate with
    :func:`instance_data`."""
    options = options or FormulationOptions()
    m = pyo.AbstractModel(name="mipnn")
    # ---- sets
    m.LAYERS = pyo.Set(ordered=True, doc="layers 1..L (L is the output layer)")
    m.SAMPLES = pyo.Set(ordered=True, doc="training samples k")
    m.FEATURES = pyo.Set(ordered=True, doc="input features i")
    m.OUTPUTS = pyo.Set(ordered=True, doc="output neurons j (one per class)")
    m.W_INDEX = pyo.Set(dimen=3, ordered=True, doc="(l, i, j): weight of input i into neuron j of layer l")
    m.B_INDEX = pyo.Set(dimen=2, ordered=True, doc="(l, j): bias of neuron j of layer l")
    m.HIDDEN_INDEX = pyo.Set(dimen=3, ordered=True, doc="(l, j, k): hidden neuron j of layer l < L on sample k")
    m.PRODUCT_INDEX = pyo.Set(dimen=4, ordered=True, doc="(l, i, j, k): product h[l-1,i,k] w[l,i,j], l >= 2")
    m.NONZERO = pyo.Set(m.SAMPLES, within=m.FEATURES, ordered=True, doc="features with x_ki != 0")
    m.FIXED_ZERO_WEIGHTS = pyo.Set(dimen=3, ordered=True, doc="first-layer weights of features zero in every sample")
    # ---- params
    m.P = pyo.Param(within=pyo.PositiveIntegers, doc="weights and biases in [-P, P]")
    m.L = pyo.Param(within=pyo.PositiveIntegers, doc="number of layers")
    m.H = pyo.Param(within=pyo.PositiveIntegers, doc="width of the last hidden layer")
    m.eps = pyo.Param(within=pyo.PositiveReals, doc="input grid step 10^-d")
    m.n_in = pyo.Param(m.LAYERS, within=pyo.PositiveIntegers, doc="number of inputs of layer l")
    m.x = pyo.Param(m.SAMPLES, m.FEATURES, default=0.0, doc="input value (sparse)")
    m.Y = pyo.Param(m.SAMPLES, m.OUTPUTS, within=pyo.Integers, doc="one-hot label in {-1, +1}")
    m.M_first = pyo.Param(m.SAMPLES, within=pyo.NonNegativeReals, doc="big-M of the first layer on sample k")
    m.M_layer = pyo.Param(m.LAYERS, within=pyo.NonNegativeReals, doc="big-M of a layer >= 2")
    m.eps_layer = pyo.Param(m.LAYERS, within=pyo.PositiveReals, doc="eps of layer l: 10^-d for l = 1, 1 after")
    m.product_side = pyo.Param(m.OUTPUTS, m.SAMPLES, within=pyo.Integers, default=0,
                               doc="Y[k,j] where output products are one-sided, else 0")
    # ---- variables
    m.w = pyo.Var(m.W_INDEX, within=pyo.Integers, bounds=lambda m, *idx: (-m.P, m.P))
    m.b = pyo.Var(m.B_INDEX, within=pyo.Integers, bounds=lambda m, *idx: (-m.P, m.P))
    m.u = pyo.Var(m.HIDDEN_INDEX, within=pyo.Binary)
    m.c = pyo.Var(m.PRODUCT_INDEX, within=pyo.Reals, bounds=lambda m, *idx: (-m.P, m.P))

    m.preactivation = pyo.Expression(m.B_INDEX * m.SAMPLES, rule=_preactivation_rule, doc="a[l,j,k]")
    m.yhat = pyo.Expression(
        m.OUTPUTS, m.SAMPLES, rule=lambda m, j, k: 2 * m.preactivation[pyo.value(m.L), j, k] / (m.P * (m.H + 1)), doc="eq. (1)"
    )
    add_product_linearisation(m)
    ACTIVATION_ENCODINGS[options.encoding].build(m)
    m.fix_unused = pyo.Constraint(m.FIXED_ZERO_WEIGHTS, rule=lambda m, l, i, j: m.w[l, i, j] == 0)
    if options.symmetry_breaking:
        add_symmetry_breaking(m)
    return m


def _preactivation_rule(m, l, j, k):
    """a[1,j,k] = sum_{i in NONZERO[k]} x_ki w[1,i,j] + b[1,j];  a[l,j,k] = sum_i c[l,i,j,k] + b[l,j]."""
    if l == 1:
        return sum(m.x[k, i] * m.w[1, i, j] for i in m.NONZERO[k]) + m.b[1, j]
    return sum(m.c[l, i, j, k] for i in range(pyo.value(m.n_in[l]))) + m.b[l, j]


def add_product_linearisation(m) -> None:
    """Eqs. (5)-(8): c = (2u - 1) w for u binary, |w| <= P:
    (0) c - w <= 2P(1-u);  (1) w - c <= 2P(1-u);  (2) c + w <= 2P u;  (3) -c - w <= 2P u.

    One-sided output products: when the objective only ever wants z = Y s larger (sat-margin,
    min-hinge), an output-layer product needs only the rows bounding Y c from above, c <= h w
    (rows 0 and 2) for Y = +1 and c >= h w (rows 1 and 3) for Y = -1. Every true network stays
    feasible with its true objective, and any solution's network is at least as good by forward
    pass as the MIP's objective says, so the optimum and the bound are unchanged; the LP is half
    the size. ``product_side[j, k]`` is Y (one-sided) or 0 (all four rows)."""

    def rule(m, l, i, j, k, which):
        if l == pyo.value(m.L):
            side = pyo.value(m.product_side[j, k])
            if (side > 0 and which in (1, 3)) or (side < 0 and which in (0, 2)):
                return pyo.Constraint.Skip
        c, w, u = m.c[l, i, j, k], m.w[l, i, j], m.u[l - 1, i, k]
        two_p = 2 * m.P
        if which == 0:
            return c - w <= two_p * (1 - u)
        if which == 1:
            return w - c <= two_p * (1 - u)
        if which == 2:
            return c + w <= two_p * u
        return -c - w <= two_p * u

    m.PRODUCT_ROWS = pyo.Set(initialize=[0, 1, 2, 3])
    m.product_linearisation = pyo.Constraint(m.PRODUCT_INDEX, m.PRODUCT_ROWS, rule=rule)


def _sign_big_m(m, l, k) -> tuple[float, float]:
    """(M, eps) of the sign implication for layer l on sample k."""
    big_m = m.M_first[k] if l == 1 else m.M_layer[l]
    return pyo.value(big_m), pyo.value(m.eps_layer[l])


def _build_sign_bigm(m) -> None:
    """u = 1 => a >= 0:  a >= -M (1 - u);   u = 0 => a <= -eps:  a <= -eps + (M + eps) u."""

    def active(m, l, j, k):
        big_m, _ = _sign_big_m(m, l, k)
        return m.preactivation[l, j, k] >= -big_m * (1 - m.u[l, j, k])

    def inactive(m, l, j, k):
        big_m, eps = _sign_big_m(m, l, k)
        return m.preactivation[l, j, k] <= -eps + (big_m + eps) * m.u[l, j, k]

    m.sign_active = pyo.Constraint(m.HIDDEN_INDEX, rule=active, doc="u = 1 => a >= 0")
    m.sign_inactive = pyo.Constraint(m.HIDDEN_INDEX, rule=inactive, doc="u = 0 => a <= -eps")


def _build_sign_gdp(m) -> None:
    """The same implication as a disjunction [u = 1, a >= 0] v [u = 0, a <= -eps] (pyomo.gdp);
    :func:`apply_transformations` rewrites it by ``gdp.bigm`` with the per-sample M."""

    def positive(d, l, j, k):
        m = d.model()
        d.bound = pyo.Constraint(expr=m.preactivation[l, j, k] >= 0)
        d.link = pyo.Constraint(expr=m.u[l, j, k] == 1)

    def negative(d, l, j, k):
        m = d.model()
        _, eps = _sign_big_m(m, l, k)
        d.bound = pyo.Constraint(expr=m.preactivation[l, j, k] <= -eps)
        d.link = pyo.Constraint(expr=m.u[l, j, k] == 0)

    m.sign_positive = Disjunct(m.HIDDEN_INDEX, rule=positive)
    m.sign_negative = Disjunct(m.HIDDEN_INDEX, rule=negative)
    m.sign_disjunction = Disjunction(
        m.HIDDEN_INDEX, rule=lambda m, l, j, k: [m.sign_positive[l, j, k], m.sign_negative[l, j, k]]
    )


def _transform_gdp(instance) -> None:
    """gdp.bigm with the tight M of each disjunct's constraint (Pyomo's (lower, upper) convention:
    lower <= body - M_lo (1 - y) and body - M_up (1 - y) <= upper, so M_lo = -M and M_up = M + eps)."""
    big_m = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for (l, j, k) in instance.HIDDEN_INDEX:
        mk, eps = _sign_big_m(instance, l, k)
        big_m[instance.sign_positive[l, j, k].bound] = (-mk, None)
        big_m[instance.sign_negative[l, j, k].bound] = (None, mk + eps)
        big_m[instance.sign_positive[l, j, k].link] = (-1, 1)
        big_m[instance.sign_negative[l, j, k].link] = (-1, 1)
    instance.BigM = big_m
    pyo.TransformationFactory("gdp.bigm").apply_to(instance)


@dataclass(frozen=True)
class Encoding:
    build: Callable[[Any], None]
    transform: Callable[[Any], None] | None = None


ACTIVATION_ENCODINGS: dict[str, Encoding] = {
    "bigm": Encoding(build=_build_sign_bigm),
    "gdp": Encoding(build=_build_sign_gdp, transform=_transform_gdp),
}


def add_symmetry_breaking(m) -> None:
    """Hidden neurons of layer 1 are interchangeable; order them by bias: b[1,j] >= b[1,j+1]."""

    def rule(m, l, j):
        if l != 1 or (l, j + 1) not in m.B_INDEX:
            return pyo.Constraint.Skip
        return m.b[l, j] >= m.b[l, j + 1]

    m.symmetry_breaking = pyo.Constraint(m.B_INDEX, rule=rule)


# --------------------------------------------------------------------------- instance data


def instance_data(data: ProblemData, options: FormulationOptions | None = None, one_sided: bool = False) -> dict:
    """The Pyomo data dict (``{None: {...}}``) of one instance. ``one_sided``: the objective is
    monotone in z = Y s, so output products may be one-sided (see add_product_linearisation)."""
    options = options or FormulationOptions()
    X, P = data.X, data.P
    sizes = data.layer_sizes
    L = len(sizes) - 1
    N = data.n_samples
    samples = list(range(N))
    w_index = [(l, i, j) for l in range(1, L + 1) for i in range(sizes[l - 1]) for j in range(sizes[l])]
    b_index = [(l, j) for l in range(1, L + 1) for j in range(sizes[l])]
    hidden_index = [(l, j, k) for l in range(1, L) for j in range(sizes[l]) for k in samples]
    product_index = [
        (l, i, j, k) for l in range(2, L + 1) for i in range(sizes[l - 1]) for j in range(sizes[l]) for k in samples
    ]
    rows, cols = np.nonzero(X)
    nonzero = {k: [] for k in samples}
    x = {}
    for k, i in zip(rows.tolist(), cols.tolist()):
        nonzero[k].append(i)
        x[(k, i)] = float(X[k, i])
    paper = options.variant == "paper"
    m_first = {k: (PAPER_BIG_M if paper else float(P * (np.abs(X[k]).sum() + 1))) for k in samples}
    m_layer = {l: (PAPER_BIG_M if paper else float(P * (sizes[l - 1] + 1))) for l in range(1, L + 1)}
    fixed = []
    if options.fix_unused_inputs and not paper:
        unused = np.flatnonzero(~np.any(X != 0, axis=0))
        fixed = [(1, int(i), j) for i in unused for j in range(sizes[1])]
    d = {
        "LAYERS": {None: list(range(1, L + 1))},
        "SAMPLES": {None: samples},
        "FEATURES": {None: list(range(data.n_features))},
        "OUTPUTS": {None: list(range(data.n_classes))},
        "W_INDEX": {None: w_index},
        "B_INDEX": {None: b_index},
        "HIDDEN_INDEX": {None: hidden_index},
        "PRODUCT_INDEX": {None: product_index},
        "NONZERO": nonzero,
        "FIXED_ZERO_WEIGHTS": {None: fixed},
        "P": {None: P},
        "L": {None: L},
        "H": {None: data.H},
        "eps": {None: data.eps},
        "n_in": {l: sizes[l - 1] for l in range(1, L + 1)},
        "x": x,
        "Y": {(k, j): int(data.Y[k, j]) for k in samples for j in range(data.n_classes)},
        "M_first": m_first,
        "M_layer": m_layer,
        # Layers >= 2 sum integers, so a < 0 means a <= -1; the paper's model keeps one generic eps.
        "eps_layer": {l: (data.eps if (l == 1 or paper) else 1.0) for l in range(1, L + 1)},
    }
    if one_sided and options.one_sided_output_products and not paper:
        d["product_side"] = {(j, k): int(data.Y[k, j]) for k in samples for j in range(data.n_classes)}
    return {None: d}


def apply_transformations(instance, options: FormulationOptions) -> None:
    """Rewrite what the encoding left symbolic (the gdp disjunctions) into plain MIP rows."""
    transform = ACTIVATION_ENCODINGS[options.encoding].transform
    if transform is not None:
        transform(instance)


# --------------------------------------------------------------------------- reading solutions


def network_from_values(instance, data: ProblemData, weight_value: Callable[[Any], float]) -> IntegerNetwork:
    """Rebuild the integer network from variable values (``weight_value(var) -> float``), rounded."""
    sizes = data.layer_sizes
    weights, biases = [], []
    for l in range(1, len(sizes)):
        w = np.zeros((sizes[l - 1], sizes[l]), dtype=np.int64)
        for i in range(sizes[l - 1]):
            for j in range(sizes[l]):
                w[i, j] = int(round(weight_value(instance.w[l, i, j])))
        b = np.array([int(round(weight_value(instance.b[l, j]))) for j in range(sizes[l])], dtype=np.int64)
        weights.append(np.clip(w, -data.P, data.P))
        biases.append(np.clip(b, -data.P, data.P))
    return IntegerNetwork(weights=weights, biases=biases, P=data.P, preprocessing={"decimals": data.decimals})


def weight_variables(instance) -> list:
    """All weight and bias variables (the network's degrees of freedom)."""
    return list(instance.w.values()) + list(instance.b.values())


def implied_activations_and_scores(instance, data: ProblemData) -> tuple[list[np.ndarray], np.ndarray]:
    """What the MIP's own variables say: hidden activations h = 2u - 1 per layer (N, n_l), read
    from the loaded solution, and the output scores s = h^{L-1} W^L + b^L they imply with the MIP's
    integer weights (the products c equal h w exactly in the two-sided rows; with one-sided output
    products only s computed from h and w is the network's)."""
    sizes = data.layer_sizes
    L = len(sizes) - 1
    N = data.n_samples
    acts = []
    for l in range(1, L):
        u = np.array([[pyo.value(instance.u[l, j, k]) for j in range(sizes[l])] for k in range(N)])
        acts.append(np.where(np.rint(u) >= 1, 1, -1))
    net = network_from_values(instance, data, lambda v: v.value if v.value is not None else 0.0)
    s = acts[-1] @ net.weights[-1] + net.biases[-1]
    return acts, np.asarray(s, dtype=np.int64)


def fix_network(instance, network: IntegerNetwork) -> None:
    """Fix all weights and biases to ``network`` (for formulation tests: the rest must follow)."""
    for l, (w, b) in enumerate(zip(network.weights, network.biases), start=1):
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                instance.w[l, i, j].fix(int(w[i, j]))
        for j in range(b.shape[0]):
            instance.b[l, j].fix(int(b[j]))


def objective_scale(data: ProblemData) -> float:
    """P (H + 1) / 2: yhat = s / scale."""
    return data.score_bound / 2.0


def ceil_threshold(margin: float, data: ProblemData) -> int:
    """Smallest integer score s with 2 s / (P(H+1)) >= margin (s is integral, so this is exact)."""
    return int(math.ceil(margin * objective_scale(data) - 1e-9))
