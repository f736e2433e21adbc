"""SCIP on the template, around the engine core :mod:`.scip_engine` (Pyomo's ``scip_persistent``,
the ``pyscipopt`` wheel; no ``scip`` executable is needed).

* Options under SCIP's own names (``limits/time``, ``limits/gap``,
  ``randomization/randomseedshift``), validated and read back on a throwaway ``pyscipopt.Model``;
  the engine always adds ``numerics/feastol = 1e-9`` (exactness) and ``misc/catchctrlc = false``.
* ``threads``: **accepted and ignored** (``Capabilities.threads`` False): SCIP's branch and bound is
  sequential, and its concurrent mode cannot run with Pyomo's solve or event handlers.
* The MIP start (warm start, else the heuristic's construction) is a complete solution added with
  ``addSol`` before the search; ``heuristic_injection`` is False (the heuristic improves each
  incumbent and the monitor keeps its networks; the flow returns the better one).
* Each new incumbent (SCIP's ``BESTSOLFOUND`` event) reaches the monitor (timeline source
  "solver"); the handler interrupts SCIP once the accuracy target is met or SIGINT/SIGTERM arrived.
* Objectives are the forward pass's (``instance.evaluate``), as for CP-SAT.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.solvers.base import Capabilities, RunOutcome, SolveContext, SolverAdapter, SolverName
from mipnn_pyomo.solvers.cpsat import engine_outcome

START_ADDED = "mipnn: start solution added"
START_REFUSED = "mipnn: start solution infeasible, not added"


class ScipAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.SCIP
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True, objective_stop=True, warm_start=True,
        threads=False,  # accepted and ignored: sequential branch and bound
        time_limit=True, mip_gap=True, seed=True, incumbent_callback=True, heuristic_injection=False)
    licence = "Apache-2.0 (open source)"
    OPTION_NAMES = {"time_limit": "limits/time", "mip_gap": "limits/gap", "seed": "randomization/randomseedshift"}
    DEFAULT_OPTIONS: ClassVar[dict] = {}  # the engine sets numerics/feastol = 1e-9 itself (see above)
    START_ACCEPTED = (START_ADDED,)
    START_REJECTED = (START_REFUSED,)

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        try:
            import pyscipopt  # noqa: F401
            from pyomo.contrib.solver.solvers.scip.scip_persistent import ScipPersistent  # noqa: F401
        except ImportError as exc:
            return False, f"pyscipopt (or Pyomo's scip_persistent) is not installed ({exc}); pip install pyscipopt"
        return True, ""

    @classmethod
    def version(cls) -> str:
        from mipnn_pyomo.solvers.scip_engine import scip_version

        return scip_version()

    def _load(self, instance):
        return SimpleNamespace(params={}, start=False)  # the engine builds SCIP's model in _run

    def _apply_options(self, session, params):
        """Set on a throwaway SCIP model (an unknown name or bad value is one ModelConfigError) and
        read back, with the parameters the engine always adds."""
        import pyscipopt

        from mipnn_pyomo.solvers.scip_engine import solver_params

        session.params = dict(params)
        probe = pyscipopt.Model()
        probe.hideOutput()
        held = {}
        for key, value in solver_params(seed=None, mip_gap=None, params=params).items():
            try:
                probe.setParam(key, value)
            except (KeyError, LookupError, ValueError, TypeError) as exc:
                raise ModelConfigError(f"bad SCIP parameter {key} = {value!r}: {exc}") from None
            held[key] = probe.getParam(key)
        return held

    def _set_start(self, session, values):
        session.start = True  # the engine adds ctx.start's forward-pass solution (every variable)
        return None

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        from mipnn_pyomo.solvers.scip_engine import solve_scip

        instance = ctx.instance
        params = dict(session.params)
        params.pop(self.OPTION_NAMES["time_limit"], None)  # the engine passes the time left itself

        def on_solution(weights, objective, bound) -> bool:
            network = ctx.monitor.network_from_vector(weights)
            ctx.on_solver_incumbent(weights, float(instance.evaluate(network)), bound)
            return ctx.should_stop

        left = ctx.time_left()
        result = solve_scip(instance, time_limit=None if left is None else max(left, 0.01), seed=None,
                            start_network=ctx.start if session.start else None, on_solution=on_solution,
                            should_stop=lambda: ctx.should_stop, params=params, verbose=ctx.options.verbose)
        return engine_outcome(self, ctx, result, START_ADDED, START_REFUSED)
