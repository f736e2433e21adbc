"""The exact neighbourhood MIP of one hidden neuron j (method ``neighbourhood``), its solve on HiGHS
and its exactness check; the rows and bounds come from :mod:`.neighbourhood`.

Variables (p: the free parameters, each integer in [max(-P, v_p - k), min(P, v_p + k)]):
W1[f, j] for the features f non-zero in some flip row (every other parameter stays at v), b1_j
(only with flip rows), W2[j, c], b2_c; d+_p, d-_p >= 0; g_i in {0, 1} per flip row (h_ij = 2 g_i - 1);
z_i in {0, 1} per sensitive row (1: counted as correct).

    p - v_p = d+_p - d-_p,   sum_p (d+_p + d-_p) <= k                         (local branching)
    A_i(p) = sum_f X_int[i, f] W1[f, j] + 10^d b1_j                           (integer, flip rows)
    A_i(p) >= L_i (1 - g_i),   A_i(p) <= -1 + (U_i + 1) g_i                   (h = sign(A), sign(0) = +1)
        L_i, U_i = A_i(v) -+ k unit_i:  the range of A_i over the ball (unit_i = max(10^d, max_f X_int[i, f]))
    E_ic(s) = (other_iy - other_ic) + s (W2[j, y] - W2[j, c]) + b2_y - b2_c  (the margin with h_ij = s)
    fixed rows (h_ij = h):  E_ic(h) >= t_ic - M_ics (1 - z_i)
    flip rows, s = +1 / -1: E_ic(s) >= t_ic - M_ics (2 - z_i - [g_i = s])     ([g = +1] = g, [g = -1] = 1 - g)
        M_ics = max(0, t_ic - (E_ic(s)|_v - k)):  E_ic(s) >= E_ic(s)|_v - k on the ball, so a row
        with (z_i, [g_i = s]) != (1, 1) is never cut off; a row with M_ics = 0 needs no constraint
    maximise sum_i z_i

(correct) in :mod:`.neighbourhood` makes z_i = 1 possible exactly when row i is classified
correctly, so the optimum is the number of correct sensitive rows and, with the safe-correct
rows, of correct training rows. First-layer rows are multiplied by 10^d: every coefficient is an
integer. Solved by HiGHS (one thread, tolerances 1e-9, warm-started from v, which is feasible).

Exactness check (:func:`check_rows`, after every solve, as ``training.check_exactness`` does for
the batch MIPs): the new network's numpy forward pass on the sensitive rows must give h_ij = the
MIP's 2 g_i - 1 (flip rows) or the fixed h (other rows), output scores = the MIP-implied scores
other + h W2[j] + b2, rule (correct) with tau = 0 = the forward pass's predictions (its tie rule),
and z_i <= correct_i (rule (correct) with the task's thresholds on those scores). The driver
then checks the count on all training rows (safe rows unchanged, total = safe-correct + implied).
"""

from __future__ import annotations

import io
import time
from dataclasses import replace

import numpy as np

from mipnn_pyomo.batch.neighbourhood import (NeighbourhoodTask, RowData, block_positions, classify_rows, correct_mask,
                                             neuron_view, row_data, unpack)
from mipnn_pyomo.batch.vectors import from_vector


def correctness_rows(task: NeighbourhoodTask, rows: RowData) -> list[tuple[int, int, int, int]]:
    """(row, class, s, M) of every correctness constraint with M > 0 (module docstring)."""
    _, _, W2, b2 = unpack(task.vector, task.sizes)
    w_j, out = W2[task.neuron], []
    for i in range(len(task.y)):
        y = task.y[i]
        for c in range(len(b2)):
            if c == y:
                continue
            for s in ((1, -1) if rows.flip[i] else (int(rows.h[i]),)):
                e_v = rows.other[i, y] - rows.other[i, c] + s * (w_j[y] - w_j[c]) + b2[y] - b2[c]
                big_m = int(task.thresholds[i, c] - (e_v - task.k))
                if big_m > 0:
                    out.append((i, c, s, big_m))
    return out


