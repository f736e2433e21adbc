"""CBC (COIN-OR) through Pyomo's shell interface (``SolverFactory('cbc')``, an LP file and the
``cbc`` executable that ``pip install cbcbox`` provides).

CBC runs as a separate process with no callback, so:

* there is no accuracy-target callback; the timeline holds the start (or the heuristic's
  construction, the default) and CBC's final network;
* the heuristic acts through the MIP start only. The start file is complete (every variable; Pyomo
  writes only non-zero integers). For a caller's warm start CBC's preprocessing is turned off: with
  it on, CBC rejects valid starts ("mipstart values could not be used to build a solution", the
  integer columns it derives stay fractional). For the heuristic's construction it stays on (on
  Adult N = 40, hidden 3, preprocessing off kept CBC at the construction's 62 for 20 s, on it
  reached the optimum 80). A rejected start is reported and kept as the result unless CBC finds
  better (base flow);
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

import os
import re
import tempfile
from types import SimpleNamespace
from typing import ClassVar

from mipnn_pyomo.solvers.base import (SOURCE_START, Capabilities, RunOutcome, SolveContext, SolverAdapter, SolverName,
                                      Termination)
from mipnn_pyomo.solvers.cbc_tools import (banner, command_line_params, has_solution, read_solution,
                                           no_solution, parse_bound, parse_status, write_start, cbc_executable)


class CbcAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.CBC
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=False, objective_stop=True,  # max-correct only, by cutoff + maxSolutions=1
        warm_start=True, threads=True, time_limit=True, mip_gap=True, seed=True)
    licence = "EPL-2.0 (open source)"
    # randomCbcSeed / randomSeed 0 mean "from the clock": seed s is passed as s + 1 (convert_option)
    OPTION_NAMES = {"time_limit": "sec", "threads": "threads", "mip_gap": "ratioGap", "seed": "randomCbcSeed"}
    # Exactness (see solvers/highs.py): tight integrality and primal tolerances.
    DEFAULT_OPTIONS = {"integerTolerance": 1e-9, "primalTolerance": 1e-9, "timeMode": "elapsed"}
    START_ACCEPTED = ("mipstart provided solution",)
    START_REJECTED = ("could not be used", "mipstart solution is infeasible")

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        exe = cbc_executable()
        if exe is None:
            return False, "no cbc executable found; pip install cbcbox (or put cbc on PATH)"
        if "cbc" not in banner().lower():
            return False, f"{exe} did not run (no CBC banner)"
        return True, ""

    @classmethod
    def version(cls) -> str:
        """From the banner, e.g. "CBC devel (git:146ce89)" or "Version: 2.10.11", plus cbcbox's version."""
        text = banner()
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

    def convert_option(self, key, value):
        if key == "seed":
            return int(value) % 2_000_000_000 + 1
        return max(0.2, round(float(value), 2)) if key == "time_limit" else super().convert_option(key, value)

    def solver_params(self, instance, options, time_left):
        params = super().solver_params(instance, options, time_left)
        if "randomCbcSeed" in params:
            params.setdefault("randomSeed", params["randomCbcSeed"])  # Clp's seed too
        return params

    def _load(self, instance):
        return SimpleNamespace(params={}, start=None)

    def _apply_options(self, session, params):
        session.params = dict(params)
        return params  # as on CBC's command line: read back from the log after the run

    def _set_start(self, session, values):
        session.start = values
        return None

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        if session.start is not None and ctx.start_source == SOURCE_START:
            # a user's start must be used: CBC's preprocessing rejects valid starts (module docstring);
            # the heuristic's construction is kept by the base flow anyway, and preprocessing is worth more
            session.params.setdefault("preprocess", "off")
        stop = self.objective_stop(ctx.instance, ctx.options)
        res, log = self._cbc(session, ctx, stop)
        logs = [log]
        if stop is not None and no_solution(log) and not ctx.should_stop and (ctx.time_left() or 1.0) > 0.5:
            res, log = self._cbc(session, ctx, None)  # no network meets the target: solve with the time left
            logs.append(log)
        ctx.params = command_line_params(log, ctx.params)
        status = {"optimal": Termination.OPTIMAL, "time": Termination.TIME_LIMIT,
                  "infeasible": Termination.INFEASIBLE}.get(parse_status(log), Termination.OTHER)
        solution = read_solution(ctx.instance, res) if has_solution(res, log) else None
        if solution is None:
            return RunOutcome(status, None, None, None, "\n".join(logs))
        network = ctx.monitor.network_from_vector([solution.get(v, 0.0) for v in ctx.instance.weight_variables()])
        objective = float(ctx.instance.evaluate(network))  # Pyomo's CBC objective is unreliable (see above)
        bound = parse_bound(log, objective, ctx.instance.sense, status, stop is not None and len(logs) == 1)
        return RunOutcome(status, objective, bound, solution, "\n".join(logs))

    def _cbc(self, session, ctx: SolveContext, objective_stop: int | None):
        """One CBC run; with ``objective_stop`` the max-correct objective is temporarily written as a
        minimisation of its negative with a cutoff at the target."""
        import pyomo.environ as pyo

        model, opts = ctx.instance.model, dict(session.params)
        left = ctx.time_left()
        if left is not None:
            opts["sec"] = self.convert_option("time_limit", left)
        original = None
        if objective_stop is not None:
            original = model.objective
            original.deactivate()
            model._cbc_target_objective = pyo.Objective(expr=-original.expr, sense=pyo.minimize)
            opts.update(cutoff=-objective_stop + 0.5, maxSolutions=1)
        opt = pyo.SolverFactory("cbc", executable=cbc_executable())
        opt.options.update(opts)
        if session.start is not None:
            opt._warm_start = lambda instance: write_start(opt, instance, session.start)  # complete start file
        with tempfile.TemporaryDirectory(prefix="mipnn-cbc-") as tmp:
            logfile = os.path.join(tmp, "cbc.log")
            try:
                res = opt.solve(model, tee=ctx.options.verbose, load_solutions=False, logfile=logfile,
                                warmstart=session.start is not None, symbolic_solver_labels=False)
            finally:
                if original is not None:
                    model.del_component(model._cbc_target_objective)
                    original.activate()
            with open(logfile) as fh:
                return res, fh.read()
