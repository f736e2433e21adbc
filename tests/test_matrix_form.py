"""Numpy rows (matrix_form.py) = the rows Pyomo compiles from the full model, for every supported
configuration; training through them is exact and reaches the Pyomo path's optimum."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pyomo.environ as pyo
import pytest

from mipnn_pyomo import matrix_form
from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.formulation import FormulationOptions, ProblemData
from mipnn_pyomo.instance import Hold, build_instance
from mipnn_pyomo.solvers.standard_form import compile_standard_form

OBJECTIVES = ("max-correct", "min-hinge", "sat-margin")


def random_data(n_classes: int, hidden: tuple, P: int, seed: int = 0, n: int = 9, features: int = 5) -> ProblemData:
    """Inputs on the 10^-2 grid with one feature zero in every sample and one sample all zero."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.uniform(-1, 1, (n, features)), 2)
    X[:, 1] = 0.0
    X[3] = 0.0
    X[rng.random(X.shape) < 0.2] = 0.0
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    return ProblemData(X, y, n_classes, hidden, P, decimals=2)


def canonical_rows(sf) -> list[tuple]:
    """Each row as (column names, coefficients, lower, upper), columns sorted by name, the sign
    chosen so that the first coefficient is positive (a >= row is the same as a negated <= row);
    rows sorted by their values rounded to 9 digits."""
    A = sf.A.tocsr()
    names = [v.name for v in sf.columns]
    rows = []
    for r in range(sf.n_rows):
        lo, hi = A.indptr[r], A.indptr[r + 1]
        if lo == hi:
            continue  # an empty row
        pairs = sorted(zip((names[c] for c in A.indices[lo:hi]), A.data[lo:hi]))
        coefs = np.array([a for _, a in pairs])
        lower, upper = sf.row_lower[r], sf.row_upper[r]
        if coefs[0] < 0:
            coefs, lower, upper = -coefs, -upper, -lower
        rows.append((tuple(n for n, _ in pairs), coefs, float(lower), float(upper)))
    return sorted(rows, key=lambda row: (row[0], tuple(np.round(row[1], 9)), round(row[2], 9), round(row[3], 9)))


def assert_same_standard_form(numpy_sf, pyomo_sf) -> None:
    """Same columns (by name) with the same bounds, integrality and cost; same offset and sense;
    the same set of rows (:func:`canonical_rows`, values equal to 1e-12 relative)."""
    by_name = {v.name: j for j, v in enumerate(pyomo_sf.columns)}
    assert sorted(by_name) == sorted(v.name for v in numpy_sf.columns)
    order = np.array([by_name[v.name] for v in numpy_sf.columns])
    np.testing.assert_array_equal(numpy_sf.col_lower, pyomo_sf.col_lower[order])
    np.testing.assert_array_equal(numpy_sf.col_upper, pyomo_sf.col_upper[order])
    np.testing.assert_array_equal(numpy_sf.integer, pyomo_sf.integer[order])
    np.testing.assert_allclose(numpy_sf.cost, pyomo_sf.cost[order], rtol=1e-12, atol=0)
    assert numpy_sf.offset == pytest.approx(pyomo_sf.offset, abs=1e-12)
    assert numpy_sf.sense == pyomo_sf.sense
    ours, theirs = canonical_rows(numpy_sf), canonical_rows(pyomo_sf)
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs):
        assert mine[0] == ref[0], (mine, ref)
        np.testing.assert_allclose(mine[1], ref[1], rtol=1e-12, atol=0)
        np.testing.assert_allclose(mine[2:], ref[2:], rtol=1e-12, atol=0)


def both_forms(data: ProblemData, objective: str, options: FormulationOptions):
    numpy_instance = build_instance(data, objective, options, rows="numpy")
    pyomo_instance = build_instance(data, objective, options, rows="pyomo")
    assert numpy_instance.matrix is not None and pyomo_instance.matrix is None
    assert next(numpy_instance.model.component_data_objects(pyo.Constraint), None) is None
    assert all(v.model() is numpy_instance.model for v in numpy_instance.standard_form().columns)
    numpy_instance.pyomo_twin = pyomo_instance  # keeps the Pyomo model (its variables' names) alive
    return numpy_instance, numpy_instance.standard_form(), compile_standard_form(pyomo_instance.model)


CONFIGS = list(itertools.product(OBJECTIVES, [(3,), (3, 2)], [1, 3], [2, 3], [True, False]))