def build_model(task: NeighbourhoodTask, rows: RowData):
    """The Pyomo model of the module docstring; returns (model, {vector position: variable})."""
    import pyomo.environ as pyo

    pos, v, d = block_positions(task.sizes, task.neuron), np.asarray(task.vector), task.decimals
    flip_rows = np.flatnonzero(rows.flip)
    features = np.flatnonzero(np.any(rows.X_int[flip_rows] != 0, axis=0)) if len(flip_rows) else np.array([], int)
    m = pyo.ConcreteModel()
    box = lambda p: (max(-task.P, int(v[p]) - task.k), min(task.P, int(v[p]) + task.k))  # noqa: E731
    m.w1 = pyo.Var(features.tolist(), within=pyo.Integers, bounds=lambda m, f: box(pos["w1"][f]))
    m.w2 = pyo.Var(range(len(pos["w2"])), within=pyo.Integers, bounds=lambda m, c: box(pos["w2"][c]))
    m.b2 = pyo.Var(range(len(pos["b2"])), within=pyo.Integers, bounds=lambda m, c: box(pos["b2"][c]))
    free = {int(pos["w1"][f]): m.w1[f] for f in features}
    free.update({int(pos["w2"][c]): m.w2[c] for c in m.w2})
    free.update({int(pos["b2"][c]): m.b2[c] for c in m.b2})
    if len(flip_rows):
        m.b1 = pyo.Var(within=pyo.Integers, bounds=box(int(pos["b1"][0])))
        free[int(pos["b1"][0])] = m.b1
    items = sorted(free.items())
    m.up = pyo.Var(range(len(items)), bounds=(0, 2 * task.P))
    m.down = pyo.Var(range(len(items)), bounds=(0, 2 * task.P))
    m.distance = pyo.Constraint(range(len(items)), rule=lambda m, t: items[t][1] - int(v[items[t][0]]) == m.up[t] - m.down[t])
    m.ball = pyo.Constraint(expr=sum(m.up[t] + m.down[t] for t in m.up) <= task.k)
    m.g = pyo.Var(flip_rows.tolist(), within=pyo.Binary)
    m.z = pyo.Var(range(len(task.y)), within=pyo.Binary)
    _add_activation_rows(m, rows, flip_rows, task.k, 10**d)
    triples = correctness_rows(task, rows)
    _, _, W2, b2 = unpack(task.vector, task.sizes)

    def correct_rule(m, n):
        i, c, s, big_m = triples[n]
        y = int(task.y[i])
        margin = int(rows.other[i, y] - rows.other[i, c]) + s * (m.w2[y] - m.w2[c]) + m.b2[y] - m.b2[c]
        off = (1 - m.z[i]) if not rows.flip[i] else (2 - m.z[i] - (m.g[i] if s == 1 else 1 - m.g[i]))
        return margin >= int(task.thresholds[i, c]) - big_m * off

    m.correct = pyo.Constraint(range(len(triples)), rule=correct_rule)
    m.objective = pyo.Objective(expr=sum(m.z[i] for i in m.z), sense=pyo.maximize)
    return m, free


def _add_activation_rows(m, rows: RowData, flip_rows: np.ndarray, k: int, scale: int) -> None:
    """A_i >= L_i (1 - g_i) and A_i <= -1 + (U_i + 1) g_i for the flip rows (module docstring)."""
    import pyomo.environ as pyo

    def pre(m, i):
        nz = np.flatnonzero(rows.X_int[i])
        return sum(int(rows.X_int[i, f]) * m.w1[int(f)] for f in nz) + scale * m.b1

    low = {int(i): int(rows.pre[i] - k * rows.unit[i]) for i in flip_rows}
    high = {int(i): int(rows.pre[i] + k * rows.unit[i]) for i in flip_rows}
    m.active_on = pyo.Constraint(flip_rows.tolist(), rule=lambda m, i: pre(m, i) >= low[i] * (1 - m.g[i]))
    m.active_off = pyo.Constraint(flip_rows.tolist(), rule=lambda m, i: pre(m, i) <= -1 + (high[i] + 1) * m.g[i])


def start_values(m, free: dict, task: NeighbourhoodTask, rows: RowData, start: dict) -> list[tuple]:
    """(variable, value) pairs of a point of the ball (``start``: its vector, h per row and
    correctness z per row, e.g. v itself or the local search's point): a feasible point."""
    vector, v = np.asarray(start["vector"]), np.asarray(task.vector)
    items = sorted(free.items())
    values = [(var, int(vector[p])) for p, var in items]
    values += [(m.up[t], max(0, int(vector[p] - v[p]))) for t, (p, _) in enumerate(items)]
    values += [(m.down[t], max(0, int(v[p] - vector[p]))) for t, (p, _) in enumerate(items)]
    values += [(m.g[i], int(start["h"][i] == 1)) for i in m.g]
    return values + [(m.z[i], int(start["z"][i])) for i in m.z]


