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
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import add_objective, get_objective, output_data


@dataclass
class TrainingInstance:
    """A concrete Pyomo model of one (data, architecture, objective) with what is needed to read it back."""

    model: pyo.ConcreteModel
    data: F.ProblemData
    objective: str
    options: F.FormulationOptions
    build_s: float
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def sense(self) -> str:
        return get_objective(self.objective).sense

    def network_from(self, value_of) -> IntegerNetwork:
        return F.network_from_values(self.model, self.data, value_of)

    def loaded_network(self) -> IntegerNetwork:
        """The network in the model's currently loaded variable values."""
        return self.network_from(lambda v: v.value if v.value is not None else 0.0)

    def evaluate(self, network: IntegerNetwork) -> float:
        """The objective value of ``network`` on the training data, by forward pass."""
        return get_objective(self.objective).evaluate(network, self.data.X, self.data.y, self.data, self.options)

    def weight_variables(self) -> list:
        return F.weight_variables(self.model)

    def start_values(self, network: IntegerNetwork) -> ComponentMap:
        """A complete MIP start derived from ``network`` by forward pass: weights, biases,
        activations u, products c and the objective's indicators."""
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
        for l, h in enumerate(acts, start=1):
            for (k, j), val in np.ndenumerate(h):
                values[m.u[l, j, k]] = float(val > 0)
        for (l, i, j, k) in m.PRODUCT_INDEX:
            values[m.c[l, i, j, k]] = float(acts[l - 2][k, i] * network.weights[l - 1][i, j])
        for var, val in get_objective(self.objective).start_values(m, network, d.X, d.y):
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
    """Abstract model + objective, instantiated from ``data``, with the encoding's transformations applied."""
    options = options or F.FormulationOptions()
    get_objective(objective)  # validates the name first
    t0 = time.perf_counter()
    abstract = F.build_abstract_model(options)
    add_objective(abstract, objective)
    payload = F.instance_data(data, options, one_sided=get_objective(objective).monotone_in_margin)
    payload[None].update(output_data(data, options, objective))
    model = abstract.create_instance(payload)
    F.apply_transformations(model, options)
    build_s = time.perf_counter() - t0
    n_vars = sum(len(v) for v in model.component_objects(pyo.Var, active=True, descend_into=True))
    n_cons = sum(len(c) for c in model.component_objects(pyo.Constraint, active=True, descend_into=True))
    return TrainingInstance(model, data, objective, options, build_s, {"variables": n_vars, "constraints": n_cons})
