"""The ablation engine of method ``neighbourhood`` (``engine="ls"``): a local search in place of the
MIP, on the same rows, the same parameters, the same box and ball (sum_p |p - v_p| <= k) and the
same objective (the number of correct sensitive rows, rule (correct) of :mod:`.neighbourhood`).

Steepest ascent over single-unit moves p -> p -+ 1 of one free parameter (W1[f, j] for the features
f non-zero in some flip row, b1_j, W2[j, c], b2_c), ranked lexicographically by (correct rows,
sum_i min(0, slack_i)), slack_i = min_{c != y} (s_iy - s_ic - t_ic) (the second term moves wrong rows
towards the boundary on plateaus of the first). A move is taken only if it is strictly better;
ties between equally good moves are broken by the task's seed. It stops at a local optimum, after
``MAX_STEPS`` moves or after ``ls_time`` seconds. All moves of one parameter kind are evaluated at
once with numpy (a first-layer move changes h_ij exactly where A_ij crosses zero).
"""

from __future__ import annotations

import time

import numpy as np

from mipnn_pyomo.batch.neighbourhood import NeighbourhoodTask, RowData, block_positions, unpack

MAX_STEPS = 10_000


def _quality(h: np.ndarray, w2: np.ndarray, b2: np.ndarray, rows: RowData, y: np.ndarray,
             thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: correct (0/1) and min(0, slack) for hidden value(s) h (broadcast over rows)."""
    scores = rows.other + h[:, None] * w2[None, :] + b2[None, :]
    idx = np.arange(len(y))
    slack = scores[idx, y][:, None] - scores - thresholds
    slack[idx, y] = np.iinfo(np.int64).max
    worst = slack.min(axis=1)
    return (worst >= 0).astype(np.int64), np.minimum(worst, 0)


def _first_layer_gains(state: dict, rows: RowData, flip: np.ndarray, columns: np.ndarray, sign: int):
    """(count gain, slack gain) of moving each first-layer parameter by ``sign`` (columns: X_int
    of the flip rows per parameter, bias last)."""
    new_h = np.where(state["pre"][flip][:, None] + sign * columns >= 0, 1, -1)
    changed = new_h != state["h"][flip][:, None]
    d_count = (state["count_other"] - state["count"])[flip]
    d_slack = (state["slack_other"] - state["slack"])[flip]
    return changed.T @ d_count, changed.T @ d_slack


def _refresh(state: dict, rows: RowData, task: NeighbourhoodTask) -> None:
    """Row quality under the current parameters, and with h_ij flipped."""
    state["count"], state["slack"] = _quality(state["h"], state["w2"], state["b2"], rows, task.y, task.thresholds)
    state["count_other"], state["slack_other"] = _quality(-state["h"], state["w2"], state["b2"], rows, task.y,
                                                           task.thresholds)


def _candidates(state: dict, rows: RowData, task: NeighbourhoodTask, features: np.ndarray, scale: int):
    """Every allowed single-unit move with its (count gain, slack gain): list of (gain, slack, kind, index, sign)."""
    flip = np.flatnonzero(rows.flip)
    columns = np.hstack([rows.X_int[np.ix_(flip, features)], np.full((len(flip), 1), scale)])
    out = []
    for sign in (1, -1):
        count_gain, slack_gain = _first_layer_gains(state, rows, flip, columns, sign)
        for q in range(len(features) + 1):
            out.append((int(count_gain[q]), int(slack_gain[q]), "first", q, sign))
        base_count, base_slack = int(state["count"].sum()), int(state["slack"].sum())
        for kind in ("w2", "b2"):
            for c in range(len(state[kind])):
                trial = {**state, kind: state[kind].copy()}
                trial[kind][c] += sign
                count, slack = _quality(state["h"], trial["w2"], trial["b2"], rows, task.y, task.thresholds)
                out.append((int(count.sum()) - base_count, int(slack.sum()) - base_slack, kind, c, sign))
    return out


def search(task: NeighbourhoodTask, rows: RowData) -> dict:
    """The local search of the module docstring; returns the new vector, h per row, the correctness
    claims z, the status and the number of moves."""
    t0 = time.perf_counter()
    pos = block_positions(task.sizes, task.neuron)
    v = np.asarray(task.vector, dtype=np.int64)
    W1, b1, W2, b2 = unpack(v, task.sizes)
    flip = np.flatnonzero(rows.flip)
    features = np.flatnonzero(np.any(rows.X_int[flip] != 0, axis=0)) if len(flip) else np.array([], dtype=np.int64)
    first_pos = np.concatenate([pos["w1"][features], pos["b1"]])
    state = {"pre": rows.pre.copy(), "h": rows.h.copy(), "w2": W2[task.neuron].copy(), "b2": b2.copy(),
             "first": v[first_pos].copy()}
    _refresh(state, rows, task)
    rng = np.random.default_rng(task.seed)
    steps, status = 0, "local_optimum"
    while steps < MAX_STEPS:
        if time.perf_counter() - t0 > task.ls_time:
            status = "time_limit"
            break
        allowed = [m for m in _candidates(state, rows, task, features, 10**task.decimals)
                   if _allowed(state, m, v, first_pos, pos, task)]
        best = max(((m[0], m[1]) for m in allowed), default=(0, 0))
        if best <= (0, 0):
            break
        ties = [m for m in allowed if (m[0], m[1]) == best]
        _apply(state, ties[int(rng.integers(len(ties)))], rows, features, 10**task.decimals)
        _refresh(state, rows, task)
        steps += 1
    vector = v.copy()
    vector[first_pos] = state["first"]
    vector[pos["w2"]], vector[pos["b2"]] = state["w2"], state["b2"]
    return {"vector": vector, "h": state["h"], "z": state["count"], "status": status, "steps": steps}


def _value_and_position(state: dict, move: tuple, first_pos: np.ndarray, pos: dict) -> tuple[int, int]:
    kind, index = move[2], move[3]
    if kind == "first":
        return int(state["first"][index]), int(first_pos[index])
    return int(state[kind][index]), int(pos[kind][index])


def _allowed(state: dict, move: tuple, v: np.ndarray, first_pos: np.ndarray, pos: dict, task) -> bool:
    """Inside [-P, P] and the ball sum |p - v_p| <= k after the move."""
    value, position = _value_and_position(state, move, first_pos, pos)
    new = value + move[4]
    if abs(new) > task.P:
        return False
    distance = (np.abs(state["first"] - v[first_pos]).sum() + np.abs(state["w2"] - v[pos["w2"]]).sum()
                + np.abs(state["b2"] - v[pos["b2"]]).sum())
    return distance - abs(value - v[position]) + abs(new - v[position]) <= task.k


def _apply(state: dict, move: tuple, rows: RowData, features: np.ndarray, scale: int) -> None:
    _, _, kind, index, sign = move
    if kind != "first":
        state[kind][index] += sign
        return
    state["first"][index] += sign
    flip = np.flatnonzero(rows.flip)
    column = rows.X_int[flip, features[index]] if index < len(features) else np.full(len(flip), scale)
    state["pre"][flip] += sign * column
    state["h"][flip] = np.where(state["pre"][flip] >= 0, 1, -1)
