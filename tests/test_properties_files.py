"""Property tests (hypothesis): malformed model files and CSVs give one clear error, never a traceback.

Random mutations of a valid model file (a value replaced by junk: wrong types, huge or non-finite
numbers, strings, lists, objects; a key deleted; an entry appended or removed; a value wrapped in a
list) are fed to ``mipnn predict`` and ``mipnn evaluate``; random CSVs (duplicate or missing headers,
ragged rows, NaN and empty cells, text in numeric columns, quotes, one class, no rows) to
``load_csv``, ``mipnn predict`` and ``mipnn evaluate``. Every command runs in-process through
``mipnn_pyomo.cli.main([...])``, which must return 0 or 2 and never raise:

* exit 2: stderr holds exactly one ``error: ...`` line (a DataWarning line may precede it) and no
  traceback;
* exit 0: the result is correct: ``predict`` prints one known class per data row, equal to the
  (re)loaded network's forward pass; ``evaluate`` prints accuracies in [0, 1] equal to the forward
  pass on the rows the file lists.

Default run: DEFAULT_EXAMPLES examples per test (derandomized, well under a minute); the ``slow``
variants run SLOW_EXAMPLES random ones each (``pytest -m slow tests/test_properties_files.py``).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mipnn_pyomo.cli import main
from mipnn_pyomo.data import load_csv
from mipnn_pyomo.errors import MipnnError
from mipnn_pyomo.network import IntegerNetwork

SCALE = float(os.environ.get("MIPNN_PROPERTY_SCALE", "1"))
DEFAULT_EXAMPLES = max(1, int(120 * SCALE))
SLOW_EXAMPLES = max(1, int(1000 * SCALE))
FAST = settings(max_examples=DEFAULT_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=SLOW_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

GOOD_CSV = "a,b,c,label\n" + "".join(
    f"{a},{b},{c},{lab}\n"
    for a, b, c, lab in [(0.1, 1, "x", "yes"), (0.5, 2, "y", "no"), (0.9, 3, "x", "yes"), (0.2, 4, "y", "no"),
                         (0.3, 5, "x", "yes"), (0.7, 6, "y", "no"), (0.4, 7, "x", "yes"), (0.8, 8, "y", "no"),
                         (0.6, 9, "x", "yes"), (0.35, 10, "y", "no")]
)


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "good.csv").write_text(GOOD_CSV)
        yield root


def valid_model(data_csv: Path, hashed: bool = True) -> dict:
    """A model dict for ``data_csv``: random P = 1 weights, the data set's preprocessing and
    training metadata (as train_on_dataset writes them)."""
    dataset = load_csv(data_csv, "label")
    rng = np.random.default_rng(0)
    net = IntegerNetwork([rng.integers(-1, 2, (dataset.n_features, 3)), rng.integers(-1, 2, (3, 2))],
                         [rng.integers(-1, 2, 3), rng.integers(-1, 2, 2)], 1, classes=list(dataset.classes),
                         preprocessing=dataset.preprocessor.to_dict(),
                         training={**dataset.source, "train_indices": [int(r) for r in dataset.pool_rows[:4]]})
    d = json.loads(net.to_json())
    if not hashed:
        d["training"].pop("csv_sha256", None)
    return d


def run_cli(*argv) -> tuple[int, str, str]:
    """``main(argv)`` in-process with its stdout and stderr captured; it must not raise."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), np.errstate(all="ignore"):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def assert_clear_error(rc: int, err: str) -> None:
    assert rc == 2, (rc, err)
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    others = [line for line in err.splitlines() if line.strip() and not line.startswith("error: ")
              and "Warning" not in line and not line.startswith("  ")]
    assert len(errors) == 1 and not others, err


# --------------------------------------------------------------------------------- strategies