def solve_model(m, free: dict, task: NeighbourhoodTask, rows: RowData, start: dict) -> dict:
    """Solve on HiGHS from ``start`` (:func:`start_values`); returns the new vector, g and z values, status, objective, bound."""
    import highspy
    from pyomo.common.tee import capture_output

    from mipnn_pyomo.solvers.highs import load_standard_form
    from mipnn_pyomo.solvers.standard_form import compile_standard_form

    t0 = time.perf_counter()
    sf = compile_standard_form(m)
    h = load_standard_form(sf)
    options = {"time_limit": float(task.time_limit), "threads": 1, "random_seed": int(task.seed),
               "mip_feasibility_tolerance": 1e-9, "primal_feasibility_tolerance": 1e-9}
    if task.nodes is not None:
        options["mip_max_nodes"] = int(task.nodes)
    for key, value in options.items():
        h.setOptionValue(key, value)
    col_of = sf.column_index()
    x0 = np.zeros(sf.n_cols)
    for var, value in start_values(m, free, task, rows, start):
        if id(var) in col_of:
            x0[col_of[id(var)]] = value
    h.setSolution(sf.n_cols, np.arange(sf.n_cols, dtype=np.int32), x0)
    load_s = time.perf_counter() - t0
    highspy.Highs.resetGlobalScheduler(True)
    with capture_output(output=io.StringIO(), capture_fd=True):
        h.run()
    info = h.getInfo()
    x = np.asarray(h.getSolution().col_value) if info.primal_solution_status == 2 else x0
    value = lambda var, default: float(x[col_of[id(var)]]) if id(var) in col_of else default  # noqa: E731
    vector = np.asarray(task.vector, dtype=np.int64).copy()
    for p, var in free.items():
        vector[p] = int(np.rint(value(var, start["vector"][p])))
    g = np.array([int(np.rint(value(m.g[i], start["h"][i] == 1))) for i in m.g], dtype=np.int64)
    z = np.array([int(np.rint(value(m.z[i], 0))) for i in m.z], dtype=np.int64)
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return {"vector": vector, "g": g, "z": z, "status": str(h.getModelStatus()).split(".")[-1],
            "objective": float(info.objective_function_value) if info.primal_solution_status == 2 else -np.inf,
            "bound": bound, "load_s": load_s,
            "solve_s": time.perf_counter() - t0 - load_s, "rows": sf.n_rows, "columns": sf.n_cols}


def check_rows(task: NeighbourhoodTask, rows: RowData, vector: np.ndarray, h_new: np.ndarray,
               z: np.ndarray) -> dict:
    """The exactness check of the module docstring on the sensitive rows; ``h_new``: the solver's
    h_ij per row (flip rows from g, others fixed), ``z``: its correctness claims."""
    network = from_vector(vector, task.sizes, task.P, task.decimals)
    activations, scores = network.forward(task.X)
    correct = correct_mask(scores, task.y, task.thresholds)
    _, _, W2, b2 = unpack(vector, task.sizes)
    implied = rows.other + h_new[:, None] * W2[task.neuron][None, :] + b2[None, :]
    tie_rule = np.where(task.thresholds > 0, task.thresholds - task.margin, 0)
    checks = {"activations": bool(np.array_equal(activations[0][:, task.neuron], h_new)),
              "fixed_rows": bool(np.array_equal(h_new[~rows.flip], rows.h[~rows.flip])),
              "scores": bool(np.array_equal(implied, scores)),
              "tie_rule": bool(np.array_equal(correct_mask(scores, task.y, tie_rule),
                                              network.predict_index(task.X) == task.y)),
              "claims": bool(np.all(z <= correct))}
    return {"exact": all(checks.values()), "failed": [k for k, ok in checks.items() if not ok],
            "implied_count": int(correct.sum()), "claimed_count": int(z.sum())}


