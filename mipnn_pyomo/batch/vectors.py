"""Networks as flat integer vectors in the canonical order of :meth:`IntegerNetwork.to_vector`
(weights of layer 1..L in (i, j) row-major, then biases of layer 1..L; the order of
``formulation.weight_variables``), and positions of parameter groups in it."""

from __future__ import annotations

import numpy as np

from mipnn_pyomo.network import IntegerNetwork


def layer_sizes(n_inputs: int, hidden: tuple[int, ...], n_classes: int) -> list[int]:
    return [int(n_inputs), *map(int, hidden), int(n_classes)]


def to_vector(network: IntegerNetwork) -> np.ndarray:
    """:meth:`IntegerNetwork.to_vector` as int64."""
    return network.to_vector().astype(np.int64)


def from_vector(vector, sizes: list[int], P: int, decimals: int = 4) -> IntegerNetwork:
    """:meth:`IntegerNetwork.from_vector` (rounded, clipped to [-P, P]) with the batch run's input grid."""
    return IntegerNetwork.from_vector(vector, sizes, P, preprocessing={"decimals": decimals})


def n_parameters(sizes: list[int]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + sum(sizes[1:])


def first_layer_weight_positions(sizes: list[int], features: np.ndarray) -> np.ndarray:
    """Vector positions of w[1, i, j] for the given input features i (all j)."""
    n_hidden = sizes[1]
    features = np.asarray(features, dtype=np.int64)
    return (features[:, None] * n_hidden + np.arange(n_hidden)[None, :]).ravel()


def neuron_block_positions(sizes: list[int], neurons) -> np.ndarray:
    """Positions of everything attached to hidden neurons ``neurons`` of a one-hidden-layer
    network: their input weights w[1, :, j], their biases b[1, j] and their output weights
    w[2, j, :]; plus the output biases (always free in a move)."""
    n_in, n_hidden, n_out = sizes
    neurons = np.asarray(sorted(int(j) for j in neurons), dtype=np.int64)
    w1 = (np.arange(n_in)[:, None] * n_hidden + neurons[None, :]).ravel()
    base2 = n_in * n_hidden
    w2 = (base2 + neurons[:, None] * n_out + np.arange(n_out)[None, :]).ravel()
    base_b = base2 + n_hidden * n_out
    b1 = base_b + neurons
    b2 = base_b + n_hidden + np.arange(n_out)
    return np.sort(np.concatenate([w1, w2, b1, b2]))
