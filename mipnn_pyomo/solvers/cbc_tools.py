"""CBC's plumbing for :mod:`.cbc`: the executable, its banner, the complete MIP start file, and
reading CBC's log (status, bound, command line), whose formats differ across CBC versions."""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import sys

from mipnn_pyomo.solvers.base import Termination


@functools.cache
def cbc_executable() -> str | None:
    """The cbc binary: cbcbox's (``cbcbox.cbc_bin_path()``), else ``cbc`` on PATH or next to Python."""
    try:
        import cbcbox

        path = cbcbox.cbc_bin_path()
        if path and os.path.exists(path):
            return str(path)
    except Exception:
        pass
    for candidate in (shutil.which("cbc"), os.path.join(os.path.dirname(sys.executable), "cbc")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@functools.cache
def banner() -> str:
    exe = cbc_executable()
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "-quit"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        return out.stdout + out.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


def write_start(opt, instance, values) -> None:
    """CBC's -mipstart file with EVERY variable of the start (Pyomo's own writer skips zeros and
    continuous variables), by the names of the LP file just written."""
    by_object = instance.solutions.symbol_map[opt._smap_id].byObject
    with open(opt._warm_start_file_name, "w") as fh:
        for index, (var, value) in enumerate(values.items()):
            if id(var) in by_object:
                fh.write(f"{index} {by_object[id(var)]} {value:.17g}\n")


def read_solution(instance, res):
    """Every variable's value in CBC's solution (loaded into the model by Pyomo's reader, read back)."""
    import logging

    import pyomo.environ as pyo
    from pyomo.common.collections import ComponentMap

    core_logger = logging.getLogger("pyomo.core")  # "Loading a SolverResults object with an 'aborted' status"
    level = core_logger.level
    core_logger.setLevel(logging.ERROR)
    try:
        instance.model.solutions.load_from(res)
    except Exception:
        return None
    finally:
        core_logger.setLevel(level)
    return ComponentMap((v, float(v.value)) for v in instance.model.component_data_objects(pyo.Var)
                        if v.value is not None)


def command_line_params(log: str, params: dict) -> dict:
    """The parameters as CBC received them ("-key value" on the command line in its log)."""
    m = re.search(r"args:(.*)", log)
    if not m:
        return params
    tokens = m.group(1).split()
    seen = {tokens[i][1:]: tokens[i + 1] for i in range(len(tokens) - 1) if tokens[i].startswith("-")}
    return {**params, **{k: seen[k] for k in params if k in seen}}


def parse_status(log: str) -> str:
    m = re.search(r"Result - (.*)", log)
    text = (m.group(1) if m else "").lower()
    if "optimal" in text:
        return "optimal"
    if "time" in text:
        return "time"
    if "infeasible" in text:
        return "infeasible"
    if "solutions" in text or "solution limit" in text:
        return "solutions"
    if "stopped" in text:
        return "stopped"
    return text or "unknown"


def no_solution(log: str) -> bool:
    return parse_status(log) == "infeasible" or "No feasible solution found" in log


def has_solution(res, log: str) -> bool:
    if res is None:
        return False
    if no_solution(log):
        return False
    try:
        return len(res.solution) > 0
    except Exception:
        return False


def parse_bound(log: str, objective: float, sense: str, termination: Termination, negated: bool) -> float | None:
    """CBC's final "Objective value" and "Lower bound" lines, put in the model's sense. The sign
    convention for maximisation differs across CBC versions, so the printed objective is compared
    with the forward-pass objective to decide whether to flip."""
    obj_m = re.findall(r"Objective value:\s*(-?[\d.eE+\-]+)", log)
    bnd_m = re.findall(r"Lower bound:\s*(-?[\d.eE+\-]+)", log)
    if termination == Termination.OPTIMAL:
        return objective
    if not bnd_m:
        return None
    try:
        bound = float(bnd_m[-1])
        printed = float(obj_m[-1]) if obj_m else None
    except ValueError:
        return None
    if printed is not None:
        flip = abs(printed + objective) < abs(printed - objective) and abs(objective) > 1e-9
    else:
        flip = negated or sense == "maximize"
    if negated and printed is None:
        flip = True
    bound = -bound if flip else bound
    if not math.isfinite(bound) or abs(bound) > 1e20:
        return None
    # a valid bound is never worse than the incumbent
    if sense == "maximize" and bound < objective - 1e-6 or sense == "minimize" and bound > objective + 1e-6:
        return None
    return bound
