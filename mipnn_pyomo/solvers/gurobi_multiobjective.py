"""Gurobi's hierarchical multi-objective solve of one instance with several objectives.

A lexicographic recipe (lexicographic.py) becomes ONE model with every stage's rows and a list of
:class:`ObjectivePass`; Gurobi optimises them in priority order (``Model.setObjectiveN``), each
pass keeping the values of the passes before it:

    pass p:  optimise f_p(x)  subject to the rows and, for every q < p,
             f_q(x) >= z_q  (maximised f_q)   or   f_q(x) <= z_q  (minimised f_q)

where z_q is the value pass q reached (its incumbent when its time ran out). Gurobi's model has ONE
sense: it maximises sum_p w_p f_p with w_p = +1 for maximised and -1 for minimised objectives
(``ModelSense = maximise``), priorities n, n - 1, ..., 1 in pass order, and no allowed degradation
(``ObjNAbsTol = ObjNRelTol = 0``): the held values are exact, as in the sequence of MIPs.

Time: pass p gets ``time_share`` of the time left when it starts (the last pass all of it), as the
recipe's stages do; a pass over its share is ended by ``cbStopOneMultiObj`` (its incumbent is
kept) and the next pass starts. The global ``TimeLimit`` bounds the whole solve.

The adapter is :class:`GurobiAdapter` (availability, the licence check, the persistent model and
its variable map) with the objectives, the callback and the result choice replaced: the result is
always Gurobi's final solution (the start is Gurobi's first incumbent, so nothing better is lost).
``passes_reached`` holds, after a solve, each pass's value, bound, status and time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mipnn_pyomo.errors import SolverError, SolverUnavailableError
from mipnn_pyomo.solvers.base import Capabilities, RunOutcome, SolveContext, Termination
from mipnn_pyomo.solvers.gurobi import _STATUS, GurobiAdapter


@dataclass(frozen=True)
class ObjectivePass:
    """One pass: ``name`` (an objective name or "accuracy"), its linear Pyomo ``expression`` on the
    instance's model, whether it is maximised, and its share of the time left when it starts."""

    name: str
    expression: Any
    maximise: bool
    time_share: float = 1.0


def linear_expression(expression, var_map):
    """The gurobipy LinExpr of a linear Pyomo ``expression`` (``var_map``: Pyomo var -> gurobipy var)."""
    import gurobipy as gp
    from pyomo.repn import generate_standard_repn

    repn = generate_standard_repn(expression, compute_values=True)
    if not repn.is_linear():
        raise SolverError("a multi-objective pass needs a linear objective")
    missing = [v.name for v in repn.linear_vars if v not in var_map]
    if missing:
        raise SolverError(f"objective variables not in Gurobi's model: {', '.join(missing[:5])}")
    return gp.LinExpr([float(c) for c in repn.linear_coefs], [var_map[v] for v in repn.linear_vars]) + float(
        repn.constant or 0.0)


class PassClock:
    """Which pass runs and whether it is over its share: pass p starts when p passes have ended
    (Gurobi's MULTIOBJ callback) and may run share_p * (time left then) seconds."""

    def __init__(self, shares: list[float], time_left):
        self.shares, self.time_left = shares, time_left
        self.current, self.started, self.stopped = 0, time.perf_counter(), set()
        self.budget = self._budget()

    def _budget(self) -> float | None:
        left = self.time_left()
        if left is None or self.current >= len(self.shares) - 1:
            return None  # the last pass: the global TimeLimit
        return self.shares[self.current] * left

    def next_pass(self, finished: int) -> None:
        self.current, self.started = int(finished), time.perf_counter()
        self.budget = self._budget()

    def over(self) -> bool:
        """True once, when the running pass has used its share."""
        if self.budget is None or self.current in self.stopped:
            return False
        if time.perf_counter() - self.started < self.budget:
            return False
        self.stopped.add(self.current)
        return True


