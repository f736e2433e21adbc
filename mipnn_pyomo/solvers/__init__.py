"""Solver registry: one adapter class per solver, looked up by name.

    >>> from mipnn_pyomo.solvers import get_solver, available_solvers
    >>> get_solver("highs").is_available()
    True
"""

from __future__ import annotations

from mipnn_pyomo.errors import SolverError

DEFAULT_SOLVER = "highs"  # the engine used when none is named (docs/solvers.md, "Choosing the default engine")
from mipnn_pyomo.solvers.base import (
    Capabilities,
    Incumbent,
    SolveOptions,
    SolveResult,
    SolverAdapter,
    SolverName,
    Termination,
)
from mipnn_pyomo.solvers.highs import HighsAdapter

SOLVERS: dict[SolverName, type[SolverAdapter]] = {SolverName.HIGHS: HighsAdapter}

try:  # adapters added by the solver layer; each import is cheap (solver libraries load lazily)
    from mipnn_pyomo.solvers.gurobi import GurobiAdapter

    SOLVERS[SolverName.GUROBI] = GurobiAdapter
except ImportError:  # pragma: no cover
    pass
try:
    from mipnn_pyomo.solvers.cbc import CbcAdapter

    SOLVERS[SolverName.CBC] = CbcAdapter
except ImportError:  # pragma: no cover
    pass
try:
    from mipnn_pyomo.solvers.cpsat import CpsatAdapter
    from mipnn_pyomo.solvers.scip import ScipAdapter

    SOLVERS[SolverName.CPSAT] = CpsatAdapter
    SOLVERS[SolverName.SCIP] = ScipAdapter
except ImportError:  # pragma: no cover
    pass


def solver_names() -> list[str]:
    return [name.value for name in SOLVERS]


def get_solver(name: str | SolverName) -> SolverAdapter:
    """An adapter instance for ``name`` (case-insensitive); SolverError listing the known names otherwise."""
    try:
        key = SolverName(str(getattr(name, "value", name)).lower())
        return SOLVERS[key]()
    except (ValueError, KeyError):
        raise SolverError(f"unknown solver {name!r}; known solvers: {', '.join(solver_names())}") from None


def available_solvers() -> list[str]:
    return [name.value for name, cls in SOLVERS.items() if cls.is_available()]


__all__ = [
    "Capabilities",
    "DEFAULT_SOLVER",
    "Incumbent",
    "SOLVERS",
    "SolveOptions",
    "SolveResult",
    "SolverAdapter",
    "SolverName",
    "Termination",
    "available_solvers",
    "get_solver",
    "solver_names",
]
