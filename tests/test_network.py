import json

import numpy as np
import pytest

from mipnn_pyomo.errors import ModelFileError
from mipnn_pyomo.network import IntegerNetwork, sign, tie_break_argmax


def small_net(P=1, seed=0, sizes=(3, 4, 2)):
    rng = np.random.default_rng(seed)
    weights = [rng.integers(-P, P + 1, size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.integers(-P, P + 1, size=b) for b in sizes[1:]]
    return IntegerNetwork(weights, biases, P, classes=["a", "b"][: sizes[-1]] if sizes[-1] == 2 else [])


def test_sign_of_zero_is_plus_one():
    assert sign(np.array([-1e-4, 0.0, 2.0])).tolist() == [-1, 1, 1]


def test_forward_by_hand():
    net = IntegerNetwork([np.array([[1, -1], [1, 1]]), np.array([[1, -1], [-1, 1]])],
                         [np.array([-1, 0]), np.array([0, 1])], P=1)
    X = np.array([[0.5, 0.5], [0.2, 0.3], [0.0, 0.0]])
    acts, s = net.forward(X)
    # row 0: a = (0, 0) -> h = (1, 1); s = (1-1+0, -1+1+1) = (0, 1)
    assert acts[0][0].tolist() == [1, 1]
    assert s[0].tolist() == [0, 1]
    # row 1: a = (-0.5, 0.1) -> h = (-1, 1); s = (-1-1, 1+1+1) = (-2, 3)
    assert acts[0][1].tolist() == [-1, 1]
    assert s[1].tolist() == [-2, 3]
    # row 2: a = (-1, 0) -> h = (-1, 1)
    assert acts[0][2].tolist() == [-1, 1]
    assert net.predict_index(X).tolist() == [1, 1, 1]


def test_first_layer_exact_zero_is_positive_despite_float_noise():
    # 0.1 + 0.2 - 0.3 is not exactly 0 in floating point; on the grid it is, and sign(0) = +1.
    net = IntegerNetwork([np.array([[1], [1], [-1]]), np.array([[1, -1]])], [np.array([0]), np.array([0, 0])], P=1)
    acts, _ = net.forward(np.array([[0.1, 0.2, 0.3]]))
    assert acts[0][0, 0] == 1


def test_tie_break_is_seeded_and_uniform_among_maxima():
    scores = np.zeros((2000, 2), dtype=int)
    a = tie_break_argmax(scores, seed=1)
    b = tie_break_argmax(scores, seed=1)
    c = tie_break_argmax(scores, seed=2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0.4 < a.mean() < 0.6
    # a strict maximum is never overridden
    assert tie_break_argmax(np.array([[0, 1], [5, -5]]), seed=3).tolist() == [1, 0]


def test_json_round_trip(tmp_path):
    net = small_net(P=3, seed=4)
    net.training = {"dataset": "adult", "train_indices": [1, 5], "seed": np.int64(3)}
    path = tmp_path / "m.json"
    net.save(path)
    d = json.loads(path.read_text())
    assert d["format"] == "mipnn-integer-network" and d["version"] == 1 and d["P"] == 3
    back = IntegerNetwork.load(path)
    X = np.round(np.random.default_rng(0).random((50, 3)), 4)
    assert np.array_equal(back.output_scores(X), net.output_scores(X))
    assert list(back.predict(X)) == list(net.predict(X))


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a mipnn-integer-network"),
        ('{"format": "mipnn-integer-network", "version": 2}', "version 2 is not supported"),
        ('{"format": "mipnn-integer-network", "version": 1, "P": 1}', "missing or has a malformed field"),
        ('{"format": "mipnn-integer-network", "version": 1, "P": 1, "layers": [{"weights": [[0.5]], "biases": [0]}]}',
         "not an integer"),
        ('{"format": "mipnn-integer-network", "version": 1, "P": 1, "layers": [{"weights": [[3]], "biases": [0]}]}',
         "outside [-P, P]"),
    ],
)
def test_bad_model_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        IntegerNetwork.load(path)


def test_truncated_model_file(tmp_path):
    net = small_net()
    path = tmp_path / "t.json"
    path.write_text(net.to_json()[:40])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        IntegerNetwork.load(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        IntegerNetwork.load(tmp_path / "nope.json")


def test_predictions_do_not_depend_on_row_order():
    """Ties are broken per sample (seeded by the sample's values), so shuffling a batch shuffles
    the predictions with it (scikit-learn's sample-order invariance)."""
    net = IntegerNetwork([np.zeros((3, 2), dtype=int), np.zeros((2, 3), dtype=int)],
                         [np.zeros(2, dtype=int), np.zeros(3, dtype=int)], P=1)  # every output ties
    X = np.round(np.random.default_rng(0).random((300, 3)), 4)
    pred = net.predict_index(X)
    perm = np.random.default_rng(1).permutation(len(X))
    assert np.array_equal(net.predict_index(X[perm]), pred[perm])
    assert len(set(pred.tolist())) == 3  # still a random choice among the tied outputs