def run_neighbourhood_task(task: NeighbourhoodTask):
    """One step in a worker: the local search of :mod:`.neighbourhood_search` on the rows and ball;
    with engine ``mip`` then the MIP, warm-started from the local search's point (so the MIP's
    contribution is its count minus the local search's): in the same ball (``mip_k`` None) or in a
    ball of radius ``mip_k`` around the local search's point (:func:`_escape_step`); then
    :func:`check_rows` on every row of the task."""
    from mipnn_pyomo.batch.neighbourhood_search import search
    from mipnn_pyomo.batch.solve import BatchOutcome

    t0 = time.perf_counter()
    rows = row_data(task)
    found = search(task, rows)
    ls_check = check_rows(task, rows, found["vector"], found["h"], found["z"])
    details = {"ls_status": found["status"], "ls_steps": found["steps"], "ls_count": ls_check["implied_count"],
               "ls_s": time.perf_counter() - t0, "status": found["status"]}
    exact, check_task, check_data = ls_check["exact"], task, rows
    if task.engine == "mip" and task.mip_k is None:
        found = _mip_step(task, rows, found, details["ls_count"], details)
    elif task.engine == "mip":
        found = _escape_step(task, rows, found, details)
        check_task = replace(task, k=task.k + task.mip_k, mip_k=None)
        check_data = row_data(check_task)
        exact = exact and details["escape_safe_rows_kept"]
    check = check_rows(check_task, check_data, found["vector"], found["h"], found["z"])
    details.update(neuron=task.neuron, sensitive_rows=len(task.y), flip_rows=int(rows.flip.sum()),
                   start_count=int(rows.correct.sum()), safe_correct=task.safe_correct, failed=check["failed"],
                   implied_count=check["implied_count"], claimed_count=check["claimed_count"],
                   claimed_total=task.safe_correct + check["implied_count"],
                   mip_gain=check["implied_count"] - details["ls_count"] if task.engine == "mip" else 0)
    return BatchOutcome(task.epoch, task.batch, found["vector"], float(check["implied_count"]),
                        float(rows.correct.sum()), check["exact"] and exact, str(details["status"]),
                        time.perf_counter() - t0, int(np.sum(found["vector"] != task.vector)), details)


def _mip_step(task: NeighbourhoodTask, rows: RowData, start: dict, start_count: int, details: dict) -> dict:
    """The MIP from ``start``; ``start`` itself if the MIP returns a worse point."""
    t0 = time.perf_counter()
    model, free = build_model(task, rows)
    details["build_s"] = time.perf_counter() - t0
    found = solve_model(model, free, task, rows, start)
    h_new = rows.h.copy()
    h_new[rows.flip] = 2 * found["g"] - 1
    found["h"] = h_new
    details.update({k: found[k] for k in ("status", "objective", "bound", "load_s", "solve_s", "rows", "columns")})
    if found["objective"] < start_count:
        details["status"] = "kept_start"
        return start
    return found


def _escape_step(task: NeighbourhoodTask, rows: RowData, ls_point: dict, details: dict) -> dict:
    """``mip_k`` set: the MIP of the ball of radius mip_k around the local search's point u. The
    task's rows were chosen for radius k + mip_k around v (which holds that ball); those sensitive
    for (u, mip_k) enter the MIP, the others keep their correctness under u (checked here)."""
    u = ls_point["vector"]
    view = neuron_view(rows.X_int, u, task.sizes, task.neuron, task.decimals)
    classes = classify_rows(view, unpack(u, task.sizes)[2], task.y, task.thresholds, task.mip_k, rows.X_int,
                            task.decimals)
    sub = classes.sensitive
    inner = replace(task, X=task.X[sub], y=task.y[sub], thresholds=task.thresholds[sub], vector=u, k=task.mip_k,
                    mip_k=None)
    start = {"vector": u, "h": ls_point["h"][sub], "z": ls_point["z"][sub]}
    found = _mip_step(inner, row_data(inner), start, int(ls_point["z"][sub].sum()), details)
    h = neuron_view(rows.X_int, found["vector"], task.sizes, task.neuron, task.decimals).h
    h[sub] = found["h"]
    z = ls_point["z"].copy()
    z[sub] = found["z"]
    network = from_vector(found["vector"], task.sizes, task.P, task.decimals)
    correct = correct_mask(network.output_scores(task.X), task.y, task.thresholds)
    others = np.setdiff1d(np.arange(len(task.y)), sub)
    details.update(escape_rows=len(sub), escape_safe_rows_kept=bool(np.array_equal(correct[others], ls_point["z"][others] == 1)))
    return {"vector": found["vector"], "h": h, "z": z}
