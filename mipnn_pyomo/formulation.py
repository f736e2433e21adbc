"""The base MIP of an integer network, as one Pyomo AbstractModel.

Notation (samples k = 1..N, layers l = 1..L, layer l has n_l neurons, n_0 = number of features):

    w[l,i,j] in {-P_l..P_l}     weight from input i of layer l to neuron j          (integer)
    b[l,j]   in {-P_l..P_l}     bias of neuron j                                    (integer)
    P_l = P_first for l = 1 when P_first is set (``--p-first``), else P; P_l = P for every l >= 2
    u[l,j,k] in {0, 1}          activation of hidden neuron j on sample k, h = 2u - 1 (l < L)
    c[l,i,j,k] in [-P, P]       product h[l-1,i,k] * w[l,i,j] for l >= 2              (continuous)

    a[1,j,k] = sum_{i: x_ki != 0} x_ki w[1,i,j] + b[1,j]                 first-layer pre-activation
    a[l,j,k] = sum_i c[l,i,j,k] + b[l,j]                       l >= 2 (integer valued)
    s[j,k]   = a[L,j,k]                                        integer output score
    yhat[j,k] = s[j,k] / S,  S = P (H + 1) / 2                 eq. (1), bias inside the normalisation
                                                               (P = P_L, the output layer's: P_first
                                                               never enters S or the score bound)

Every constraint block of the model, with its reference in Thorbjarnarson and Yorke-Smith (the
paper's sign-activation rows carry no equation number: they are labelled (S1), (S2) here):

    block (component)                  rows                                         reference        built in
    product_linearisation              c = (2u - 1) w, four big-M rows              eqs. (5)-(8)     activations/sign
    sign_active (gdp: sign_positive)   u = 1 => a >= 0:  a >= -M (1 - u)            (S1), no number  activations/sign
    sign_inactive (gdp: sign_negative) u = 0 => a <= -eps: a <= -eps + (M + eps) u  (S2), no number  activations/sign
    fix_unused                         w[1,i,j] = 0, feature i zero in all samples  not in paper     here
    symmetry_breaking (opt-in)         b[1,j] >= b[1,j+1]                           not in paper     here
    output_positive, output_negative   o = 1 => s >= 0,  o = 0 => s <= -1           eqs. (13)-(17)   objectives
    one_positive_output                sum_j o[j,k] = 1 (the paper sums over k)     eq. (16)         objectives
    objective (max-correct)            max sum_k o[y_k,k]                           eqs. (13)-(17)   objectives
    hinge_epigraph, objective          t >= alpha_p z + beta_p, t >= 0; min sum t   eqs. (18)-(19)   objectives
    margin_met, objective              q = 1 => Y s >= T = ceil(m S); max sum q     eqs. (20)-(24)   objectives

Big-M and eps of the sign rows: layer 1 M_k = P_1 (sum_i |x_ki| + 1) (P_1 = P_first when set),
eps = 10^-d (the input grid step); later layers M = P (n_{l-1} + 1), eps = 1 (pre-activations are integers there). Inputs live
on the 10^-d grid, so "a < 0" is the same as "a <= -eps": the MIP's activations are exactly the
forward pass's. The hidden activation (its variables, rows, encodings "bigm" / "gdp", constants
and start values) is one module of :mod:`mipnn_pyomo.activations`; the objectives are entries of
:data:`mipnn_pyomo.objectives.OBJECTIVES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any, Callable, Sequence

import numpy as np
import pyomo.environ as pyo

from mipnn_pyomo.activations import get_activation
from mipnn_pyomo.errors import DataError, ModelConfigError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.numerics import MAX_HINGE_BREAKPOINTS, check_P, check_P_first, layer_P, score_bound


@dataclass(frozen=True)
class FormulationOptions:
    """How the MIP is written. ``variant="paper"`` reproduces the paper's model as written
    (generic big-M values, no strengthening); ``"tight"`` (default) uses tight per-sample big-M,
    integer-rounded thresholds and the strengthening flags below."""

    encoding: str = "bigm"  # an encoding of the activation's rule ("bigm" or "gdp" for sign)
    variant: str = "tight"  # "tight" | "paper"
    fix_unused_inputs: bool = True  # w[1,i,j] = 0 when feature i is zero in every training sample
    symmetry_breaking: bool = False  # order hidden neurons of the first layer by their bias
    one_sided_output_products: bool = True  # output products bounded on one side only (activations/sign.py)
    hinge_breakpoints: int | None = None  # default min(2P(H+1) + 1, MAX_HINGE_BREAKPOINTS)
    margin: float = 0.5  # m of sat-margin and min-hinge (also the heuristic's and GD's margin)
    activation: str = "sign"  # key of mipnn_pyomo.activations.ACTIVATIONS

    def __post_init__(self) -> None:
        get_activation(self.activation).check_encoding(self.encoding)
        if self.variant not in ("tight", "paper"):
            raise ModelConfigError(f"unknown formulation variant {self.variant!r}; choose 'tight' or 'paper'")
        if self.variant == "paper" and self.symmetry_breaking:
            raise ModelConfigError(
                "symmetry breaking is not part of the paper's model: use it with the 'tight' variant")
        if not (0 < self.margin <= 1):
            raise ModelConfigError(f"margin must be in (0, 1], got {self.margin}")
        if self.hinge_breakpoints is not None and not (2 <= self.hinge_breakpoints <= MAX_HINGE_BREAKPOINTS):
            raise ModelConfigError(
                f"hinge_breakpoints must be in 2..{MAX_HINGE_BREAKPOINTS}, got {self.hinge_breakpoints}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProblemData:
    """Validated numeric data of one training instance. ``P_first`` (None: P) bounds the first
    layer's weights and biases; :meth:`layer_P` gives P_l for any layer l = 1..L."""

    X: np.ndarray  # (N, n_features), on the 10^-d grid
    y: np.ndarray  # (N,) class index
    n_classes: int
    hidden: tuple[int, ...]
    P: int
    decimals: int = 4
    P_first: int | None = None
    Y: np.ndarray = field(init=False)  # (N, n_classes) one-hot +-1

    def __post_init__(self) -> None:
        validate_architecture(self.hidden, self.P, self.P_first)
        self.P_first = check_P_first(self.P_first)
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
        """|s| <= P (H + 1) for every output score (P: the output layer's bound, never P_first)."""
        return score_bound(self.P, self.H)

    def layer_P(self, l: int) -> int:
        """P_l: weights and biases of layer l (1 = the first layer) are integers in [-P_l, P_l]."""
        return layer_P(self.P, self.P_first, l)