@pytest.mark.parametrize("objective,hidden,P,n_classes,fix_unused", CONFIGS)
def test_numpy_rows_equal_pyomo_rows(objective, hidden, P, n_classes, fix_unused):
    data = random_data(n_classes, hidden, P, seed=P + 7 * n_classes)
    options = FormulationOptions(fix_unused_inputs=fix_unused)
    instance, numpy_sf, pyomo_sf = both_forms(data, objective, options)
    assert_same_standard_form(numpy_sf, pyomo_sf)
    assert instance.sizes["constraints"] == numpy_sf.n_rows


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("options", [
    FormulationOptions(variant="paper"),
    FormulationOptions(symmetry_breaking=True),
    FormulationOptions(one_sided_output_products=False, margin=0.3),
    FormulationOptions(hinge_breakpoints=5, margin=1.0),
], ids=["paper", "symmetry", "two-sided", "margin-1"])
def test_numpy_rows_equal_pyomo_rows_for_each_option(objective, options):
    data = random_data(2, (4, 2), 2, seed=3, n=6)
    instance, numpy_sf, pyomo_sf = both_forms(data, objective, options)  # the instance keeps the models alive
    assert_same_standard_form(numpy_sf, pyomo_sf)


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("hidden", [(3,), (3, 2)])
def test_numpy_rows_equal_pyomo_rows_with_a_larger_first_layer_P(objective, hidden):
    base = random_data(2, hidden, 1, seed=5)
    data = ProblemData(base.X, base.y, 2, hidden, 1, decimals=2, P_first=4)
    instance, numpy_sf, pyomo_sf = both_forms(data, objective, FormulationOptions())
    assert_same_standard_form(numpy_sf, pyomo_sf)
    assert numpy_sf.col_upper[[v.name.startswith("w[1,") for v in numpy_sf.columns]].max() == 4


def test_unsupported_instances_fall_back_or_fail_clearly():
    data = random_data(2, (3,), 1)
    assert build_instance(data, "sat-margin", FormulationOptions(encoding="gdp"), rows="auto").matrix is None
    assert build_instance(data, "min-weight", holds=(Hold("accuracy", 1),), rows="auto").matrix is None
    assert build_instance(data, "sat-margin", rows="auto").matrix is not None
    with pytest.raises(ModelConfigError, match="numpy rows support"):
        build_instance(data, "sat-margin", FormulationOptions(encoding="gdp"), rows="numpy")
    with pytest.raises(ModelConfigError, match="rows must be one of"):
        build_instance(data, "sat-margin", rows="matrix")
    instance = build_instance(data, "sat-margin", rows="numpy")
    with pytest.raises(ModelConfigError, match="needs the Pyomo constraints"):
        instance.require_pyomo_rows("the CBC adapter")
    instance.model.extra = pyo.Constraint(expr=instance.model.b[1, 0] >= 0)
    with pytest.raises(ModelConfigError, match="would be ignored"):
        instance.standard_form()


def test_row_labels_name_the_block_and_index():
    instance = build_instance(random_data(2, (3,), 1), "sat-margin", rows="numpy")
    sf = instance.standard_form()
    labels = [sf.row_name(i) for i in range(sf.n_rows)]
    assert labels[0].startswith("sign_active[1][0,0]")
    assert any(label.startswith("margin_met[") for label in labels)
    assert len(set(labels)) == sf.n_rows


def test_fixed_variables_become_fixed_columns():
    instance = build_instance(random_data(2, (3,), 1), "sat-margin", rows="numpy")
    instance.model.w[1, 0, 0].fix(1)
    sf = instance.standard_form()
    j = sf.column_index()[id(instance.model.w[1, 0, 0])]
    assert sf.col_lower[j] == sf.col_upper[j] == 1.0
    instance.model.w[1, 0, 0].unfix()
    assert instance.standard_form().col_lower[j] == -1.0


def test_the_comparison_catches_a_changed_coefficient_bound_or_missing_row():
    data = random_data(3, (3, 2), 2, seed=1)
    instance, numpy_sf, pyomo_sf = both_forms(data, "min-hinge", FormulationOptions())
    assert_same_standard_form(numpy_sf, pyomo_sf)
    changed = numpy_sf.A.copy()
    changed.data[-1] *= 1 + 1e-9
    for mutant in (dict(A=changed), dict(row_upper=np.where(np.arange(numpy_sf.n_rows) == 0, 1e9, numpy_sf.row_upper)),
                   dict(A=numpy_sf.A[1:], row_lower=numpy_sf.row_lower[1:], row_upper=numpy_sf.row_upper[1:])):
        with pytest.raises(AssertionError):
            assert_same_standard_form(dataclasses.replace(numpy_sf, **mutant), pyomo_sf)