JUNK = st.one_of(
    st.integers(min_value=-3, max_value=3), st.none(), st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([0, 1, -1, 2, 2**31, 2**63, -(2**63) - 1, 10**5000 // 10**4990]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e30, -1e30, 0.5, 1.0]),
    st.text(max_size=6), st.sampled_from(["", "1", "true", "../x.csv", "\x00"]),
    st.lists(st.integers(min_value=-2, max_value=2), max_size=3),
    st.lists(st.lists(st.integers(min_value=-2, max_value=2), max_size=2), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(min_value=-2, max_value=2), max_size=2),
)

# values one edit away from valid ones: booleans and integral floats for integers, a number as a
# string, one step outside [-P, P], an int64 overflow
NEAR_MISS = st.sampled_from([True, False, 1.0, -1.0, 0.0, "1", "0", 2, -2, 1e30, -1e30, 10**30, float("nan")])


def node_paths(node, prefix=()):
    """Paths to every value of a JSON tree (lists: the first two entries and the last)."""
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = [(k, node[k]) for k in sorted({0, 1, len(node) - 1}) if 0 <= k < len(node)]
    else:
        return
    for k, v in items:
        yield prefix + (k,)
        yield from node_paths(v, prefix + (k,))


CORE_FIELDS = ("format", "version", "P", "layers", "classes", "tie_seed")


@st.composite
def mutated_models(draw, base: dict):
    d = copy.deepcopy(base)
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        paths = list(node_paths(d))
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "append", "wrap", "whole file"]))
        if not paths or kind == "whole file":
            return draw(JUNK)
        # mostly the network itself, deepest values first (hypothesis favours the first entries)
        core = sorted((p for p in paths if p[0] in CORE_FIELDS), key=len, reverse=True)
        path = draw(st.sampled_from(core if core and draw(st.sampled_from([True, True, True, False])) else paths))
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if kind == "replace":
            parent[key] = draw(st.one_of(st.integers(min_value=-1, max_value=1), NEAR_MISS, JUNK))
        elif kind == "delete":
            del parent[key]
        elif kind == "append" and isinstance(parent[key], list):
            parent[key].append(draw(JUNK))
        else:
            parent[key] = [parent[key]]
    return d


CELL = st.one_of(
    st.sampled_from(["0.1", "1", "-3", "2.5e3", "x", "y", "NaN", "", "inf", "NA", "?", '"q,uoted"', '"a""b"',
                     "1,2", "true", " 7 ", "\t"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="ab,\"\n 1.", max_size=4),
)
HEADER = st.lists(st.sampled_from(["a", "b", "c", "label", "a ", " b", "", "d", "label"]), min_size=0, max_size=5)


@st.composite
def malformed_csvs(draw) -> str:
    """Mostly-CSV text: a header (maybe with duplicates, maybe without 'label') and ragged rows."""
    header = draw(HEADER)
    n_rows = draw(st.integers(min_value=0, max_value=8))
    width = len(header)
    rows = []
    for _ in range(n_rows):
        n = width if draw(st.integers(0, 4)) else draw(st.integers(0, width + 2))
        rows.append(",".join(draw(CELL) for _ in range(n)))
    if draw(st.integers(0, 2)) and n_rows:  # mostly a well-formed file with a bad detail or two
        good = GOOD_CSV.splitlines()
        rows = good[1: 1 + n_rows]
        header = good[0].split(",")
        if draw(st.booleans()):
            k = draw(st.integers(0, len(rows) - 1))
            cells = rows[k].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(CELL)
            rows[k] = ",".join(cells)
        if draw(st.integers(0, 3)) == 0:
            rows = [r.replace("yes", "no") for r in rows]  # one class
        if draw(st.booleans()):  # a duplicate column name
            i, k = draw(st.integers(0, 3)), draw(st.integers(1, 3))
            header[(i + k) % 4] = header[i]
    return "\n".join([",".join(header)] + rows) + ("\n" if draw(st.booleans()) else "")


# --------------------------------------------------------------------------------- checks


def count(label: str) -> None:
    """A hypothesis event (shown by --hypothesis-show-statistics), outside @given a no-op."""
    try:
        event(label)
    except InvalidArgument:
        pass


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def strictly_valid_network(d) -> bool:
    """The documented model-file format, checked independently of the library: integer P >= 1,
    layers of integer weights and biases in [-P, P] (no floats, booleans or strings) with
    consistent shapes, distinct scalar classes (one per output, or none), integer tie_seed >= 0."""
    if not isinstance(d, dict) or d.get("format") != "mipnn-integer-network" or not is_int(d.get("version")):
        return False
    P, layers = d.get("P"), d.get("layers")
    if d["version"] != 1 or not is_int(P) or P < 1 or not isinstance(layers, list) or not layers:
        return False
    n_prev = None
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("weights"), list) or not layer["weights"]:
            return False
        b, rows = layer.get("biases"), layer["weights"]
        if not isinstance(b, list) or not b or any(not isinstance(r, list) or len(r) != len(b) for r in rows):
            return False
        if any(not is_int(v) or abs(v) > P for v in b + [v for r in rows for v in r]):
            return False
        if n_prev is not None and len(rows) != n_prev:
            return False
        n_prev = len(b)
    classes = d.get("classes")
    if classes not in (None, []) and (not isinstance(classes, list) or len(classes) != n_prev
                                      or any(not isinstance(c, (str, int, float)) for c in classes)
                                      or len({(isinstance(c, str), c) for c in classes}) != len(classes)):
        return False
    tie_seed = d.get("tie_seed", 0)
    return is_int(tie_seed) and tie_seed >= 0 and isinstance(d.get("training") or {}, dict)


