"""Training: data -> Pyomo instance -> solver -> exactly verified integer network.

    >>> from mipnn_pyomo.training import train_network
    >>> result = train_network(X, y, hidden=(16,), P=1, objective="sat-margin", solver="highs")
    >>> result.network.accuracy(X, y) == result.train_accuracy
    True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from mipnn_pyomo.errors import ExactnessError, ModelConfigError
from mipnn_pyomo.solvers import DEFAULT_SOLVER  # its own line: the default engine (solvers/__init__.py)
from mipnn_pyomo.formulation import FormulationOptions, ProblemData, implied_activations_and_scores
from mipnn_pyomo.instance import ACCURACY, Hold, TrainingInstance, build_instance
from mipnn_pyomo.matrix_form import rows_for
from mipnn_pyomo.network import IntegerNetwork, row_keys, tie_break_argmax
from mipnn_pyomo.objectives import OutputContext, get_objective
from mipnn_pyomo.sizing import SingleMIPSizeCheck
from mipnn_pyomo.recipes import DEFAULT_RECIPE, PRIMARY, Recipe, Stage, get_recipe
from mipnn_pyomo.solvers import SolveOptions, SolveResult, Termination, get_solver


@dataclass
class ExactnessReport:
    """Agreement of the MIP's own variables with the forward pass on the training samples."""

    activations_match: bool
    scores_match: bool
    predictions_match: bool
    mip_accuracy: float
    forward_accuracy: float
    mip_objective: float | None = None
    forward_objective: float | None = None
    objective_consistent: bool = True
    mismatched_samples: list[int] = field(default_factory=list)
    holds_met: bool = True  # the forward pass keeps every held value of the instance (recipes)

    @property
    def ok(self) -> bool:
        return (self.activations_match and self.scores_match and self.predictions_match and self.objective_consistent
                and self.holds_met)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "activations_match": self.activations_match,
            "scores_match": self.scores_match,
            "predictions_match": self.predictions_match,
            "mip_accuracy": self.mip_accuracy,
            "forward_accuracy": self.forward_accuracy,
            "mip_objective": self.mip_objective,
            "forward_objective": self.forward_objective,
            "objective_consistent": self.objective_consistent,
            "holds_met": self.holds_met,
            "mismatched_samples": self.mismatched_samples[:20],
        }


def check_exactness(instance: TrainingInstance, network: IntegerNetwork, solution=None) -> ExactnessReport:
    """Compare a MIP solution with ``network``'s forward pass on the training data: hidden
    activations 2u - 1, output scores s and the predictions argmax(s) (same tie rule) must agree,
    and the MIP's objective may not promise more than the network delivers by forward pass
    (maximise: MIP <= forward; minimise: MIP >= forward), and the network must keep the instance's
    held values (recipes' stages: ``instance.holds``). ``solution`` (a solve's
    ``SolveResult.solution``: every variable's value) is loaded into the model first by
    ``solvers.base.load_solution``; without it the model's current values are compared."""
    import pyomo.environ as pyo

    from mipnn_pyomo.solvers.base import load_solution

    if solution is not None:
        load_solution(instance, solution)
    d = instance.data
    mip_acts, mip_scores = implied_activations_and_scores(instance.model, d)
    fwd_acts, fwd_scores = network.forward(d.X)
    bad = np.zeros(d.n_samples, dtype=bool)
    acts_ok = True
    for a, b in zip(mip_acts, fwd_acts):
        rows = np.any(a != b, axis=1)
        acts_ok &= not rows.any()
        bad |= rows
    score_rows = np.any(mip_scores != fwd_scores, axis=1)
    bad |= score_rows
    mip_pred = tie_break_argmax(mip_scores, network.tie_seed, row_keys(d.X, d.decimals))
    fwd_pred = network.predict_index(d.X)
    pred_ok = bool(np.all(mip_pred == fwd_pred))
    mip_obj = pyo.value(instance.model.objective, exception=False)
    fwd_obj = instance.evaluate(network)
    consistent = True
    if mip_obj is not None:
        tol = 1e-6 * max(1.0, abs(fwd_obj))
        consistent = mip_obj <= fwd_obj + tol if instance.sense == "maximize" else mip_obj >= fwd_obj - tol
    return ExactnessReport(
        activations_match=bool(acts_ok),
        scores_match=not bool(score_rows.any()),
        predictions_match=pred_ok,
        mip_accuracy=float(np.mean(mip_pred == d.y)),
        forward_accuracy=float(np.mean(fwd_pred == d.y)),
        mip_objective=None if mip_obj is None else float(mip_obj),
        forward_objective=float(fwd_obj),
        objective_consistent=bool(consistent),
        mismatched_samples=np.flatnonzero(bad).tolist(),
        holds_met=instance.holds_met(network),
    )