def solve_to_optimality(instance, solver: str = "highs"):
    from mipnn_pyomo.solvers import SolveOptions, get_solver
    from mipnn_pyomo.training import solve_checked

    adapter = get_solver(solver)
    ok, reason = adapter.availability()
    if not ok:
        pytest.skip(reason)
    options = SolveOptions(time_limit=30, threads=1, target_accuracy=None, heuristic=False)
    result, report = solve_checked(adapter, instance, options, None, strict=True)
    assert report.ok and result.termination.value == "optimal"
    return result


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_highs_on_numpy_rows_is_exact_and_reaches_the_pyomo_optimum(objective):
    data = random_data(2, (2,), 1, seed=5, n=8, features=3)
    numpy_result = solve_to_optimality(build_instance(data, objective, rows="numpy"))
    pyomo_result = solve_to_optimality(build_instance(data, objective, rows="pyomo"))
    assert numpy_result.objective == pytest.approx(pyomo_result.objective, abs=1e-6)


def test_train_network_uses_numpy_rows_with_highs_and_pyomo_rows_with_cbc():
    from mipnn_pyomo.training import train_network

    data = random_data(3, (2,), 1, seed=2, n=8, features=3)
    result = train_network(data.X, data.y, n_classes=3, hidden=(2,), objective="sat-margin", solver="highs",
                           time_limit=20, target_accuracy=None, decimals=2, seed=0)
    assert result.instance.matrix is not None and result.exactness.ok
    assert result.train_accuracy == result.network.accuracy(data.X, data.y)
    from mipnn_pyomo.solvers import SolveOptions, get_solver

    assert matrix_form.rows_for(get_solver("highs")) == "auto"
    assert matrix_form.rows_for(get_solver("cbc")) == "pyomo"
    numpy_instance = build_instance(data, "sat-margin", rows="numpy")
    with pytest.raises(ModelConfigError, match="cbc adapter needs the Pyomo constraints"):
        get_solver("cbc").solve(numpy_instance, SolveOptions())


def test_cpsat_on_numpy_rows_reaches_the_pyomo_optimum():
    data = random_data(2, (2,), 1, seed=6, n=7, features=3)
    numpy_result = solve_to_optimality(build_instance(data, "min-hinge", rows="numpy"), "cpsat")
    pyomo_result = solve_to_optimality(build_instance(data, "min-hinge", rows="pyomo"), "cpsat")
    assert numpy_result.objective == pytest.approx(pyomo_result.objective, abs=1e-6)


def test_a_constraint_block_without_numpy_rows_falls_back_to_pyomo(monkeypatch):
    """A block matrix_form does not write (here: margin_met, as if it were new) is never lost."""
    data = random_data(2, (3,), 1)
    monkeypatch.setattr(matrix_form, "WRITTEN_BLOCKS", matrix_form.WRITTEN_BLOCKS - {"margin_met"})
    instance = build_instance(data, "sat-margin", rows="auto")
    assert instance.matrix is None and instance.model.margin_met.active
    with pytest.raises(ModelConfigError, match="do not write the constraint block.*margin_met"):
        build_instance(data, "sat-margin", rows="numpy")


def test_mps_export_of_numpy_rows_equals_the_pyomo_export_and_lp_export_is_refused(tmp_path):
    import highspy

    from mipnn_pyomo.export import export_instance

    data = random_data(2, (3,), 1, n=6)
    sizes = []
    for rows in ("numpy", "pyomo"):
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.readModel(str(export_instance(build_instance(data, "max-correct", rows=rows), tmp_path / f"{rows}.mps")))
        lp = h.getLp()
        sizes.append((lp.num_row_, lp.num_col_, len(lp.a_matrix_.value_), lp.sense_))
    assert sizes[0] == sizes[1]
    with pytest.raises(ModelConfigError, match="export to .lp needs the Pyomo constraints"):
        export_instance(build_instance(data, "max-correct", rows="numpy"), tmp_path / "m.lp")
