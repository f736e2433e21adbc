"""The activation extension point: the sign activation owns its forward function, MIP rows,
encodings, constants and start values; the forward pass, the search and GD use it."""

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import random_instance

from mipnn_pyomo.activations import ACTIVATIONS, SIGN, get_activation
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import FormulationOptions, ProblemData, implied_activations_and_scores
from mipnn_pyomo.gd import gd_loss_and_grads, init_latent, one_hot_pm1
from mipnn_pyomo.instance import build_instance
from mipnn_pyomo.network import HIDDEN_ACTIVATION, IntegerNetwork


def test_sign_is_the_registered_hidden_activation():
    assert ACTIVATIONS == {"sign": SIGN} and HIDDEN_ACTIVATION is SIGN
    assert get_activation("sign") is SIGN
    assert SIGN.forward(np.array([-1e-4, 0.0, 3.0])).tolist() == [-1, 1, 1]
    assert sorted(SIGN.encodings) == ["bigm", "gdp"]
    with pytest.raises(ModelConfigError, match="unknown activation 'relu'"):
        get_activation("relu")
    with pytest.raises(ModelConfigError, match="unknown encoding 'sos'"):
        FormulationOptions(encoding="sos")
    with pytest.raises(ModelConfigError, match="unknown activation"):
        FormulationOptions(activation="step")


def test_sign_constants_are_the_tight_big_m():
    X = np.array([[0.5, -0.25, 0.0], [1.0, 1.0, 1.0]])
    data = ProblemData(X, np.array([0, 1]), 2, (2, 3), 2)
    d = SIGN.model_data(data, FormulationOptions(), one_sided=False)
    assert d["M_first"] == {0: 2 * (0.75 + 1), 1: 2 * 4.0}
    assert d["M_layer"] == {1: 2 * 4, 2: 2 * 3, 3: 2 * 4}
    assert d["eps_layer"] == {1: 1e-4, 2: 1.0, 3: 1.0}
    assert "product_side" not in d
    paper = SIGN.model_data(data, FormulationOptions(variant="paper"), one_sided=True)
    assert set(paper["M_first"].values()) == {1000.0} and set(paper["eps_layer"].values()) == {1e-4}
    assert "product_side" not in paper  # one-sided products are a 'tight' strengthening
    assert "product_side" in SIGN.model_data(data, FormulationOptions(), one_sided=True)


@pytest.mark.parametrize("encoding", ["bigm", "gdp"])
def test_activation_start_values_satisfy_its_rows(encoding):
    X, y = random_instance(5, n=8, d=3)
    data = ProblemData(X, y, 2, (3, 2), 2)
    rng = np.random.default_rng(1)
    sizes = data.layer_sizes
    net = IntegerNetwork([rng.integers(-2, 3, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])],
                         [rng.integers(-2, 3, b) for b in sizes[1:]], 2)
    inst = build_instance(data, "sat-margin", FormulationOptions(encoding=encoding))
    for var, val in inst.start_values(net).items():
        var.set_value(val)
    m = inst.model
    names = ("product_linearisation", "sign_active", "sign_inactive") if encoding == "bigm" else ("product_linearisation",)
    for name in names:
        for con in getattr(m, name).values():
            body = pyo.value(con.body)
            assert con.lower is None or body >= pyo.value(con.lower) - 1e-9, con.name
            assert con.upper is None or body <= pyo.value(con.upper) + 1e-9, con.name
    acts, scores = implied_activations_and_scores(m, data)
    fwd_acts, fwd_scores = net.forward(data.X)
    assert all(np.array_equal(a, b) for a, b in zip(acts, fwd_acts)) and np.array_equal(scores, fwd_scores)


def test_gd_forward_is_the_activation_forward(monkeypatch):
    """GD's STE forward pass calls the network's hidden activation (replaced here by a probe)."""
    import mipnn_pyomo.gd as gd

    calls = []
    probe = type(SIGN)(**{**SIGN.__dict__, "forward": lambda a: calls.append(a.shape) or SIGN.forward(a)})
    monkeypatch.setattr(gd, "HIDDEN_ACTIVATION", probe)
    X, y = random_instance(1, n=10, d=3)
    gd_loss_and_grads(init_latent([3, 4, 2], 1, 0), X, one_hot_pm1(y, 2), 1, [1.0], mode="ste")
    assert calls == [(10, 4)]


def test_a_registered_activation_is_what_the_formulation_builds(monkeypatch):
    """The worked example of docs/architecture.md's activation checklist: an activation registered
    under a new name (here the sign rule with only its big-M encoding) is what FormulationOptions
    selects and build_instance writes; the trained network passes the exactness check."""
    import dataclasses

    from mipnn_pyomo.training import train_network

    bigm_only = dataclasses.replace(SIGN, name="sign-bigm", encodings={"bigm": SIGN.encodings["bigm"]})
    monkeypatch.setitem(ACTIVATIONS, "sign-bigm", bigm_only)
    with pytest.raises(ModelConfigError, match="unknown encoding 'gdp' of the sign-bigm activation"):
        FormulationOptions(activation="sign-bigm", encoding="gdp")
    X, y = random_instance(5, n=14, d=3)
    r = train_network(X, y, hidden=(3,), P=1, objective="sat-margin", target_accuracy=None, time_limit=60,
                      formulation=FormulationOptions(activation="sign-bigm"))
    assert r.exactness.ok and r.instance.options.activation == "sign-bigm"
    assert r.instance.model.find_component("sign_active") is not None