def validate_architecture(hidden: Sequence[int], P: Any, P_first: Any = None) -> None:
    check_P(P)
    check_P_first(P_first)
    if len(hidden) == 0:
        raise ModelConfigError("the network needs at least one hidden layer (H in the output normalisation)")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ModelConfigError(f"every hidden width must be an integer >= 1, got {list(hidden)}")


# --------------------------------------------------------------------------- abstract model


def build_abstract_model(options: FormulationOptions | None = None) -> pyo.AbstractModel:
    """The base network model (no objective) with Sets, Params and Vars; instantiate with
    :func:`instance_data`. The activation declares u, c and its constants and adds its rows."""
    options = options or FormulationOptions()
    activation = get_activation(options.activation)
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
    m.P = pyo.Param(within=pyo.PositiveIntegers, doc="weights and biases of layers l >= 2 in [-P, P]")
    m.P_layer = pyo.Param(m.LAYERS, within=pyo.PositiveIntegers, doc="P_l: layer l's weights and biases in [-P_l, P_l]")
    m.L = pyo.Param(within=pyo.PositiveIntegers, doc="number of layers")
    m.H = pyo.Param(within=pyo.PositiveIntegers, doc="width of the last hidden layer")
    m.n_in = pyo.Param(m.LAYERS, within=pyo.PositiveIntegers, doc="number of inputs of layer l")
    m.x = pyo.Param(m.SAMPLES, m.FEATURES, default=0.0, doc="input value (sparse)")
    m.Y = pyo.Param(m.SAMPLES, m.OUTPUTS, within=pyo.Integers, doc="one-hot label in {-1, +1}")
    # ---- variables (weights, then the activation's u and c)
    m.w = pyo.Var(m.W_INDEX, within=pyo.Integers, bounds=lambda m, l, i, j: (-m.P_layer[l], m.P_layer[l]))
    m.b = pyo.Var(m.B_INDEX, within=pyo.Integers, bounds=lambda m, l, j: (-m.P_layer[l], m.P_layer[l]))
    activation.declare(m)

    m.preactivation = pyo.Expression(m.B_INDEX * m.SAMPLES, rule=_preactivation_rule, doc="a[l,j,k]")
    activation.add_rows(m, options.encoding)
    m.fix_unused = pyo.Constraint(m.FIXED_ZERO_WEIGHTS, rule=lambda m, l, i, j: m.w[l, i, j] == 0)
    if options.symmetry_breaking:
        add_symmetry_breaking(m)
    return m


