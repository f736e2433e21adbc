"""CP-SAT (OR-Tools) on the template, around the engine core :mod:`.cpsat_engine`.

* ``_load`` compiles the instance into an exact all-integer ``CpModel`` (rows scaled, never
  rounded; a model without an exact integer scale is refused with one :class:`~.standard_form.InexactScalingError` line, a ModelConfigError).
* The MIP start (the caller's warm start, else the heuristic's construction) becomes a complete
  solution hint (``fix_variables_to_their_hinted_value`` off). CP-SAT takes hints only before the
  search: ``heuristic_injection`` is False; the heuristic still improves each incumbent and its
  networks are kept by the monitor (the flow returns the better one).
* Every improving solution reaches the monitor through the engine's ``on_solution`` (timeline
  source "solver"), which returns True, i.e. ``stop_search``, once the accuracy target is met or
  SIGINT/SIGTERM arrived (``ctx.should_stop``, also polled every 50 ms by the engine).
* Objectives are the forward pass's (``instance.evaluate``): with one-sided output products the
  engine's objective can under-report the network (never over-report), the bound stays valid.

Formulation advice: CP-SAT is much stronger with ``FormulationOptions(one_sided_output_products=False)``
(docs/solvers.md); the adapter solves the model it is given, as built.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import ClassVar

from mipnn_pyomo.solvers.base import Capabilities, RunOutcome, SolveContext, SolverAdapter, SolverName, Termination

HINT_ACCEPTED = "mipnn: start hint complete and feasible"
HINT_REJECTED = "mipnn: start hint not feasible"
STATUS = {"optimal": Termination.OPTIMAL, "feasible": Termination.TIME_LIMIT,
          "unknown": Termination.TIME_LIMIT, "infeasible": Termination.INFEASIBLE}
STOPPED = {"target": Termination.TARGET_REACHED, "interrupt": Termination.INTERRUPTED}


class CpsatAdapter(SolverAdapter):
    name: ClassVar[SolverName] = SolverName.CPSAT
    capabilities: ClassVar[Capabilities] = Capabilities(
        accuracy_target_callback=True, objective_stop=True, warm_start=True, threads=True, time_limit=True,
        mip_gap=True, seed=True, incumbent_callback=True, heuristic_injection=False)
    licence = "Apache-2.0 (open source)"
    OPTION_NAMES = {"time_limit": "max_time_in_seconds", "threads": "num_workers",
                    "mip_gap": "relative_gap_limit", "seed": "random_seed"}
    DEFAULT_OPTIONS: ClassVar[dict] = {}  # exactness needs no tolerance: the model is all-integer
    START_ACCEPTED = (HINT_ACCEPTED,)
    START_REJECTED = (HINT_REJECTED,)
    LOADS_STANDARD_FORM = True  # compile_cpsat reads instance.standard_form()

    @classmethod
    def _check_available(cls) -> tuple[bool, str]:
        try:
            from ortools.sat.python import cp_model  # noqa: F401
        except ImportError as exc:
            return False, f"OR-Tools is not installed ({exc}); pip install ortools"
        return True, ""

    @classmethod
    def version(cls) -> str:
        from mipnn_pyomo.solvers.cpsat_engine import ortools_version

        return f"OR-Tools {ortools_version()}"

    def _load(self, instance):
        from mipnn_pyomo.solvers.cpsat_engine import compile_cpsat

        return SimpleNamespace(compiled=compile_cpsat(instance), params={}, hint=False)

    def _apply_options(self, session, params):
        """Validated on a throwaway CpSolver (a misspelt name is one ModelConfigError) and read back
        from its SatParameters, with the two parameters the engine always sets."""
        from mipnn_pyomo.solvers.cpsat_engine import configure_solver, require_ortools

        session.params = dict(params)
        probe = require_ortools().CpSolver()
        configure_solver(probe, time_limit=None, threads=None, seed=None, params=params)
        held = {key: (list(v) if not isinstance(v := getattr(probe.parameters, key), (int, float, str, bool)) else v)
                for key in params}
        held.update(fix_variables_to_their_hinted_value=False, catch_sigint_signal=False)
        return held

    def _set_start(self, session, values):
        session.hint = True  # the engine hints ctx.start's forward-pass values (every variable)
        return None

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        from mipnn_pyomo.solvers.cpsat_engine import solve_cpsat

        instance = ctx.instance
        params = dict(session.params)
        params.pop(self.OPTION_NAMES["time_limit"], None)

        def on_solution(weights, objective, bound) -> bool:
            network = ctx.monitor.network_from_vector(weights)
            ctx.on_solver_incumbent(weights, float(instance.evaluate(network)), bound)
            return ctx.should_stop

        result = solve_cpsat(instance, time_limit=ctx.time_left(), threads=None, seed=None,
                             hint_network=ctx.start if session.hint else None, on_solution=on_solution,
                             should_stop=lambda: ctx.should_stop, params=params, verbose=ctx.options.verbose,
                             compiled=session.compiled)
        return engine_outcome(self, ctx, result, HINT_ACCEPTED, HINT_REJECTED)


def engine_outcome(adapter: SolverAdapter, ctx: SolveContext, result, accepted: str, rejected: str) -> RunOutcome:
    """RunOutcome of an :class:`~.standard_form.EngineResult` (shared by the cpsat and scip
    adapters): status (a stop by the callback names why), the forward-pass objective of the final
    network, the engine's bound and solution values, a log naming whether the start was used."""
    status = STOPPED.get(result.stop_reason) or STATUS.get(result.status, Termination.OTHER)
    lines = [f"{result.engine} {result.engine_version}: status {result.status}, stop {result.stop_reason}, "
             f"objective {result.objective}, bound {result.bound}, {result.wall_s:.2f} s"]
    if result.message:
        lines.append(result.message)
    if result.start_accepted is not None:
        lines.append(accepted if result.start_accepted else rejected)
    if not result.has_solution:
        return RunOutcome(status, None, result.bound, None, "\n".join(lines))
    network = ctx.monitor.network_from_vector(result.weights)
    objective = float(ctx.instance.evaluate(network))
    return RunOutcome(status, objective, result.bound, result.values, "\n".join(lines))
