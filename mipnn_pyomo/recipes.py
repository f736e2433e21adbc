"""Training recipes: the ONE registry of named sequences of MIP stages that ``train_network(...,
recipe=NAME)``, the CLI (``--recipe``), the estimator (``recipe=``), model selection and the
benchmarks take by name.

A recipe is a sequence of :class:`Stage`. Stage 1 starts from the caller's warm start (or the
heuristic's construction); every later stage is warm-started from the network of the stage before
and keeps what earlier stages reached as constraints (``holds``, rows of instance.Hold):

* ``"accuracy"``: at least min(ceil(target N), correct samples of the network so far) training
  samples predicted correctly by the forward pass (blocks.add_accuracy_floor);
* ``"primary"``: the caller's objective (e.g. sat-margin) at least as good as the network so far;
* an objective name (e.g. ``"neuron-margin"``, ``"min-neurons"``): that objective at least as good
  as the network so far.

The stages share the one time limit: stage i gets ``time_share`` of the time left when it starts
(the last stage all of it); a stage that stops at the accuracy target hands its unused time on.
A stage with ``prune_first`` first runs the pruning heuristic (heuristics/prune.py: zero
parameters, or whole neurons, while every hold stays met) and gives the result to the solver as
its MIP start. ``"paper"`` is one stage: exactly the behaviour without recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mipnn_pyomo.errors import ModelConfigError

PRIMARY = "primary"  # the caller's objective (train_network's ``objective``)
ACCURACY = "accuracy"  # the training-accuracy floor


@dataclass(frozen=True)
class Stage:
    """One MIP of a recipe: its ``objective`` (an objective name or ``PRIMARY``), the values of
    earlier stages it keeps (``holds``: ``ACCURACY``, ``PRIMARY`` or objective names), whether it
    stops at the first network with the target accuracy (the paper's rule), its share of the time
    left, whether the pruning heuristic runs on its start (``prune_first``: "weights" or
    "neurons") and an optional solver of its own (None: the caller's)."""

    objective: str
    holds: tuple[str, ...] = ()
    stop_at_target: bool = False
    time_share: float = 1.0
    prune_first: str | None = None
    solver: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.time_share <= 1:
            raise ModelConfigError(f"a stage's time share must be in (0, 1], got {self.time_share}")
        if self.prune_first not in (None, "weights", "neurons"):
            raise ModelConfigError(f"prune_first must be 'weights', 'neurons' or None, got {self.prune_first!r}")

    def to_dict(self) -> dict:
        return {"objective": self.objective, "holds": list(self.holds), "stop_at_target": self.stop_at_target,
                "time_share": self.time_share, "prune_first": self.prune_first, "solver": self.solver}


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    stages: tuple[Stage, ...] = field(default_factory=tuple)

    @property
    def is_paper(self) -> bool:
        return self.name == "paper"

    def with_solvers(self, *solvers: str | None) -> "Recipe":
        """The same recipe with stage i solved by ``solvers[i]`` (None: the caller's solver)."""
        if len(solvers) != len(self.stages):
            raise ModelConfigError(f"recipe {self.name!r} has {len(self.stages)} stages, got {len(solvers)} solvers")
        stages = tuple(replace(s, solver=solver) for s, solver in zip(self.stages, solvers))
        return replace(self, stages=stages)

    def to_dict(self) -> dict:
        return {"name": self.name, "stages": [s.to_dict() for s in self.stages]}


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("paper", "one MIP of the objective; stop at the first network with the target training "
                    "accuracy (the paper's rule, the experiment runner's)",
                    (Stage(PRIMARY, stop_at_target=True),)),
    "polish": Recipe("polish", "paper's stage, then the time left: the objective improved with training accuracy "
                     ">= target held, then the fewest non-zero weights with both held",
                     (Stage(PRIMARY, stop_at_target=True, time_share=0.5),
                      Stage(PRIMARY, holds=(ACCURACY,), time_share=0.6),
                      Stage("min-weight", holds=(ACCURACY, PRIMARY), prune_first="weights"))),
    "bemi": Recipe("bemi", "BeMi's lexicographic sequence: the objective, then the neurons' margins with it held, "
                   "then the fewest non-zero weights with both held",
                   (Stage(PRIMARY, time_share=0.4),
                    Stage("neuron-margin", holds=(PRIMARY,), time_share=0.5),
                    Stage("min-weight", holds=(PRIMARY, "neuron-margin"), prune_first="weights"))),
    "min-weight": Recipe("min-weight", "paper's stage, then the fewest non-zero weights with training accuracy "
                         ">= target held (Icarte et al.)",
                         (Stage(PRIMARY, stop_at_target=True, time_share=0.5),
                          Stage("min-weight", holds=(ACCURACY,), prune_first="weights"))),
    "prune": Recipe("prune", "paper's stage, then the fewest active hidden neurons with training accuracy >= "
                    "target held, then the fewest non-zero weights with both held",
                    (Stage(PRIMARY, stop_at_target=True, time_share=0.4),
                     Stage("min-neurons", holds=(ACCURACY,), time_share=0.5, prune_first="neurons"),
                     Stage("min-weight", holds=(ACCURACY, "min-neurons"), prune_first="weights"))),
}

DEFAULT_RECIPE = "paper"


def get_recipe(recipe: "str | Recipe") -> Recipe:
    """The registered recipe ``recipe`` (a name), or ``recipe`` itself (a Recipe)."""
    if isinstance(recipe, Recipe):
        return recipe
    try:
        return RECIPES[recipe]
    except (KeyError, TypeError):
        raise ModelConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}") from None