def header_names(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return next((row for row in csv.reader(f, skipinitialspace=True) if row), [])


def distinct_header(path: Path) -> bool:
    names = [n.strip() for n in header_names(path) if n.strip()]
    return len(names) == len(set(names))


def check_predict(model: Path, data: Path) -> None:
    rc, out, err = run_cli("predict", "--model", model, "--csv", data)
    count(f"predict exit {rc}")
    if rc != 0:
        assert_clear_error(rc, err)
        return
    assert strictly_valid_network(json.loads(model.read_text())), "a malformed model file was accepted"
    assert distinct_header(data), "a CSV with duplicate column names was accepted"
    net = IntegerNetwork.load(model)
    assert all(np.abs(w).max() <= net.P for w in net.weights) and all(np.abs(b).max() <= net.P for b in net.biases)
    from mipnn_pyomo.evaluate import preprocessor_of
    from mipnn_pyomo.data import read_table_for_predict

    prep = preprocessor_of(net)
    expected = [str(c) for c in net.predict(prep.transform(read_table_for_predict(data, prep)))]
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["row", "prediction"] and [r[0] for r in rows[1:]] == [str(i) for i in range(len(expected))]
    assert [r[1] for r in rows[1:]] == expected and set(expected) <= {str(c) for c in net.classes}


def check_evaluate(model: Path) -> None:
    rc, out, err = run_cli("evaluate", "--model", model, "--json")
    count(f"evaluate exit {rc}")
    if rc != 0:
        assert_clear_error(rc, err)
        return
    assert strictly_valid_network(json.loads(model.read_text())), "a malformed model file was accepted"
    report = json.loads(out)
    assert 0.0 <= report["test_accuracy"] <= 1.0 and report["n_test"] >= 1
    if "train_accuracy" in report:
        assert 0.0 <= report["train_accuracy"] <= 1.0
    net = IntegerNetwork.load(model)
    dataset = load_csv(net.training["csv"], net.training["target"])
    assert report["test_accuracy"] == net.accuracy(dataset.X_test, dataset.y_test)


def check_model_file(workdir: Path, d) -> None:
    path = workdir / "mutated.json"
    path.write_text(json.dumps(d))
    check_predict(path, workdir / "good.csv")
    check_evaluate(path)


def check_csv(workdir: Path, text: str) -> None:
    data = workdir / "malformed.csv"
    data.write_text(text)
    try:
        dataset = load_csv(data, "label")
    except MipnnError as exc:
        assert "\n" not in str(exc)
    else:  # a usable data set: distinct columns, in [0, 1], at least two classes, valid labels
        assert distinct_header(data), "a CSV with duplicate column names was accepted"
        assert dataset.n_classes >= 2 and np.all((dataset.X_pool >= 0) & (dataset.X_pool <= 1))
        assert set(np.unique(dataset.y_pool)) <= set(range(dataset.n_classes))
    check_predict(workdir / "model.json", data)
    model = workdir / "on_malformed.json"  # a model that says it was trained on this file
    d = json.loads((workdir / "model.json").read_text())
    d["training"]["csv"] = str(data)
    model.write_text(json.dumps(d))
    check_evaluate(model)


@pytest.fixture(scope="module")
def base_model(workdir) -> dict:
    d = valid_model(workdir / "good.csv", hashed=False)
    (workdir / "model.json").write_text(json.dumps(d))
    return d


# --------------------------------------------------------------------------------- tests


def test_the_valid_model_predicts_and_evaluates(workdir, base_model):
    rc, out, err = run_cli("predict", "--model", workdir / "model.json", "--csv", workdir / "good.csv")
    assert rc == 0 and len(out.splitlines()) == 11, err
    check_predict(workdir / "model.json", workdir / "good.csv")
    check_evaluate(workdir / "model.json")


@FAST
@given(data=st.data())
def test_mutated_model_files_give_a_clear_error_or_a_correct_result(workdir, base_model, data):
    check_model_file(workdir, data.draw(mutated_models(base_model)))


@FAST
@given(text=malformed_csvs())
def test_malformed_csvs_give_a_clear_error_or_a_correct_result(workdir, base_model, text):
    check_csv(workdir, text)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_mutated_model_files_many(workdir, base_model, data):
    check_model_file(workdir, data.draw(mutated_models(base_model)))


@pytest.mark.slow
@SLOW
@given(text=malformed_csvs())
def test_malformed_csvs_many(workdir, base_model, text):
    check_csv(workdir, text)