@dataclass
class TrainResult:
    network: IntegerNetwork
    solve: SolveResult
    instance: TrainingInstance
    objective: str
    train_accuracy: float
    build_s: float
    runtime_s: float
    exactness: ExactnessReport | None
    warm_start: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None  # recipes other than "paper": the stages run (training_stages)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (and deep-copied) without ``instance``: its Pyomo model holds local functions
        that cannot be pickled (e.g. a pickled estimator's ``training_record_``)."""
        return {**self.__dict__, "instance": None}

    @property
    def status(self) -> str:
        return self.solve.termination.value

    def summary(self) -> dict[str, Any]:
        d = self.instance.data
        out = {
            "objective": self.objective,
            "P": d.P,
            "P_first": d.P_first,
            "hidden": list(d.hidden),
            "n_train": d.n_samples,
            "status": self.status,
            "target_reached": self.solve.target_reached,
            "train_accuracy": self.train_accuracy,
            "objective_value": self.solve.objective,
            "objective_bound": self.solve.bound,
            "gap": self.solve.gap,
            "build_s": self.build_s,
            "solve_s": self.solve.wall_s,
            "runtime_s": self.runtime_s,
            "model_size": self.instance.sizes,
            "formulation": self.instance.options.to_dict(),
            "exact": self.exactness.ok if self.exactness else None,
            "network_objective_value": self.exactness.forward_objective if self.exactness else None,
            "warm_start": self.warm_start,
            "recipe": self.recipe["name"] if self.recipe else "paper",
            "recipe_stages": self.recipe["stages"] if self.recipe else None,
            "final_network_source": self.recipe["final_source"] if self.recipe else self.solve.source,
        }
        out.update({k: v for k, v in self.solve.summary().items() if k not in out})
        return out


START_TARGET = "start"  # target_accuracy: the warm start's own training accuracy


@dataclass(frozen=True)
class PreparedStart:
    """A warm start already made (for ``target_accuracy="start"``): the network and its record."""

    network: IntegerNetwork
    info: dict


def _gd_start(data: ProblemData, margin: float, seed: int, time_limit: float | None) -> PreparedStart:
    """The GD network used as MIP start (limit min(30 s, the run's))."""
    from mipnn_pyomo.gd import train_gd

    gd = train_gd(data.X, data.y, data.n_classes, hidden=tuple(data.hidden), P=data.P, seed=seed,
                  target_accuracy=None, time_limit=min(30.0, time_limit or 30.0), margin=margin, P_first=data.P_first)
    return PreparedStart(gd.network, {"method": "gd", "gd_runtime_s": gd.runtime_s})


def _prepare_start(warm_start, data: ProblemData, margin: float, seed: int, time_limit) -> PreparedStart | None:
    """``warm_start`` ("gd", a network, a :class:`PreparedStart` or None) made into a PreparedStart."""
    if warm_start is None or isinstance(warm_start, PreparedStart):
        return warm_start
    if isinstance(warm_start, str):
        if warm_start != "gd":
            raise ModelConfigError(f"unknown warm start {warm_start!r}; use 'gd' or pass an IntegerNetwork")
        return _gd_start(data, margin, seed, time_limit)
    return PreparedStart(warm_start, {"method": "network"})


def _start_target(target_accuracy, warm_start, data: ProblemData, formulation, options: SolveOptions):
    """(solve options, warm start): ``target_accuracy="start"`` becomes the warm start's own
    training accuracy (by forward pass), so every network the solver returns is at least as
    accurate on the training rows as the start."""
    if target_accuracy != START_TARGET:
        raise ModelConfigError(f"target accuracy must be a number in (0, 1], None or 'start', got {target_accuracy!r}")
    if warm_start is None:
        raise ModelConfigError("target accuracy 'start' needs a warm start (warm_start='gd' or a network)")
    seed = 0 if options.seed is None else int(options.seed)
    start = _prepare_start(warm_start, data, (formulation or FormulationOptions()).margin, seed, options.time_limit)
    accuracy = max(start.network.accuracy(data.X, data.y), 1.0 / data.n_samples)
    return replace(options, target_accuracy=accuracy), start


def _warm_start(warm_start, instance: TrainingInstance, *, seed: int, time_limit: float | None):
    """(start network or None, warm-start info or None) for ``warm_start`` ("gd", a network, a
    :class:`PreparedStart`, None)."""
    data = instance.data
    start = _prepare_start(warm_start, data, instance.options.margin, seed, time_limit)
    if start is None:
        return None, None
    start_network, warm_info = start.network, dict(start.info)
    if (start_network.hidden != list(data.hidden) or start_network.n_inputs != data.n_features
            or start_network.P != data.P or start_network.layer_P(1) != data.layer_P(1)):
        raise ModelConfigError("the warm-start network's architecture, P or P_first differs from the one being trained")
    warm_info["train_accuracy"] = start_network.accuracy(data.X, data.y)
    warm_info["objective_value"] = instance.evaluate(start_network)
    return start_network, warm_info


def train_network(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int | None = None,
    hidden: Sequence[int] = (16,),
    P: int = 1,
    objective: str = "sat-margin",
    solver: str = DEFAULT_SOLVER,
    time_limit: float | None = None,
    threads: int | None = None,
    mip_gap: float | None = None,
    seed: int | None = None,
    target_accuracy: float | str | None = 0.9,
    formulation: FormulationOptions | None = None,
    warm_start: IntegerNetwork | str | None = None,
    solver_options: dict[str, Any] | None = None,
    verbose: bool = False,
    progress=None,
    decimals: int = 4,
    strict: bool = True,
    heuristic: bool = True,
    recipe: str | Recipe = DEFAULT_RECIPE,
    lexicographic: str = "auto",
    P_first: int | None = None,
) -> TrainResult:
    """Train an integer network on (X, y) by one MIP, or by a recipe's sequence of MIPs.

    ``y`` holds class indices 0..n_classes-1. ``warm_start`` is a network or ``"gd"`` (train the
    gradient-descent baseline first and hand it to the solver as a MIP start). ``heuristic`` runs
    the local-search primal heuristic (heuristics.driver) with every solver. With ``strict`` an
    :class:`ExactnessError` is raised if the MIP's implied predictions differ from the forward pass.
    ``recipe`` (a name of :data:`mipnn_pyomo.recipes.RECIPES` or a Recipe): ``"paper"`` is one MIP
    that stops at the first network with ``target_accuracy``; the others run their stages in the
    one ``time_limit`` (recipes.py). A structure objective (min-weight, min-neurons, neuron-margin)
    under "paper" is one MIP with the accuracy floor ceil(target N) as a constraint.
    ``target_accuracy="start"``: the warm start's own training accuracy (it needs ``warm_start``;
    with ``recipe="polish"`` the solver then improves sat-margin, margins or sparsity while the
    training accuracy stays at least the start's). ``P_first``
    (None: P) bounds the first layer's weights and biases (formulation.py).
    ``lexicographic`` ("sequence", "gurobi", "auto"): how a lexicographic recipe (``bemi``) runs,
    as its sequence of MIPs or as one model of Gurobi's multi-objective optimisation (lexicographic.py)."""
    from mipnn_pyomo.lexicographic import check_mode

    t_start = time.perf_counter()
    check_mode(lexicographic)
    spec = get_objective(objective)
    plan = get_recipe(recipe)
    solver_adapter = get_solver(solver)
    solver_adapter.require_available()
    hidden = tuple(int(h) if isinstance(h, (int, np.integer)) and not isinstance(h, bool) else h for h in hidden)
    y_arr = np.asarray(y)
    if n_classes is None:
        n_classes = int(y_arr.max()) + 1 if y_arr.size and np.issubdtype(y_arr.dtype, np.integer) else 2
    data = ProblemData(X, y_arr, n_classes, hidden, P, decimals, P_first)
    start_target = isinstance(target_accuracy, str)
    options = SolveOptions.from_mapping(
        solver_options,
        time_limit=time_limit,
        threads=threads,
        mip_gap=mip_gap,
        seed=seed,
        target_accuracy=None if start_target else target_accuracy,
        verbose=verbose,
        progress=progress,
        heuristic=heuristic,
    )
    seed = 0 if options.seed is None else int(options.seed)
    if start_target:
        options, warm_start = _start_target(target_accuracy, warm_start, data, formulation, options)
    size_check = SingleMIPSizeCheck(data.n_samples, data.n_features, data.hidden, data.n_classes, options.time_limit)
    if not plan.is_paper:
        _check_primary(plan, spec)
        trained = RecipeRun(data, plan, objective, solver, options, formulation, strict, seed,
                            lexicographic=lexicographic).run(warm_start, t_start)
    else:
        trained = _single_solve(data, objective, solver_adapter, options, formulation, warm_start, strict, seed, t_start)
    if start_target and trained.warm_start is not None:
        trained.warm_start["target_accuracy"] = options.target_accuracy  # what "start" resolved to
    return size_check.after(trained, data.y)  # warns if no better than the majority class (points to --batch-size)


def _single_solve(data: ProblemData, objective: str, solver_adapter, options: SolveOptions, formulation,
                  warm_start, strict: bool, seed: int, t_start: float) -> TrainResult:
    """The "paper" recipe: one instance, one solve, the exactness check."""
    holds: tuple[Hold, ...] = ()
    if not get_objective(objective).score_based:
        options, holds = _structure_alone(objective, data, options)
    instance = build_instance(data, objective, formulation, holds, rows=rows_for(solver_adapter))  # numpy rows if it can
    solver_adapter.check_instance(instance)
    start_network, warm_info = _warm_start(warm_start, instance, seed=seed, time_limit=options.time_limit)
    if start_network is not None and not instance.holds_met(start_network):
        start_network, warm_info["kept_out"] = None, "the warm start misses the accuracy floor"
    result, report = solve_checked(solver_adapter, instance, options, start_network, strict)
    if warm_info is not None:
        warm_info["accepted"] = result.warm_start_accepted
    return TrainResult(
        network=result.network,
        solve=result,
        instance=instance,
        objective=objective,
        train_accuracy=result.train_accuracy,
        build_s=instance.build_s,
        runtime_s=time.perf_counter() - t_start,
        exactness=report,
        warm_start=warm_info,
    )


def _check_primary(plan: Recipe, spec) -> None:
    if not spec.score_based:
        raise ModelConfigError(f"recipe {plan.name!r} needs an objective on the output scores (max-correct, "
                               f"min-hinge, sat-margin) as its primary objective, not {spec.name!r}")


def _structure_alone(objective: str, data: ProblemData, options: SolveOptions) -> tuple[SolveOptions, tuple]:
    """A structure objective as one MIP: the accuracy target becomes the floor ceil(target N) (a
    constraint, so no target stop) and the score-based local search is off."""
    if options.target_accuracy is None:
        raise ModelConfigError(f"objective {objective!r} needs a target accuracy (its accuracy floor)")
    floor = int(math.ceil(options.target_accuracy * data.n_samples - 1e-9))
    return replace(options, target_accuracy=None, heuristic=False), (Hold(ACCURACY, floor),)


def solve_checked(adapter, instance: TrainingInstance, options: SolveOptions, start_network: IntegerNetwork | None,
                  strict: bool) -> tuple[SolveResult, ExactnessReport]:
    """One solve of ``instance`` and the exactness check of its network (raises ExactnessError
    when ``strict`` and the check fails)."""
    result = adapter.solve(instance, options, warm_start=start_network)
    report = check_exactness(instance, result.network, result.solution)
    if strict and not report.ok:
        raise ExactnessError(
            f"MIP and forward pass disagree on {len(report.mismatched_samples)} training samples "
            f"(MIP accuracy {report.mip_accuracy:.4f}, forward {report.forward_accuracy:.4f}; "
            f"objective MIP {report.mip_objective}, forward {report.forward_objective}; "
            f"held values kept: {report.holds_met}); tighten the solver's feasibility tolerances"
        )
    return result, report


# ------------------------------------------------------------------------------ recipes (stages)

MIN_STAGE_SECONDS = 2.0  # a later stage with less time left than this is skipped


@dataclass
class RecipeRun:
    """One run of a recipe's stages (recipes.py) on ``data``: each stage builds its instance
    (objective + the holds of the values reached so far), starts from the network so far (changed
    first where the stage says so), solves with its share of the time left and passes the
    exactness check (the forward pass keeps every hold). Records each stage for the model file."""

    data: ProblemData
    recipe: Recipe
    primary: str
    solver: str
    options: SolveOptions
    formulation: FormulationOptions | None
    strict: bool
    seed: int
    stages: list[dict[str, Any]] = field(default_factory=list)
    lexicographic: str = "sequence"  # or "gurobi" / "auto": Gurobi's multi-objective optimisation (lexicographic.py)

    def run(self, warm_start, t_start: float) -> TrainResult:
        plan = self._multiobjective_plan()
        if plan is not None:
            return self._run_multiobjective(plan, warm_start, t_start)
        network, last, warm_info, build_s = None, None, None, 0.0
        for index, stage in enumerate(self.recipe.stages):
            budget = self._budget(index, t_start)
            interrupted = last is not None and last[0].solve.termination == Termination.INTERRUPTED
            if interrupted or (budget is not None and budget < MIN_STAGE_SECONDS and network is not None):
                self.stages.append({"stage": index + 1, "objective": self._objective(stage), "status": "skipped",
                                    "reason": "interrupted" if interrupted else f"{budget:.1f} s left"})
                continue
            last, info = self._run_stage(index, stage, network, warm_start if index == 0 else None, budget)
            network, build_s = last[0].network, build_s + last[0].instance.build_s
            warm_info = info if index == 0 else warm_info
        result, report = last
        return replace(result, objective=self.primary, build_s=build_s, runtime_s=time.perf_counter() - t_start,
                       exactness=report, warm_start=warm_info, recipe=self._summary())

    def _multiobjective_plan(self):
        """The one-model plan of Gurobi's multi-objective optimisation (lexicographic.py) when the
        mode asks for it (and, for "auto", the licence takes the instance); None: the sequence."""
        from mipnn_pyomo.lexicographic import LexicographicPlan, use_multiobjective

        if not use_multiobjective(self.lexicographic, self.recipe, self.solver, self.options.time_limit):
            return None
        plan = LexicographicPlan.build(self.data, self.recipe, self.primary, self.formulation,
                                       self.options.target_accuracy, self.seed)
        return None if self.lexicographic == "auto" and not plan.fits() else plan

    def _run_multiobjective(self, plan, warm_start, t_start: float) -> TrainResult:
        """The recipe's stages as Gurobi's passes on one instance: start (warm start, else the
        heuristic's construction), solve, exactness check (every pass's value held by forward pass)."""
        instance, limit = plan.instance, self.options.time_limit
        start, info = _warm_start(warm_start, instance, seed=self.seed, time_limit=limit)
        left = None if limit is None else max(0.01, limit - (time.perf_counter() - t_start))
        start = plan.start(start, replace(self.options, time_limit=left))
        left = None if limit is None else max(0.01, limit - (time.perf_counter() - t_start))
        result, report = solve_checked(plan, instance, replace(self.options, time_limit=left), start, self.strict)
        if info is not None:
            info["accepted"] = result.warm_start_accepted
        self.stages = plan.stage_records(result.network, instance.build_s)
        return TrainResult(network=result.network, solve=result, instance=instance, objective=self.primary,
                           train_accuracy=result.train_accuracy, build_s=instance.build_s,
                           runtime_s=time.perf_counter() - t_start, exactness=report, warm_start=info,
                           recipe={**self._summary(), "lexicographic": "gurobi"})

    def _objective(self, stage: Stage) -> str:
        return self.primary if stage.objective == PRIMARY else stage.objective

    def _budget(self, index: int, t_start: float) -> float | None:
        """The stage's seconds: its share of the time left (the last stage: all of it)."""
        if self.options.time_limit is None:
            return None
        left = self.options.time_limit - (time.perf_counter() - t_start)
        share = 1.0 if index == len(self.recipe.stages) - 1 else self.recipe.stages[index].time_share
        return max(0.0, left * share)

    def _holds(self, stage: Stage, instance_of_network) -> tuple[Hold, ...]:
        """The stage's held values, measured on the network so far by forward pass: the accuracy
        floor min(ceil(target N), its correct samples); objectives at its value."""
        network, outputs = instance_of_network
        d, holds = self.data, []
        for name in stage.holds:
            if name == ACCURACY:
                correct = int(np.sum(network.predict_index(d.X) == d.y))
                target = self.options.target_accuracy
                floor = correct if target is None else min(correct, int(math.ceil(target * d.n_samples - 1e-9)))
                holds.append(Hold(ACCURACY, floor))
            else:
                objective = self.primary if name == PRIMARY else name
                holds.append(Hold(objective, get_objective(objective).evaluate(network, d.X, outputs)))
        return tuple(holds)

    def _run_stage(self, index: int, stage: Stage, network: IntegerNetwork | None, warm_start, budget):
        """((TrainResult, ExactnessReport), warm-start info) of one stage."""
        t0 = time.perf_counter()
        objective = self._objective(stage)
        if network is None and stage.holds:
            raise ModelConfigError(f"recipe {self.recipe.name!r}: the first stage has no earlier values to hold")
        outputs = OutputContext.of(self.data, self.formulation)
        holds = () if network is None else self._holds(stage, (network, outputs))
        instance = build_instance(self.data, objective, self.formulation, holds)
        adapter = get_solver(stage.solver or self.solver)
        adapter.require_available()
        adapter.check_instance(instance)
        start, info, changes = network, None, 0
        start_value = None if network is None else instance.evaluate(network)
        if network is None:
            start, info = _warm_start(warm_start, instance, seed=self.seed, time_limit=budget)
        elif stage.heuristic:
            start, changes = self._start_heuristic(stage, instance, network, budget)
        heuristic = self.options.heuristic and get_objective(objective).score_based and instance.holds_on_scores
        searched = None
        if network is not None and heuristic:
            start, searched = self._search_start(instance, start, budget)
        left = None if budget is None else max(0.01, budget - (time.perf_counter() - t0))
        options = replace(self.options, time_limit=left, heuristic=heuristic,
                          target_accuracy=self.options.target_accuracy if stage.stop_at_target else None)
        result, report = solve_checked(adapter, instance, options, start, self.strict)
        if info is not None:
            info["accepted"] = result.warm_start_accepted
        record = self._record(index, holds, result, instance, (network, start), start_value, t0)
        record.update(start_heuristic=stage.heuristic, heuristic_changes=changes, local_search=searched)
        if record["source"] == "heuristic":
            record["source"] = f"heuristic ({stage.heuristic})" if changes else "heuristic (local search)"
        self.stages.append(record)
        trained = TrainResult(network=result.network, solve=result, instance=instance, objective=objective,
                              train_accuracy=result.train_accuracy, build_s=instance.build_s,
                              runtime_s=time.perf_counter() - t0, exactness=report, warm_start=info)
        return (trained, report), info

    def _search_start(self, instance: TrainingInstance, start: IntegerNetwork, budget: float | None):
        """(start, what the search did): the local search of heuristics/ (the stage's objective,
        every hold kept) from the network so far, for up to a quarter of the stage's time."""
        from mipnn_pyomo.heuristics.improver import IncumbentImprover

        limit = 20.0 if budget is None else min(60.0, 0.25 * budget)
        improver = IncumbentImprover(instance, time_budget=max(limit, 0.1), seed=self.seed, total_budget=None)
        t0 = time.perf_counter()
        improved, value, before = improver.improve(start)
        found = instance.spec.better(value, before) and instance.holds_met(improved)
        info = {"from": before, "to": value if found else before, "time_s": time.perf_counter() - t0}
        return (improved if found else start), info

    def _start_heuristic(self, stage: Stage, instance: TrainingInstance, network: IntegerNetwork,
                         budget: float | None):
        """(start, changes) from the stage's heuristic (heuristics/prune.py) on the network so far:
        parameters or whole neurons zeroed, or single parameters changed where the stage's
        objective improves, every hold kept (forward pass); at most 10% of the stage's time
        (coordinate search: 25%)."""
        from mipnn_pyomo.heuristics.prune import coordinate_search, prune_neurons, prune_weights

        share = 0.25 if stage.heuristic == "coordinate-search" else 0.1
        limit = None if budget is None else max(0.5, share * budget)
        if stage.heuristic == "coordinate-search":
            spec = instance.spec
            return coordinate_search(network, instance.evaluate, spec.better, instance.holds_met, seed=self.seed,
                                     time_limit=limit)
        prune = prune_neurons if stage.heuristic == "prune-neurons" else prune_weights
        return prune(network, instance.holds_met, seed=self.seed, time_limit=limit)

    def _record(self, index: int, holds, result: SolveResult, instance: TrainingInstance, networks,
                start_value: float | None, t0: float) -> dict[str, Any]:
        """One stage for the model file: what it held, its solver's status and bound, its value
        (``start_value``: the previous stage's network's), and who produced its network: the
        solver (a network other than its start), the heuristic (the start, changed by pruning or
        local search), or nobody (the previous stage's network came back unchanged)."""
        from mipnn_pyomo.blocks import active_neuron_count, count_nonzero

        previous, start = networks
        network = result.network
        if previous is None:
            source = result.source
        elif not np.array_equal(network.to_vector(), start.to_vector()):
            improved = instance.spec.better(instance.evaluate(network), instance.evaluate(start))
            source = "solver" if improved else "solver (another network, same value)"
        else:
            source = "previous stage" if np.array_equal(start.to_vector(), previous.to_vector()) else "heuristic"
        return {
            "stage": index + 1, "objective": instance.objective, "holds": [h.to_dict() for h in holds],
            "solver": result.solver, "status": result.termination.value, "time_s": time.perf_counter() - t0,
            "build_s": instance.build_s, "solve_s": result.wall_s, "start_value": start_value,
            "value": instance.evaluate(network), "bound": result.bound, "train_accuracy": result.train_accuracy,
            "nonzero_parameters": count_nonzero(network), "neurons_in_use": active_neuron_count(network),
            "source": source,
        }

    def _summary(self) -> dict[str, Any]:
        changed = [s for s in self.stages if s.get("status") != "skipped" and s.get("source") != "previous stage"]
        last = changed[-1] if changed else None
        return {"name": self.recipe.name, "stages": self.stages,
                "final_source": None if last is None else f"stage {last['stage']} ({last['objective']}): {last['source']}"}


# ------------------------------------------------------------------------------ training records


@dataclass
class TrainingRecord:
    """The result of one training run, the same for every method (``"mip"``, ``"gd"``; a batch
    method adds its own name): the network, which carries its classes, preprocessing and
    ``training`` metadata (attached once, by :func:`with_metadata`), its forward-pass accuracies,
    the timings, the rows used, the seed, the data source, and the method's own result
    (``result``: the MIP's TrainResult with the solver summary; ``gd``: the GDResult).

    ``test_accuracy`` is None without test data (the estimator); ``train_indices`` are the data
    file's row numbers (the estimator: 0..n-1 of its arrays)."""

    method: str
    objective: str
    network: IntegerNetwork
    train_accuracy: float
    test_accuracy: float | None
    status: str
    target_reached: bool
    build_s: float
    solve_s: float
    runtime_s: float
    train_indices: list[int]
    seed: int | None
    data_source: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    result: TrainResult | None = None
    gd: Any = None

    @property
    def dataset(self) -> str | None:
        return self.data_source.get("dataset")

    @property
    def n_train(self) -> int:
        return len(self.train_indices)

    def summary(self) -> dict[str, Any]:
        """One flat dict, the same keys for every method (MIP adds the solver's summary)."""
        out = self.result.summary() if self.result is not None else {"objective_bound": None, "gap": None}
        out.update(self.details)
        out.update(
            method=self.method, objective=self.objective, P=self.network.P, P_first=self.network.P_first,
            hidden=self.network.hidden,
            n_train=self.n_train, seed=self.seed, dataset=self.dataset, status=self.status,
            target_reached=self.target_reached, train_accuracy=self.train_accuracy, test_accuracy=self.test_accuracy,
            build_s=self.build_s, solve_s=self.solve_s, runtime_s=self.runtime_s, train_indices=self.train_indices,
            sparsity=self.network.sparsity(),
        )
        return out


DatasetRun = TrainingRecord  # the former name of a record of a training run on a data set


def with_metadata(network: IntegerNetwork, *, classes: Sequence[Any], preprocessing: dict[str, Any] | None,
                  training: dict[str, Any]) -> IntegerNetwork:
    """The trained ``network`` with its class labels, preprocessing and ``training`` metadata: the
    one place where a training run describes its network (called once per run, on the method's
    raw network). The preprocessing's grid must be the one the network was trained on."""
    trained_on = (network.preprocessing or {}).get("decimals", 4)
    if preprocessing is not None and preprocessing.get("decimals", 4) != trained_on:
        raise ModelConfigError(
            f"the network was trained on the 10^-{trained_on} grid but the preprocessing rounds to "
            f"10^-{preprocessing.get('decimals', 4)}; train with decimals={preprocessing.get('decimals', 4)}"
        )
    return IntegerNetwork(network.weights, network.biases, network.P, classes=list(classes),
                          preprocessing=preprocessing, training=dict(training), tie_seed=network.tie_seed,
                          P_first=network.P_first)


def mip_outcome(result: TrainResult) -> dict[str, Any]:
    solve = result.solve
    return {
        "method": "mip", "objective": result.objective, "status": result.status,
        "target_reached": bool(solve.target_reached), "train_accuracy": result.train_accuracy,
        "build_s": result.build_s, "solve_s": solve.wall_s, "runtime_s": result.runtime_s, "result": result,
        "details": {"solver": solve.solver, "solver_version": solve.solver_version,
                    "formulation": result.instance.options.to_dict(), **_recipe_details(result)},
    }


def _recipe_details(result: TrainResult) -> dict[str, Any]:
    """The recipe in the model file: its name; for staged recipes each stage's objective, held
    values, status, value, time and source, and who produced the final network."""
    if result.recipe is None:
        return {"recipe": "paper"}
    return {"recipe": result.recipe["name"], "recipe_stages": result.recipe["stages"],
            "final_network_source": result.recipe["final_source"]}


def gd_outcome(gd, target_accuracy: float | None) -> dict[str, Any]:
    details = {k: v for k, v in gd.network.training.items() if k not in ("n_train", "seed", "hidden")}
    details.update({"solver": "gd", "objective_value": gd.loss, "loss": gd.loss, "epochs": gd.epochs})
    return {
        "method": "gd", "objective": "gd", "status": gd.status,
        "target_reached": target_accuracy is not None and gd.train_accuracy >= target_accuracy - 1e-12,
        "train_accuracy": gd.train_accuracy, "build_s": 0.0, "solve_s": gd.runtime_s, "runtime_s": gd.runtime_s,
        "gd": gd, "details": details,
    }


def make_record(outcome: dict[str, Any], *, classes: Sequence[Any], preprocessing: dict[str, Any] | None,
                data_source: dict[str, Any], train_indices: Sequence[int], seed: int | None,
                test: tuple[np.ndarray, np.ndarray] | None = None) -> TrainingRecord:
    """A :class:`TrainingRecord` from a method's outcome (:func:`mip_outcome`, :func:`gd_outcome`):
    measures the test accuracy by forward pass and writes the network's metadata, data source first
    (the keys ``evaluate`` reads), then the record's own fields, then the method's details."""
    raw = outcome["result"].network if outcome.get("result") is not None else outcome["gd"].network
    rows = [int(i) for i in train_indices]
    test_accuracy = raw.accuracy(*test) if test is not None else None  # raw is on the data's grid
    common = {k: outcome[k] for k in ("method", "objective", "status", "target_reached", "train_accuracy")}
    seed = None if seed is None else int(seed)
    training = {**data_source, **outcome["details"], **common, "seed": seed, "n_train": len(rows),
                "train_indices": rows, "test_accuracy": test_accuracy, "sparsity": raw.sparsity()}
    network = with_metadata(raw, classes=classes, preprocessing=preprocessing, training=training)
    result = outcome.get("result")
    return TrainingRecord(
        network=network, test_accuracy=test_accuracy, train_indices=rows, seed=seed,
        data_source=dict(data_source), details=dict(outcome["details"]), gd=outcome.get("gd"),
        result=None if result is None else replace(result, network=network),
        **common, **{k: outcome[k] for k in ("build_s", "solve_s", "runtime_s")},
    )


def train_on_dataset(dataset, n_train: int, seed: int = 0, **kwargs) -> TrainingRecord:
    """Draw ``n_train`` rows of ``dataset``'s training file with ``seed``, train by MIP, and
    evaluate on its test rows. The network carries the preprocessing and training metadata needed
    to recompute every accuracy from its JSON file and the raw CSV alone."""
    X, y, rows = dataset.sample(n_train, seed)
    decimals = dataset.preprocessor.decimals
    if kwargs.setdefault("decimals", decimals) != decimals:
        raise ModelConfigError(f"decimals={kwargs['decimals']} differs from the data set's grid 10^-{decimals}")
    # The solver's seed: a seed in the solver options wins; otherwise the sampling seed.
    kwargs.setdefault("seed", (kwargs.get("solver_options") or {}).get("seed", seed))
    result = train_network(X, y, n_classes=dataset.n_classes, **kwargs)
    return _record_on_dataset(mip_outcome(result), dataset, rows, seed)


def train_gd_on_dataset(dataset, n_train: int, seed: int = 0, *, hidden: Sequence[int] = (16,), P: int = 1,
                        target_accuracy: float | None = 0.9, time_limit: float | None = 60.0,
                        **gd_options) -> TrainingRecord:  # gd_options may hold P_first
    """The gradient-descent baseline (:func:`mipnn_pyomo.gd.train_gd`, with ``gd_options``) on the
    same rows ``train_on_dataset`` draws."""
    from mipnn_pyomo.gd import train_gd

    X, y, rows = dataset.sample(n_train, seed)
    gd = train_gd(X, y, dataset.n_classes, hidden=tuple(hidden), P=P, seed=seed, target_accuracy=target_accuracy,
                  time_limit=time_limit, preprocessing={"decimals": dataset.preprocessor.decimals}, **gd_options)
    return _record_on_dataset(gd_outcome(gd, target_accuracy), dataset, rows, seed)


def _record_on_dataset(outcome: dict[str, Any], dataset, rows, seed: int) -> TrainingRecord:
    return make_record(outcome, classes=dataset.classes, preprocessing=dataset.preprocessor.to_dict(),
                       data_source=dataset.source, train_indices=rows, seed=seed,
                       test=(dataset.X_test, dataset.y_test))
