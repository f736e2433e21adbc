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
A stage's ``heuristic`` runs on its start (heuristics/prune.py: zero parameters, or whole
neurons, or change single parameters where the stage's objective improves, always keeping every
hold) and hands the result to the solver as its MIP start. ``"paper"`` is one stage: exactly the behaviour without recipes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mipnn_pyomo.errors import ModelConfigError

PRIMARY = "primary"  # the caller's objective (train_network's ``objective``)
ACCURACY = "accuracy"  # the training-accuracy floor
START_HEURISTICS = ("prune-weights", "prune-neurons", "coordinate-search")  # heuristics/prune.py


@dataclass(frozen=True)
class Stage:
    """One MIP of a recipe: its ``objective`` (an objective name or ``PRIMARY``), the values of
    earlier stages it keeps (``holds``: ``ACCURACY``, ``PRIMARY`` or objective names), whether it
    stops at the first network with the target accuracy (the paper's rule), its share of the time
    left, the heuristic run on its start (``heuristic``: "prune-weights", "prune-neurons" or
    "coordinate-search", heuristics/prune.py; the local search of heuristics/ runs by itself where
    the stage's objective and holds are score-based) and an optional solver of its own (None: the
    caller's)."""

    objective: str
    holds: tuple[str, ...] = ()
    stop_at_target: bool = False
    time_share: float = 1.0
    heuristic: str | None = None
    solver: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.time_share <= 1:
            raise ModelConfigError(f"a stage's time share must be in (0, 1], got {self.time_share}")
        if self.heuristic not in (None, *START_HEURISTICS):
            raise ModelConfigError(f"a stage's heuristic must be one of {', '.join(START_HEURISTICS)} or None, "
                                   f"got {self.heuristic!r}")

    def to_dict(self) -> dict:
        return {"objective": self.objective, "holds": list(self.holds), "stop_at_target": self.stop_at_target,
                "time_share": self.time_share, "heuristic": self.heuristic, "solver": self.solver}


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
                      Stage("min-weight", holds=(ACCURACY, PRIMARY), heuristic="prune-weights"))),
    "bemi": Recipe("bemi", "BeMi's lexicographic sequence: the objective, then the neurons' margins with it (and "
                   "the training accuracy) held, then the fewest non-zero weights with all held",
                   (Stage(PRIMARY, time_share=0.4),
                    Stage("neuron-margin", holds=(PRIMARY, ACCURACY), time_share=0.5,
                          heuristic="coordinate-search"),
                    Stage("min-weight", holds=(PRIMARY, "neuron-margin", ACCURACY), heuristic="prune-weights"))),
    "min-weight": Recipe("min-weight", "paper's stage, then the fewest non-zero weights with training accuracy "
                         ">= target held (Icarte et al.)",
                         (Stage(PRIMARY, stop_at_target=True, time_share=0.5),
                          Stage("min-weight", holds=(ACCURACY,), heuristic="prune-weights"))),
    "prune": Recipe("prune", "paper's stage, then the fewest active hidden neurons with training accuracy >= "
                    "target held, then the fewest non-zero weights with both held",
                    (Stage(PRIMARY, stop_at_target=True, time_share=0.4),
                     Stage("min-neurons", holds=(ACCURACY,), time_share=0.5, heuristic="prune-neurons"),
                     Stage("min-weight", holds=(ACCURACY, "min-neurons"), heuristic="prune-weights"))),
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
