"""One training instance: the abstract model, its data, and the concrete Pyomo model built from them."""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from mipnn_pyomo import formulation as F
from mipnn_pyomo.activations import get_activation
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import Objective, OutputContext, add_objective, get_objective, output_data


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
        return values


@contextmanager
def paused_gc():
    """Pyomo builds tens of thousands of small objects at once; Python's cyclic garbage collector
    would rescan them again and again (seen as 1-4 s spikes at N = 280). Nothing here forms
    garbage cycles worth collecting mid-build."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_instance(
    data: F.ProblemData,
    objective: str,
    options: F.FormulationOptions | None = None,
) -> TrainingInstance:
    """Abstract model + objective, instantiated from ``data`` (garbage collector paused), with the
    encoding's transformations applied."""
    options = options or F.FormulationOptions()
    spec = get_objective(objective)  # validates the name first
    outputs = OutputContext.of(data, options)
    t0 = time.perf_counter()
    with paused_gc():
        abstract = F.build_abstract_model(options)
        add_objective(abstract, objective)
        payload = F.instance_data(data, options, one_sided=spec.monotone_in_margin)
        payload[None].update(output_data(outputs, objective))
        model = abstract.create_instance(payload)
        F.apply_transformations(model, options)
    build_s = time.perf_counter() - t0
    n_vars = sum(len(v) for v in model.component_objects(pyo.Var, active=True, descend_into=True))
    n_cons = sum(len(c) for c in model.component_objects(pyo.Constraint, active=True, descend_into=True))
    return TrainingInstance(model, data, objective, options, build_s, {"variables": n_vars, "constraints": n_cons},
                            outputs)
