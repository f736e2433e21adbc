"""Gurobi's licence and the persistent model it is checked on (a mixin of :class:`GurobiAdapter`).

The pip wheel ships a size-limited licence (2,000 variables and 2,000 constraints).
``check_instance`` compares the model as Gurobi sees it with that limit before solving and raises
:class:`SolverUnavailableError` naming both sizes. A full licence is detected once per process (a
2,001-variable probe model) and lifts the check.
"""

from __future__ import annotations

import functools

from mipnn_pyomo.errors import SolverUnavailableError

SIZE_LIMIT = 2000  # variables and constraints of the size-limited (pip) licence


@functools.cache
def _licence_probe() -> tuple[bool, str]:
    """(full licence?, description), found once per process by optimising an empty model of
    SIZE_LIMIT + 1 variables: a size-limited licence refuses it with error 10010."""
    import gurobipy as gp

    try:
        env = gp.Env(empty=True)
        env.setParam("OutputFlag", 0)
        env.start()
    except gp.GurobiError as exc:
        return False, f"no usable Gurobi licence ({exc})"
    try:
        model = gp.Model(env=env)
        model.addVars(SIZE_LIMIT + 1)
        try:
            model.optimize()
        except gp.GurobiError as exc:
            if getattr(exc, "errno", None) == 10010 or "size-limited" in str(exc).lower():
                return False, f"size-limited (pip) licence: at most {SIZE_LIMIT:,} variables and {SIZE_LIMIT:,} constraints"
            return False, f"licence check failed ({exc})"
        finally:
            model.dispose()
        return True, "full licence (no size limit)"
    finally:
        env.dispose()


class GurobiLicence:
    """Licence checks and the cached ``gurobi_persistent`` solver (built by the check, reused by the solve)."""

    licence = "commercial (pip wheel: size-limited licence)"

    def __init__(self) -> None:
        self._prepared = None  # (model id, persistent solver) from check_instance

    @classmethod
    def has_full_licence(cls) -> bool:
        return cls.is_available() and _licence_probe()[0]

    @classmethod
    def licence_info(cls) -> str:
        if not cls.is_available():
            return cls.licence
        return f"commercial; {_licence_probe()[1]}"

    # ------------------------------------------------------------------ instance checks

    def _persistent(self, instance):
        """A gurobi_persistent solver holding ``instance.model`` (built once, reused by the solve)."""
        if self._prepared is not None and self._prepared[0] == id(instance.model):
            return self._prepared[1]
        from pyomo.common.tee import capture_output
        from pyomo.environ import SolverFactory

        opt = SolverFactory("gurobi_persistent")
        with capture_output(capture_fd=True):  # the licence banner goes to stdout
            opt.set_instance(instance.model)
            opt._solver_model.update()
        self._prepared = (id(instance.model), opt)
        return opt

    def gurobi_size(self, instance) -> tuple[int, int]:
        """(variables, constraints) of the model as Gurobi sees it."""
        m = self._persistent(instance)._solver_model
        return int(m.NumVars), int(m.NumConstrs + m.NumSOS + m.NumQConstrs + m.NumGenConstrs)

    def check_instance(self, instance) -> None:
        self.require_available()
        if _licence_probe()[0]:
            return
        # Pyomo's counts are upper bounds of Gurobi's (unreferenced variables are not sent).
        if instance.sizes.get("variables", 0) <= SIZE_LIMIT and instance.sizes.get("constraints", 0) <= SIZE_LIMIT:
            return
        n_vars, n_cons = self.gurobi_size(instance)
        if n_vars > SIZE_LIMIT or n_cons > SIZE_LIMIT:
            self._prepared = None
            raise SolverUnavailableError(
                f"Gurobi cannot solve this instance: it needs {n_vars:,} variables and {n_cons:,} constraints; "
                f"the size-limited Gurobi licence allows {SIZE_LIMIT:,} of each; install a full licence "
                "(see solvers/README.md) or use a smaller instance"
            )
