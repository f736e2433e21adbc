"""Hidden-layer activations, one module each (:mod:`.sign` is the only one so far). An
:class:`~mipnn_pyomo.activations.base.Activation` owns its forward function, MIP rows, constants
and start values; the formulation, the forward pass, the local search and GD ask it."""

from mipnn_pyomo.activations.base import Activation, Encoding
from mipnn_pyomo.activations.sign import SIGN
from mipnn_pyomo.errors import ModelConfigError

ACTIVATIONS: dict[str, Activation] = {SIGN.name: SIGN}


def get_activation(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ModelConfigError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


__all__ = ["ACTIVATIONS", "Activation", "Encoding", "SIGN", "get_activation"]