def _preactivation_rule(m, l, j, k):
    """a[1,j,k] = sum_{i in NONZERO[k]} x_ki w[1,i,j] + b[1,j];  a[l,j,k] = sum_i c[l,i,j,k] + b[l,j]."""
    if l == 1:
        return sum(m.x[k, i] * m.w[1, i, j] for i in m.NONZERO[k]) + m.b[1, j]
    return sum(m.c[l, i, j, k] for i in range(pyo.value(m.n_in[l]))) + m.b[l, j]


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
    monotone in z = Y s, so output products may be one-sided (see the activation's products)."""
    options = options or FormulationOptions()
    X = data.X
    sizes = data.layer_sizes
    L = len(sizes) - 1
    samples = list(range(data.n_samples))
    rows, cols = np.nonzero(X)
    nonzero = {k: [] for k in samples}
    x = {}
    for k, i in zip(rows.tolist(), cols.tolist()):
        nonzero[k].append(i)
        x[(k, i)] = float(X[k, i])
    fixed = []
    if options.fix_unused_inputs and options.variant != "paper":
        unused = np.flatnonzero(~np.any(X != 0, axis=0))
        fixed = [(1, int(i), j) for i in unused for j in range(sizes[1])]
    d = {
        "LAYERS": {None: list(range(1, L + 1))},
        "SAMPLES": {None: samples},
        "FEATURES": {None: list(range(data.n_features))},
        "OUTPUTS": {None: list(range(data.n_classes))},
        "W_INDEX": {None: [(l, i, j) for l in range(1, L + 1) for i in range(sizes[l - 1]) for j in range(sizes[l])]},
        "B_INDEX": {None: [(l, j) for l in range(1, L + 1) for j in range(sizes[l])]},
        "HIDDEN_INDEX": {None: [(l, j, k) for l in range(1, L) for j in range(sizes[l]) for k in samples]},
        "PRODUCT_INDEX": {None: [(l, i, j, k) for l in range(2, L + 1) for i in range(sizes[l - 1])
                                 for j in range(sizes[l]) for k in samples]},
        "NONZERO": nonzero,
        "FIXED_ZERO_WEIGHTS": {None: fixed},
        "P": {None: data.P},
        "P_layer": {l: data.layer_P(l) for l in range(1, L + 1)},
        "L": {None: L},
        "H": {None: data.H},
        "n_in": {l: sizes[l - 1] for l in range(1, L + 1)},
        "x": x,
        "Y": {(k, j): int(data.Y[k, j]) for k in samples for j in range(data.n_classes)},
    }
    d.update(get_activation(options.activation).model_data(data, options, one_sided))
    return {None: d}


def apply_transformations(instance, options: FormulationOptions) -> None:
    """Rewrite what the encoding left symbolic (the gdp disjunctions) into plain MIP rows."""
    get_activation(options.activation).transform(instance, options.encoding)


# --------------------------------------------------------------------------- reading solutions


def network_from_values(instance, data: ProblemData, weight_value: Callable[[Any], float]) -> IntegerNetwork:
    """Rebuild the integer network from variable values (``weight_value(var) -> float``), rounded
    and clipped to each layer's [-P_l, P_l]."""
    sizes = data.layer_sizes
    weights, biases = [], []
    for l in range(1, len(sizes)):
        w = np.zeros((sizes[l - 1], sizes[l]), dtype=np.int64)
        for i in range(sizes[l - 1]):
            for j in range(sizes[l]):
                w[i, j] = int(round(weight_value(instance.w[l, i, j])))
        b = np.array([int(round(weight_value(instance.b[l, j]))) for j in range(sizes[l])], dtype=np.int64)
        bound = data.layer_P(l)
        weights.append(np.clip(w, -bound, bound))
        biases.append(np.clip(b, -bound, bound))
    return IntegerNetwork(weights=weights, biases=biases, P=data.P, P_first=data.P_first,
                          preprocessing={"decimals": data.decimals})


def weight_variables(instance) -> list:
    """All weight and bias variables (the network's degrees of freedom)."""
    return list(instance.w.values()) + list(instance.b.values())


def implied_activations_and_scores(instance, data: ProblemData,
                                   activation: str = "sign") -> tuple[list[np.ndarray], np.ndarray]:
    """What the MIP's own variables say: hidden activations h = 2u - 1 per layer (N, n_l), read
    from the loaded solution, and the output scores s = h^{L-1} W^L + b^L they imply with the MIP's
    integer weights (the products c equal h w exactly in the two-sided rows; with one-sided output
    products only s computed from h and w is the network's)."""
    sizes = data.layer_sizes
    L = len(sizes) - 1
    N = data.n_samples
    read = get_activation(activation).activations_from_solution
    acts = [read(instance, l, sizes[l], N) for l in range(1, L)]
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
