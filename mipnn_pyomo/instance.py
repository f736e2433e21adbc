"""One training instance: the abstract model, its data, and the concrete Pyomo model built from them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from mipnn_pyomo import blocks
from mipnn_pyomo import formulation as F
from mipnn_pyomo.activations import get_activation
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.gcpause import paused_gc
from mipnn_pyomo.objectives import Objective, OutputContext, declare_output_params, get_objective, output_data


ACCURACY = "accuracy"  # a Hold on the number of correctly predicted training samples


@dataclass(frozen=True)
class Hold:
    """A value an earlier stage reached, held as a constraint: ``name`` is ``"accuracy"`` (at least
    ``value`` training samples predicted correctly by the forward pass, ties included: the
    accuracy floor of blocks.py) or an objective name (its expression at least ``value`` when it
    is maximised, at most ``value`` when minimised)."""

    name: str
    value: float

    def met_by(self, instance: "TrainingInstance", network: IntegerNetwork) -> bool:
        """Whether ``network``'s forward pass keeps this hold."""
        d = instance.data
        if self.name == ACCURACY:
            return int(np.sum(network.predict_index(d.X) == d.y)) >= self.value
        spec = get_objective(self.name)
        value = spec.evaluate(network, d.X, instance.outputs)
        tol = 1e-6 * max(1.0, abs(self.value))
        return value >= self.value - tol if spec.maximises else value <= self.value + tol

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value}


@dataclass
class TrainingInstance:
    """A concrete Pyomo model of one (data, architecture, objective) with what is needed to read it back."""

    model: pyo.ConcreteModel
    data: F.ProblemData
    objective: str
    options: F.FormulationOptions
    build_s: float
    sizes: dict[str, int] = field(default_factory=dict)
    outputs: OutputContext | None = None  # how the objective reads scores (built from data and options if None)
    holds: tuple[Hold, ...] = ()  # earlier stages' values held as constraints (recipes)
    matrix: Any = None  # StandardForm of numpy rows (matrix_form.py): ``model`` then holds no Constraint

    def standard_form(self):
        """The MIP as matrices (solvers/standard_form.StandardForm) over ``model``'s variables: the
        numpy rows when built with them, else compiled from the Pyomo constraints (each call)."""
        from mipnn_pyomo.matrix_form import standard_form_of

        return standard_form_of(self)

    def require_pyomo_rows(self, user: str) -> None:
        """Raise ModelConfigError when the rows are not Pyomo constraints (``user`` needs them)."""
        if self.matrix is not None:
            raise ModelConfigError(f"{user} needs the Pyomo constraints, but this instance's rows come from numpy: "
                                   "build it with build_instance(..., rows='pyomo')")

    def __post_init__(self) -> None:
        if self.outputs is None:
            self.outputs = OutputContext.of(self.data, self.options)

    @property
    def spec(self) -> Objective:
        """The objective's record (sense, evaluation, bound, rows)."""
        return get_objective(self.objective)

    @property
    def sense(self) -> str:
        return self.spec.sense

    def network_from(self, value_of) -> IntegerNetwork:
        return F.network_from_values(self.model, self.data, value_of)

    def loaded_network(self) -> IntegerNetwork:
        """The network in the model's currently loaded variable values."""
        return self.network_from(lambda v: v.value if v.value is not None else 0.0)

    def evaluate(self, network: IntegerNetwork) -> float:
        """The objective value of ``network`` on the training data, by forward pass."""
        return self.spec.evaluate(network, self.data.X, self.outputs)

    def weight_variables(self) -> list:
        return F.weight_variables(self.model)

    def start_values(self, network: IntegerNetwork) -> ComponentMap:
        """A complete MIP start derived from ``network`` by forward pass: weights, biases, the
        activation's variables (u, c) and the objective's indicators."""
        m, d = self.model, self.data
        values = ComponentMap()
        for l, (w, b) in enumerate(zip(network.weights, network.biases), start=1):
            for (i, j), val in np.ndenumerate(w):
                values[m.w[l, i, j]] = float(val)
            for j, val in enumerate(b):
                values[m.b[l, j]] = float(val)
        for idx in m.FIXED_ZERO_WEIGHTS:  # inputs zero in every sample: their weights change nothing here
            values[m.w[idx]] = 0.0
        acts, _ = network.forward(d.X)
        for var, val in get_activation(self.options.activation).start_values(m, network, acts):
            values[var] = val
        for var, val in self.spec.start_values(m, network, d.X, self.outputs):
            values[var] = val
        for hold in self.holds:
            held = (blocks.accuracy_start(m, network, d.X, d.y) if hold.name == ACCURACY
                    else get_objective(hold.name).start_values(m, network, d.X, self.outputs))
            for var, val in held:
                values[var] = val
        return values

    def holds_met(self, network: IntegerNetwork) -> bool:
        return all(hold.met_by(self, network) for hold in self.holds)

    @property
    def holds_on_scores(self) -> bool:
        """Every hold is a function of the output scores (the local search can keep them)."""
        return all(h.name == ACCURACY or get_objective(h.name).score_based for h in self.holds)

    @cached_property
    def tie_delta(self) -> np.ndarray:
        d = self.data
        return blocks.tie_preference(d.y, d.X, d.n_classes, d.decimals)

    def scores_keep_holds(self, S: np.ndarray) -> np.ndarray:
        """For stacks of output scores S (..., N, n_out): where every (score-based) hold is kept."""
        ok = np.ones(np.shape(S)[:-2], dtype=bool)
        for hold in self.holds:
            if hold.name == ACCURACY:
                ok &= blocks.correct_counts(S, self.data.y, self.tie_delta) >= hold.value
                continue
            spec = get_objective(hold.name)
            value = np.asarray(spec.value(S, self.outputs), dtype=float)
            tol = 1e-6 * max(1.0, abs(hold.value))
            ok &= spec.feasible(S, self.outputs) & (value >= hold.value - tol if spec.maximises
                                                    else value <= hold.value + tol)
        return ok


