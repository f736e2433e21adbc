"""What an activation of the hidden layers provides (one module per activation, see
docs/formulation.md, "How to add an activation")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from mipnn_pyomo.errors import ModelConfigError


@dataclass(frozen=True)
class Encoding:
    """One way of writing the activation's rule as MIP rows: ``build(m)`` adds them to the abstract
    model; ``transform(instance)`` (optional) rewrites what ``build`` left symbolic (e.g. gdp)."""

    build: Callable[[Any], None]
    transform: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class Activation:
    """A hidden-layer activation h = act(a) with integer weights: its numpy forward function, its
    MIP variables, rows and constants, and the MIP start values a network implies.

    forward(a) -> h                       numpy, elementwise (network.forward, local search, GD)
    declare(m)                            its Params and Vars on the abstract model (before the
                                          pre-activations, which read the products c)
    add_rows(m, encoding)                 the product rows c = h w and the activation rule's rows
    model_data(data, options, one_sided)  its Pyomo data (big-M, eps, one-sided output products)
    start_values(m, network, acts)        (var, value) of its variables from a forward pass
    activations_from_solution(m, l, n_l, N)  the hidden outputs h (N, n_l) the loaded solution says
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    encodings: Mapping[str, Encoding]
    declare: Callable[[Any], None]
    add_rows: Callable[[Any, str], None]
    model_data: Callable[[Any, Any, bool], dict]
    start_values: Callable[[Any, Any, list], list]
    activations_from_solution: Callable[[Any, int, int, int], np.ndarray]

    def check_encoding(self, encoding: str) -> None:
        if encoding not in self.encodings:
            raise ModelConfigError(
                f"unknown encoding {encoding!r} of the {self.name} activation; choose one of {sorted(self.encodings)}")

    def transform(self, instance, encoding: str) -> None:
        """Rewrite what the encoding left symbolic into plain MIP rows."""
        transform = self.encodings[encoding].transform
        if transform is not None:
            transform(instance)
