"""Primal heuristics: integer local search by forward pass (:mod:`.local_search`) and the
incumbent improver that feeds its networks to the solvers (:mod:`.improver`)."""

from mipnn_pyomo.heuristics.improver import IncumbentImprover
from mipnn_pyomo.heuristics.local_search import ScoreFunction, guided_local_search, local_search, pair_outputs

__all__ = ["IncumbentImprover", "ScoreFunction", "guided_local_search", "local_search", "pair_outputs"]