def hold_component_name(name: str) -> str:
    """The Pyomo component of the row that holds objective ``name`` (lexicographic.py switches it off)."""
    return "hold_" + name.replace("-", "_")


def _add_held_objective(abstract, name: str, value: float) -> None:
    """Objective ``name``'s rows, its Objective turned into the row "expression >= value"
    (maximised) or "<= value" (minimised)."""
    spec = get_objective(name)
    spec.add_rows(abstract)
    rule = abstract.objective.rule
    abstract.del_component("objective")
    if spec.maximises:
        row = lambda m: rule(m, None) >= value - 1e-9 * max(1.0, abs(value))  # noqa: E731
    else:
        row = lambda m: rule(m, None) <= value + 1e-9 * max(1.0, abs(value))  # noqa: E731
    abstract.add_component(hold_component_name(name), pyo.Constraint(rule=row))


def _check_holds(objective: str, holds) -> tuple:
    holds = tuple(holds)
    names = [h.name for h in holds]
    if len(set(names)) != len(names) or objective in names:
        raise ModelConfigError(f"each held value must be of a different objective than {objective!r}: {names}")
    for h in holds:
        if h.name != ACCURACY:
            get_objective(h.name)
    return holds


def build_instance(
    data: F.ProblemData,
    objective: str,
    options: F.FormulationOptions | None = None,
    holds=(),
    rows: str = "pyomo",
) -> TrainingInstance:
    """Abstract model + held values (:class:`Hold`) + objective, instantiated from ``data``
    (garbage collector paused), with the encoding's transformations applied. ``rows``: "pyomo"
    (Constraint components), "numpy" (the model keeps variables and objective only, its rows are
    generated by matrix_form.py into ``instance.matrix``) or "auto" (numpy where supported)."""
    from mipnn_pyomo import matrix_form

    options = options or F.FormulationOptions()
    spec = get_objective(objective)  # validates the name first
    holds = _check_holds(objective, holds)
    numpy_rows = matrix_form.use_numpy_rows(rows, data, objective, options, holds)
    outputs = OutputContext.of(data, options)
    held = [h for h in holds if h.name != ACCURACY]
    one_sided = spec.monotone_in_margin and all(get_objective(h.name).monotone_in_margin for h in held)
    t0 = time.perf_counter()
    with paused_gc():
        abstract = F.build_abstract_model(options)
        declare_output_params(abstract)
        for hold in held:
            _add_held_objective(abstract, hold.name, hold.value)
        spec.add_rows(abstract)
        if numpy_rows:
            numpy_rows = matrix_form.strip_rows(abstract, required=rows == "numpy")
        payload = F.instance_data(data, options, one_sided=one_sided)
        for name in [h.name for h in held] + [objective]:
            payload[None].update(output_data(outputs, name))
        if any(h.name == ACCURACY for h in holds):
            blocks.add_accuracy_floor(abstract)
            floor = next(h.value for h in holds if h.name == ACCURACY)
            payload[None].update(blocks.accuracy_floor_data(data.X, data.y, data.n_classes, data.decimals,
                                                            int(np.ceil(floor - 1e-9))))
        model = abstract.create_instance(payload)
        F.apply_transformations(model, options)
        matrix = matrix_form.matrix_rows(model, data, objective, options, payload) if numpy_rows else None
    build_s = time.perf_counter() - t0
    n_vars = sum(len(v) for v in model.component_objects(pyo.Var, active=True, descend_into=True))
    n_cons = (matrix.n_rows if matrix is not None else
              sum(len(c) for c in model.component_objects(pyo.Constraint, active=True, descend_into=True)))
    return TrainingInstance(model, data, objective, options, build_s, {"variables": n_vars, "constraints": n_cons},
                            outputs, holds, matrix)