class GurobiMultiObjectiveAdapter(GurobiAdapter):
    """Gurobi's hierarchical multi-objective optimisation of ``passes`` (module docstring)."""

    capabilities = Capabilities(accuracy_target_callback=False, objective_stop=False, warm_start=True, threads=True,
                                time_limit=True, mip_gap=True, seed=True)

    def __init__(self, passes: list[ObjectivePass], pass_start=None, complete=None) -> None:
        """``pass_start(p, network, seconds)``: a network at least as good on passes < p and on
        pass p, from the best network of pass p - 1 (e.g. a pruning heuristic; None: unchanged;
        ``seconds``: the pass's share of the time, the time left for the last pass);
        ``complete(network)``: values of the model's variables that ``TrainingInstance.start_values``
        does not give (e.g. the accuracy pass's variable)."""
        super().__init__()
        if len(passes) < 2:
            raise SolverError("a multi-objective solve needs at least two objectives")
        self.passes = list(passes)
        self.pass_start = pass_start or (lambda index, network, seconds: network)
        self.complete = complete or (lambda network: {})
        self.passes_reached: list[dict[str, Any]] = []

    def _load(self, instance):
        """The persistent model with one objective per pass: setObjectiveN(f_p, p, priority n - p,
        weight +-1, abstol 0, reltol 0), ModelSense maximise."""
        from gurobipy import GRB

        session = super()._load(instance)
        grb, n = session.grb, len(self.passes)
        grb.ModelSense = GRB.MAXIMIZE
        for index, objective in enumerate(self.passes):
            grb.setObjectiveN(linear_expression(objective.expression, session.var_map), index, priority=n - index,
                              weight=1.0 if objective.maximise else -1.0, abstol=0.0, reltol=0.0,
                              name=objective.name[:255])
        grb.update()
        return session

    def _apply_options(self, session, params):
        """Set on the gurobipy model itself (this adapter runs ``optimize`` directly); the log goes
        to the MESSAGE callback only (``LogToConsole`` 0 unless verbose)."""
        grb = session.grb
        for key, value in (("OutputFlag", 0), ("LogToConsole", 0), ("OutputFlag", 1)):  # silently
            grb.setParam(key, value)
        for key, value in params.items():
            grb.setParam(key, value)
        return {key: grb.getParamInfo(key)[2] for key in params}

    def _set_start(self, session, values):
        """The MIP start of the first pass (later passes start from the pass before)."""
        for var, value in values.items():
            if var in session.var_map:
                session.var_map[var].Start = float(value)
        return None

    def _wire_heuristic(self, session, ctx: SolveContext) -> None:
        """No local search inside the passes: each pass has its own objective."""

    def _callback(self, session, ctx: SolveContext):
        """MESSAGE: the log; MULTIOBJ: a pass ended (its network) and the next starts; the next
        pass's first MIPNODE: its start (below); any other point: end the pass when it is over its
        share (cbStopOneMultiObj), and the whole solve on SIGINT/SIGTERM."""
        from gurobipy import GRB

        clock = PassClock([p.time_share for p in self.passes], ctx.time_left)
        session.best, session.starting, session.error = None, None, None

        def callback(model, where) -> None:
            if where == GRB.Callback.MESSAGE:
                session.log.append(model.cbGet(GRB.Callback.MSG_STRING))
                if ctx.options.verbose:
                    print(session.log[-1], end="")
            elif where == GRB.Callback.MULTIOBJ:
                clock.next_pass(model.cbGet(GRB.Callback.MULTIOBJ_OBJCNT))
                session.best = model.cbGetSolution(session.weights)  # the finished pass's solution
                session.starting = clock.current
            elif where == GRB.Callback.MIPNODE and session.starting is not None:
                try:
                    self._start_pass(model, session, ctx, clock)
                except Exception as exc:  # raised again after optimize (Gurobi swallows callback errors)
                    session.error = exc
                    model.terminate()
            elif clock.over():
                session.stopped.add(clock.current)
                model.cbStopOneMultiObj(clock.current)
            if ctx.should_stop:
                model.terminate()

        return callback

    def _start_pass(self, model, session, ctx: SolveContext, clock: PassClock) -> None:
        """Pass p's start: the best network of pass p - 1, improved by ``pass_start``, with every
        variable at its forward-pass value (instance.start_values: indicators, margins, correct
        samples exactly as the network has them; Gurobi's own incumbent carries the previous
        objective's loose values, e.g. margins at 0), handed to Gurobi (cbSetSolution)."""
        index, session.starting = session.starting, None
        network = ctx.monitor.network_from_vector(session.best)
        network = self.pass_start(index, network, ctx.time_left() if clock.budget is None else clock.budget)
        values = ctx.solution_values(network)
        for var, value in self.complete(network).items():
            values[var] = value
        known = [(session.var_map[v], float(x)) for v, x in values.items() if v in session.var_map]
        model.cbSetSolution([g for g, _ in known], [x for _, x in known])
        objective = model.cbUseSolution()
        used = "taken" if objective < 1e100 else "not better than Gurobi's incumbent, or refused"
        session.log.append(f"mipnn: pass {index + 1}'s start from the network so far ({used})\n")

    def _run(self, session, ctx: SolveContext) -> RunOutcome:
        import gurobipy as gp

        grb = session.grb
        session.stopped = set()
        try:
            grb.optimize(self._callback(session, ctx))
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010:
                raise SolverUnavailableError(f"Gurobi refused the instance: {exc}; install a full licence") from None
            raise SolverError(f"Gurobi failed: {exc}") from None
        if session.error is not None:
            raise SolverError(f"a pass's start failed: {type(session.error).__name__}: {session.error}")
        log = "".join(session.log)
        self.passes_reached = self._read_passes(grb, session.stopped)
        if grb.SolCount == 0:
            return RunOutcome(_STATUS.get(grb.Status, Termination.OTHER), None, None, None, log)
        statuses = [p["status"] for p in self.passes_reached]
        status = Termination.OPTIMAL if statuses == ["optimal"] * len(self.passes) else Termination.TIME_LIMIT
        if grb.Status == 11:  # Ctrl-C (Gurobi catches SIGINT itself) or terminate(); never a pass's stop
            status = Termination.INTERRUPTED
        last = self.passes_reached[-1] if len(self.passes_reached) == len(self.passes) else {}
        pyomo_vars = list(session.var_map.keys())
        values = grb.getAttr("X", [session.var_map[v] for v in pyomo_vars])
        return RunOutcome(status, last.get("value"), last.get("bound"), self.solution_map(pyomo_vars, values), log)

    def _read_passes(self, grb, stopped: set[int]) -> list[dict[str, Any]]:
        """Per pass: its objective's name, the value it reached and its bound (in the objective's
        own sense), Gurobi's status ("time_limit" when its share ran out) and its seconds."""
        import gurobipy as gp

        out = []
        for p in range(min(int(grb.NumObjPasses), len(self.passes))):
            grb.Params.ObjPassNumber = p
            sign = 1.0 if self.passes[p].maximise else -1.0
            status = _STATUS.get(int(grb.ObjPassNStatus), Termination.OTHER)
            if p in stopped and status != Termination.OPTIMAL:
                status = Termination.TIME_LIMIT
            value = bound = None
            try:
                value, bound = sign * float(grb.ObjPassNObjVal), sign * float(grb.ObjPassNObjBound)
            except (gp.GurobiError, AttributeError):  # no incumbent in this pass
                pass
            out.append({"name": self.passes[p].name, "value": value, "bound": bound, "status": status.value,
                        "time_s": float(grb.ObjPassNRuntime)})
        return out

    def _pick_result(self, ctx: SolveContext, outcome: RunOutcome | None):
        """Gurobi's final solution, always (the holds are Gurobi's: a start or heuristic network
        with a better last objective may break them)."""
        if outcome is None or outcome.solution is None:
            return None
        instance = ctx.instance
        for var in instance.weight_variables():
            if var not in outcome.solution:
                outcome.solution[var] = float(var.value) if var.fixed and var.value is not None else 0.0
        network = ctx.monitor.network_from_vector([outcome.solution[v] for v in instance.weight_variables()])
        objective = outcome.objective if outcome.objective is not None else instance.evaluate(network)
        ctx.monitor.on_solution(network, objective, outcome.bound)
        return network, objective, "solver", outcome.solution

