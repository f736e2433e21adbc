"""CBC (COIN-OR) through Pyomo's shell interface (``SolverFactory('cbc')``, an LP file and the
``cbc`` executable that ``pip install cbcbox`` provides).

CBC runs as a separate process with no callback, so:

* there is no accuracy-target callback and no incumbent timeline: only the final network is
  measured (``finish_result`` reports ``target_reached`` only when the forward pass confirms it);
* for ``max-correct`` the target is emulated by an objective stop: the objective is written as a
  minimisation of ``-correct`` with ``cutoff = -ceil(target N) + 0.5`` and ``maxSolutions = 1``, so
  CBC accepts only incumbents meeting the target and stops at the first one. If CBC proves that no
  such network exists, the adapter re-solves without the cutoff for the remaining time;
* Pyomo's objective bounds for CBC are unreliable (missing or sign-flipped for maximisation): the
  objective is evaluated from the final network by forward pass, and the bound is parsed from CBC's
  own log, its sign checked against that objective;
* Pyomo misreads cbcbox's banner ("CBC devel"), so the version is parsed here.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import ClassVar

import numpy as np

from mipnn_pyomo.errors import SolverError
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.solvers.base import (
    Capabilities,
    IncumbentMonitor,
    SolveOptions,
    SolveResult,
    SolverAdapter,
    SolverName,
    Termination,
    sigint_as_flag,
)

# Exactness (see solvers/highs.py): tight integrality and primal tolerances.
DEFAULT_OPTIONS = {"integerTolerance": 1e-9, "primalTolerance": 1e-9, "timeMode": "elapsed"}


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
def _banner() -> str:
    exe = cbc_executable()
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "-quit"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        return out.stdout + out.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


class CbcAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.CBC
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=False,
        objective_stop=True,  # max-correct only, by cutoff + maxSolutions=1
        warm_start=True,
        threads=True,
        time_limit=True,
        mip_gap=True,
        seed=True,
    )
    licence = "EPL-2.0 (open source)"

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        exe = cbc_executable()
        if exe is None:
            return False, "no cbc executable found; pip install cbcbox (or put cbc on PATH)"
        if "cbc" not in _banner().lower():
            return False, f"{exe} did not run (no CBC banner)"
        return True, ""

    @classmethod
    def version(cls) -> str:
        """From the banner, e.g. "CBC devel (git:146ce89)" or "Version: 2.10.11", plus cbcbox's version."""
        text = _banner()
        version = "unknown"
        m = re.search(r"Version:\s*([0-9][\w.\-]*)", text) or re.search(r"CBC\s+([\w.\-]+(?:\s*\(git:\w+\))?)", text)
        if m:
            version = m.group(1).strip()
        try:
            from importlib.metadata import version as dist_version

            version += f" (cbcbox {dist_version('cbcbox')})"
        except Exception:
            pass
        return version

    def solve(self, instance, options: SolveOptions, warm_start: IntegerNetwork | None = None) -> SolveResult:
        self.require_available()
        model = instance.model
        t0 = time.perf_counter()
        monitor = IncumbentMonitor(instance, options, t0)

        cbc_options: dict = dict(DEFAULT_OPTIONS)
        cbc_options["ratioGap"] = options.mip_gap if options.mip_gap is not None else 0.0
        if options.threads is not None:
            cbc_options["threads"] = int(options.threads)
        if options.seed is not None:
            cbc_options["randomCbcSeed"] = int(options.seed) % 2_000_000_000 + 1  # 0 would mean "from the clock"
        cbc_options.update(options.extra)

        if warm_start is not None:
            for var, value in instance.start_values(warm_start).items():
                var.set_value(value, skip_validation=True)

        target = options.target_accuracy
        objective_stop = None
        if target is not None and instance.objective == "max-correct":
            objective_stop = int(math.ceil(target * instance.data.n_samples - 1e-9))

        logs: list[str] = []
        res = None
        with sigint_as_flag(monitor):
            if objective_stop is not None:
                res, log = self._run(instance, cbc_options, options, warm_start is not None, t0, objective_stop)
                logs.append(log)
                if _no_solution(log) and not monitor.interrupt_requested:
                    remaining = None if options.time_limit is None else options.time_limit - (time.perf_counter() - t0)
                    if remaining is None or remaining > 0.5:
                        res = None  # CBC proved no network meets the target: solve normally with the rest of the time
            if res is None or objective_stop is None:
                res, log = self._run(instance, cbc_options, options, warm_start is not None, t0, None)
                logs.append(log)
        wall = time.perf_counter() - t0
        log = "\n".join(logs)
        last_log = logs[-1]

        has_solution = _has_solution(res, last_log)
        if has_solution:
            import logging

            core_logger = logging.getLogger("pyomo.core")  # "Loading a SolverResults object with an 'aborted' status"
            level = core_logger.level
            core_logger.setLevel(logging.ERROR)
            try:
                model.solutions.load_from(res)
            except Exception:
                has_solution = False
            finally:
                core_logger.setLevel(level)
        status = _parse_status(last_log)
        if monitor.interrupt_requested:
            termination = Termination.INTERRUPTED
        elif status == "optimal":
            termination = Termination.OPTIMAL
        elif status == "time":
            termination = Termination.TIME_LIMIT
        elif status == "infeasible":
            termination = Termination.INFEASIBLE
        elif status == "solutions":
            termination = Termination.OTHER  # objective stop: finish_result confirms the target
        else:
            termination = Termination.OTHER

        final_vector = objective = bound = None
        if has_solution:
            weights = instance.weight_variables()
            final_vector = np.array([v.value if v.value is not None else 0.0 for v in weights], dtype=float)
            network = monitor.network_from_vector(final_vector)
            objective = float(instance.evaluate(network))
            bound = _parse_bound(last_log, objective, instance.sense, termination, objective_stop is not None and len(logs) == 1)
        warm_accepted = _start_was_accepted(log) if warm_start is not None else None
        return self.finish(
            instance,
            monitor,
            termination=termination,
            final_vector=final_vector,
            objective=objective,
            bound=bound,
            wall_s=wall,
            options=options,
            log=log,
            warm_start_accepted=warm_accepted,
        )

    def _run(self, instance, cbc_options, options: SolveOptions, warm: bool, t0: float, objective_stop: int | None):
        """One CBC run; with ``objective_stop`` the max-correct objective is temporarily written as a
        minimisation of its negative with a cutoff at the target."""
        import pyomo.environ as pyo

        model = instance.model
        opts = dict(cbc_options)
        if options.time_limit is not None:
            remaining = options.time_limit - (time.perf_counter() - t0)
            opts["sec"] = max(1.0, round(remaining, 2))
        original = None
        if objective_stop is not None:
            original = model.objective
            original.deactivate()
            model._cbc_target_objective = pyo.Objective(expr=-original.expr, sense=pyo.minimize)
            opts["cutoff"] = -objective_stop + 0.5
            opts["maxSolutions"] = 1
        opt = pyo.SolverFactory("cbc", executable=cbc_executable())
        for key, value in opts.items():
            opt.options[key] = value
        with tempfile.TemporaryDirectory(prefix="mipnn-cbc-") as tmp:
            logfile = os.path.join(tmp, "cbc.log")
            try:
                res = opt.solve(
                    model,
                    tee=options.verbose,
                    load_solutions=False,
                    warmstart=warm,
                    logfile=logfile,
                    symbolic_solver_labels=False,
                )
            except Exception as exc:
                raise SolverError(f"CBC failed: {exc}") from None
            finally:
                if original is not None:
                    model.del_component(model._cbc_target_objective)
                    original.activate()
            try:
                with open(logfile) as fh:
                    log = fh.read()
            except OSError:
                log = ""
        return res, log


def _parse_status(log: str) -> str:
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


def _no_solution(log: str) -> bool:
    return _parse_status(log) == "infeasible" or "No feasible solution found" in log


def _has_solution(res, log: str) -> bool:
    if res is None:
        return False
    if _no_solution(log):
        return False
    try:
        return len(res.solution) > 0
    except Exception:
        return False


def _parse_bound(log: str, objective: float, sense: str, termination: Termination, negated: bool) -> float | None:
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


def _start_was_accepted(log: str) -> bool | None:
    """CBC's log: "MIPStart provided solution with cost X" (accepted) or "mipstart values could not
    be used" / "MIPStart solution provided values for N of M" without a solution (not)."""
    lowered = log.lower()
    if "mipstart provided solution" in lowered or "mipstart solution provided" in lowered and "cost" in lowered:
        return True
    if "could not be used" in lowered or "mipstart" in lowered and "infeasible" in lowered:
        return False
    if "mipstart" in lowered:
        return None
    return None
