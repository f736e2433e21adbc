"""A lexicographic recipe as ONE model solved by Gurobi's multi-objective optimisation.

A recipe is a *lexicographic chain* (:func:`chain_problem` decides it from the Stage records)
when it has two or more stages, no stage stops at the accuracy target, no objective repeats, and
every later stage holds exactly the values of all earlier stages (plus, optionally, the training
accuracy, which once held stays held). Of the registered recipes only ``bemi`` is one; ``paper``
has one stage, ``polish``, ``min-weight`` and ``prune`` start with a stage that stops at the target
(and ``min-weight``/``prune`` do not hold the primary objective).

Such a recipe with stages f_1, ..., f_S becomes one instance (instance.build_instance, with the
rows of every stage's objective: the held objectives' rows of the last stage, their hold rows
switched off) and the passes, in this priority order:

    f_1 (the primary objective),
    a = min(F, sum_k r_k)  maximised, F = ceil(target N) (N without a target), r_k the accuracy
        floor's "sample k predicted correctly" binaries (blocks.add_accuracy_floor, min_correct 0),
        written with one variable 0 <= a <= F and the row sum_k r_k >= a; only when a stage holds
        the accuracy, placed just before the first such stage,
    f_2, ..., f_S,

solved by :class:`~mipnn_pyomo.solvers.gurobi_multiobjective.GurobiMultiObjectiveAdapter`. The
sequence of MIPs holds the accuracy at min(F, correct samples of stage 1's network); the pass
``a`` holds min(F, the most correct samples among the networks optimal for f_1), which is the same
when stage 1's network reaches the target. After the solve the instance's ``holds`` are the values
the passes reached, so training.check_exactness verifies every one by forward pass.

Modes (``train_network(lexicographic=...)``, ``--lexicographic``): ``"sequence"`` (the recipe's
MIPs one after another), ``"gurobi"`` (this module; errors where it cannot run) and ``"auto"``
(:func:`use_multiobjective`: this module on Gurobi with a time limit, when the licence takes the
instance; else the sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from mipnn_pyomo.blocks import active_neuron_count, count_nonzero
from mipnn_pyomo.errors import ModelConfigError, SolverUnavailableError
from mipnn_pyomo.instance import ACCURACY, Hold, TrainingInstance, build_instance, hold_component_name
from mipnn_pyomo.network import IntegerNetwork
from mipnn_pyomo.objectives import get_objective
from mipnn_pyomo.recipes import PRIMARY, Recipe
from mipnn_pyomo.solvers.gurobi_multiobjective import GurobiMultiObjectiveAdapter, ObjectivePass

MODES = ("sequence", "gurobi", "auto")
DEFAULT_MODE = "auto"
ACCURACY_PASS_SHARE = 0.1  # the accuracy pass's share of the time left when it starts
GUROBI = "gurobi"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ModelConfigError(f"lexicographic must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def chain_problem(recipe: Recipe) -> str | None:
    """Why ``recipe`` is not a lexicographic chain (module docstring), or None when it is."""
    stages = recipe.stages
    names = [s.objective for s in stages]
    if len(stages) < 2:
        return "it has one stage"
    stopping = [i + 1 for i, s in enumerate(stages) if s.stop_at_target]
    if stopping:
        return f"stage {stopping[0]} stops at the accuracy target instead of optimising"
    if len(set(names)) != len(names):
        return "a stage repeats an earlier stage's objective"
    for index, stage in enumerate(stages):
        earlier, held = set(names[:index]), set(stage.holds) - {ACCURACY}
        if held != earlier:
            return f"stage {index + 1} holds {sorted(held) or 'nothing'}, not every earlier stage's value {sorted(earlier)}"
        if index and ACCURACY in stages[index - 1].holds and ACCURACY not in stage.holds:
            return f"stage {index + 1} drops the accuracy held by stage {index}"
    return None


def is_lexicographic(recipe: Recipe) -> bool:
    return chain_problem(recipe) is None


def use_multiobjective(mode: str, recipe: Recipe, solver: str, time_limit: float | None = None) -> bool:
    """Whether to run ``recipe`` by Gurobi's multi-objective optimisation. "sequence": never;
    "gurobi": always, or one clear error (not a chain, another solver, Gurobi unavailable; the
    licence is checked on the instance); "auto": when the solver is Gurobi (every stage's too), the
    recipe is a chain, Gurobi is available (the licence: :meth:`LexicographicPlan.fits`) and the run
    has a time limit. Measured (docs/results/generalisation.md): where both finish every stage
    they return the same network and the sequence is usually faster; where the limit stops a
    stage, the one model reached equal or better values (fewer non-zero weights)."""
    from mipnn_pyomo.solvers import get_solver

    check_mode(mode)
    if mode == "sequence":
        return False
    problem = chain_problem(recipe)
    solvers = {s.solver or solver for s in recipe.stages}
    if mode == "auto":
        return (time_limit is not None and problem is None and solvers == {GUROBI}
                and get_solver(GUROBI).is_available())
    if problem is not None:
        raise ModelConfigError(f"--lexicographic gurobi: recipe {recipe.name!r} is not a lexicographic chain: {problem}")
    if solvers != {GUROBI}:
        raise ModelConfigError(f"--lexicographic gurobi needs --solver gurobi for every stage, got {', '.join(sorted(solvers))}")
    get_solver(GUROBI).require_available()
    return True


@dataclass
class LexicographicPlan:
    """The one instance of a chain recipe, its passes and the adapter that solves them. ``solve``
    has an adapter's signature (training.solve_checked calls it); afterwards ``instance.holds`` are
    the values the passes reached and ``passes_reached`` what Gurobi reports per pass."""

    instance: TrainingInstance
    passes: list[ObjectivePass]
    stage_objectives: list[str]
    heuristics: dict[str, str | None]  # objective -> the recipe stage's start heuristic (heuristics/prune.py)
    accuracy_cap: int | None  # F of the accuracy pass (None: no accuracy pass)
    seed: int = 0
    adapter: GurobiMultiObjectiveAdapter | None = None
    passes_reached: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = GurobiMultiObjectiveAdapter(self.passes, self.pass_start, self.complete)

    @classmethod
    def build(cls, data, recipe: Recipe, primary: str, formulation, target_accuracy: float | None, seed: int = 0):
        names = [primary if s.objective == PRIMARY else s.objective for s in recipe.stages]
        accuracy_at = next((i for i, s in enumerate(recipe.stages) if ACCURACY in s.holds), None)
        loose = [Hold(n, 0.0) for n in names[:-1]] + ([Hold(ACCURACY, 0)] if accuracy_at is not None else [])
        instance = build_instance(data, names[-1], formulation, loose)
        m, passes, cap = instance.model, [], None
        for index, (stage, name) in enumerate(zip(recipe.stages, names)):
            if index == accuracy_at:
                cap = data.n_samples if target_accuracy is None else math.ceil(target_accuracy * data.n_samples - 1e-9)
                passes.append(ObjectivePass(ACCURACY, _capped_accuracy(m, cap), True, ACCURACY_PASS_SHARE))
            if index == len(names) - 1:
                expression = m.objective.expr
            else:
                row = getattr(m, hold_component_name(name))
                row.deactivate()  # held by Gurobi's passes, not by a row
                expression = row.body
            share = 1.0 if index == len(names) - 1 else stage.time_share
            passes.append(ObjectivePass(name, expression, get_objective(name).maximises, share))
        instance.sizes = _sizes(m)
        heuristics = {name: stage.heuristic for name, stage in zip(names, recipe.stages)}
        return cls(instance, passes, names, heuristics, cap, seed)

    def complete(self, network: IntegerNetwork) -> ComponentMap:
        """The accuracy pass's a = min(F, correct samples) of ``network`` (start values)."""
        values = ComponentMap()
        if self.accuracy_cap is not None:
            values[self.instance.model.lex_accuracy] = float(min(self.accuracy_cap, _correct(network, self.instance.data)))
        return values

    def pass_start(self, index: int, network: IntegerNetwork, seconds: float | None) -> IntegerNetwork:
        """Pass ``index``'s start from the best network so far: its recipe stage's heuristic
        (heuristics/prune.py; 25% of the pass's time for coordinate search, else 10%, as the
        sequence) keeping every earlier pass's objective at least at the network's own value."""
        from mipnn_pyomo.heuristics.prune import coordinate_search, prune_neurons, prune_weights

        name = self.passes[index].name
        heuristic = self.heuristics.get(name)
        if heuristic is None:
            return network
        d, earlier = self.instance.data, [p.name for p in self.passes[:index]]
        holds = [Hold(ACCURACY, min(self.accuracy_cap, _correct(network, d))) if n == ACCURACY else
                 Hold(n, get_objective(n).evaluate(network, d.X, self.instance.outputs)) for n in earlier]
        keeps = lambda net: all(h.met_by(self.instance, net) for h in holds)  # noqa: E731
        share = 0.25 if heuristic == "coordinate-search" else 0.1
        limit = None if seconds is None else max(0.5, share * seconds)
        if heuristic == "coordinate-search":
            spec = get_objective(name)
            value = lambda net: spec.evaluate(net, d.X, self.instance.outputs)  # noqa: E731
            return coordinate_search(network, value, spec.better, keeps, seed=self.seed, time_limit=limit)[0]
        prune = prune_neurons if heuristic == "prune-neurons" else prune_weights
        return prune(network, keeps, seed=self.seed, time_limit=limit)[0]

    def fits(self) -> bool:
        """Whether Gurobi's licence takes the instance (SolverUnavailableError otherwise)."""
        try:
            self.adapter.check_instance(self.instance)
        except SolverUnavailableError:
            return False
        return True

    def start(self, network: IntegerNetwork | None, options) -> IntegerNetwork | None:
        """The MIP start: ``network`` (a warm start), else the heuristic's construction for the
        primary objective (when the heuristic is on), else None."""
        if network is not None or not options.heuristic:
            return network
        from mipnn_pyomo.heuristics.driver import HeuristicDriver
        from mipnn_pyomo.solvers.base import IncumbentMonitor

        view = replace(self.instance, objective=self.stage_objectives[0], holds=())
        driver = HeuristicDriver(view, options, IncumbentMonitor(view, options))
        return driver.construct(options.time_limit)

    def solve(self, instance: TrainingInstance, options, warm_start: IntegerNetwork | None = None):
        """Gurobi's passes (no target stop, no local search inside); then ``instance.holds``."""
        result = self.adapter.solve(instance, replace(options, heuristic=False, target_accuracy=None), warm_start)
        self.passes_reached = self.adapter.passes_reached
        instance.holds = self.reached_holds()
        return result

    def reached_holds(self) -> tuple[Hold, ...]:
        """Every pass but the last as a Hold of the value it reached (the accuracy: whole samples)."""
        holds = []
        for reached in self.passes_reached[: len(self.passes) - 1]:
            if reached["value"] is None:
                continue
            value = math.floor(reached["value"] + 1e-6) if reached["name"] == ACCURACY else reached["value"]
            holds.append(Hold(reached["name"], value))
        return tuple(holds)

    def stage_records(self, network: IntegerNetwork, build_s: float) -> list[dict[str, Any]]:
        """One record per recipe stage, the sequence's keys (training.RecipeRun._record): what it
        held (the passes before it), Gurobi's pass status, value (forward pass) and bound."""
        by_name, data = {r["name"]: r for r in self.passes_reached}, self.instance.data
        holds, records = [], []
        for index, name in enumerate(self.stage_objectives):
            accuracy = by_name.get(ACCURACY, {}).get("value")
            if index and accuracy is not None and not any(h["name"] == ACCURACY for h in holds):
                holds.append(_hold_dict(by_name[ACCURACY]))
            reached = by_name.get(name, {"name": name, "status": "skipped", "value": None, "bound": None,
                                         "time_s": 0.0, "reason": "the solve ended before this pass"})
            records.append({"reason": reached.get("reason"),
                "stage": index + 1, "objective": name, "holds": list(holds), "solver": GUROBI,
                "method": "gurobi multi-objective", "status": reached["status"], "time_s": reached["time_s"],
                "build_s": build_s if index == 0 else 0.0, "solve_s": reached["time_s"], "start_value": None,
                "value": get_objective(name).evaluate(network, data.X, self.instance.outputs),
                "pass_value": reached["value"], "bound": reached["bound"],
                "train_accuracy": network.accuracy(data.X, data.y),
                "nonzero_parameters": count_nonzero(network), "neurons_in_use": active_neuron_count(network),
                "source": "solver",
            })
            if reached["value"] is not None:
                holds.append(_hold_dict(reached))
        return records


def _hold_dict(reached: dict[str, Any]) -> dict[str, Any]:
    value = reached["value"]
    if reached["name"] == ACCURACY and value is not None:
        value = math.floor(value + 1e-6)
    return {"name": reached["name"], "value": value}


def _correct(network: IntegerNetwork, data) -> int:
    return int(sum(network.predict_index(data.X) == data.y))


def _capped_accuracy(m, cap: int):
    """a in [0, cap] with sum_k r_k >= a (the accuracy pass maximises a = min(cap, sum_k r_k))."""
    m.lex_accuracy = pyo.Var(bounds=(0, int(cap)), doc="min(cap, correctly predicted samples)")
    m.lex_accuracy_row = pyo.Constraint(expr=sum(m.r[k] for k in m.SAMPLES) >= m.lex_accuracy)
    return m.lex_accuracy


def _sizes(m) -> dict[str, int]:
    n_vars = sum(len(v) for v in m.component_objects(pyo.Var, active=True, descend_into=True))
    n_cons = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return {"variables": n_vars, "constraints": n_cons}


__all__ = ["DEFAULT_MODE", "MODES", "LexicographicPlan", "chain_problem", "check_mode", "is_lexicographic",
           "use_multiobjective"]
