"""The pruning heuristic of the sparsity stages (recipes): greedy zeroing by forward pass.

:func:`prune_weights` tries each non-zero weight and bias once (in a seeded random order, output
layer first) and keeps it at zero when ``keeps(network)`` still holds (in the recipes: every hold of
the stage, e.g. training accuracy >= target, by forward pass). :func:`prune_neurons` does the same
for whole hidden neurons (in-weights, bias and out-weights at once). Both are cheap (one forward
pass per try) and only ever return a network that ``keeps`` accepts (the start, if none other).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from mipnn_pyomo.network import IntegerNetwork, parameter_bounds


def _copy(network: IntegerNetwork, weights, biases) -> IntegerNetwork:
    return IntegerNetwork([w.copy() for w in weights], [b.copy() for b in biases], network.P,
                          preprocessing=network.preprocessing, tie_seed=network.tie_seed, P_first=network.P_first)


def _deadline(time_limit: float | None) -> Callable[[], bool]:
    end = None if time_limit is None else time.perf_counter() + time_limit
    return lambda: end is not None and time.perf_counter() > end


def prune_weights(network: IntegerNetwork, keeps: Callable[[IntegerNetwork], bool], *, seed: int = 0,
                  time_limit: float | None = None) -> tuple[IntegerNetwork, int]:
    """(pruned network, parameters zeroed): each non-zero parameter set to 0 if ``keeps`` still holds."""
    weights = [w.copy() for w in network.weights]
    biases = [b.copy() for b in network.biases]
    rng = np.random.default_rng(seed)
    candidates = []
    for l in reversed(range(len(weights))):
        layer = [("w", l, idx) for idx in zip(*np.nonzero(weights[l]))] + [("b", l, (j,)) for j in np.flatnonzero(biases[l])]
        candidates += [layer[i] for i in rng.permutation(len(layer))]
    over, removed = _deadline(time_limit), 0
    for kind, l, idx in candidates:
        if over():
            break
        array = weights[l] if kind == "w" else biases[l]
        old = array[idx]
        array[idx] = 0
        if keeps(_copy(network, weights, biases)):
            removed += 1
        else:
            array[idx] = old
    return _copy(network, weights, biases), removed


def prune_neurons(network: IntegerNetwork, keeps: Callable[[IntegerNetwork], bool], *, seed: int = 0,
                  time_limit: float | None = None) -> tuple[IntegerNetwork, int]:
    """(pruned network, neurons removed): each hidden neuron's in-weights, bias and out-weights set
    to 0 together if ``keeps`` still holds."""
    weights = [w.copy() for w in network.weights]
    biases = [b.copy() for b in network.biases]
    rng = np.random.default_rng(seed)
    neurons = [(l, j) for l in range(len(weights) - 1) for j in range(weights[l].shape[1])]
    over, removed = _deadline(time_limit), 0
    for pos in rng.permutation(len(neurons)):
        if over():
            break
        l, j = neurons[pos]
        saved = (weights[l][:, j].copy(), biases[l][j], weights[l + 1][j, :].copy())
        if not (saved[0].any() or saved[1] or saved[2].any()):
            continue
        weights[l][:, j], biases[l][j], weights[l + 1][j, :] = 0, 0, 0
        if keeps(_copy(network, weights, biases)):
            removed += 1
        else:
            weights[l][:, j], biases[l][j], weights[l + 1][j, :] = saved
    return _copy(network, weights, biases), removed


def coordinate_search(network: IntegerNetwork, value: Callable[[IntegerNetwork], float],
                      better: Callable[[float, float], bool], keeps: Callable[[IntegerNetwork], bool], *,
                      seed: int = 0, time_limit: float | None = None, sweeps: int = 3) -> tuple[IntegerNetwork, int]:
    """(network, changes): first-improvement search over single parameters for any objective of
    the network (e.g. neuron-margin): each parameter, in a seeded order, is tried at every other
    value of its layer's [-P_l, P_l] and kept there when ``better(value(new), value(old))`` and ``keeps(new)``;
    up to ``sweeps`` passes while one improves."""
    sizes = [network.n_inputs, *network.hidden, network.n_outputs]
    vector = network.to_vector().copy()
    rebuild = lambda v: IntegerNetwork.from_vector(v, sizes, network.P, network.P_first,  # noqa: E731
                                                   preprocessing=network.preprocessing, tie_seed=network.tie_seed)
    bounds = parameter_bounds(sizes, network.P, network.P_first)
    rng = np.random.default_rng(seed)
    over, changes, best = _deadline(time_limit), 0, value(network)
    for _ in range(sweeps):
        improved = False
        for pos in rng.permutation(len(vector)):
            if over():
                return rebuild(vector), changes
            kept = vector[pos]
            for candidate in range(-int(bounds[pos]), int(bounds[pos]) + 1):
                if candidate == kept:
                    continue
                vector[pos] = candidate
                trial = rebuild(vector)
                trial_value = value(trial)
                if better(trial_value, best) and keeps(trial):
                    best, kept, improved, changes = trial_value, candidate, True, changes + 1
            vector[pos] = kept
        if not improved:
            break
    return rebuild(vector), changes
