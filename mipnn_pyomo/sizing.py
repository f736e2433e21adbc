""""One MIP too large": a warning that points to batch training instead of a silent majority-class network.

Measured (issue 15): one sat-margin MIP over N = 3,000 Adult rows (hidden 16, 152k variables,
294k constraints) took ~19 s to build and load and returned the majority-class network after 60 s.
:class:`SingleMIPSizeCheck` warns (``warnings.warn`` with :class:`MIPTooLargeWarning`; the CLI
prints it as one ``warning: ...`` line) at most once per run:

* before the build, when the size estimate exceeds :data:`LARGE_CONSTRAINTS` constraints
  (about N = 1,000 rows for hidden 16 and two classes);
* after the solve, when the run did not reach its target, was not proven optimal, and its training
  accuracy is no better than the majority class's (within :data:`MAJORITY_MARGIN`), on at least
  :data:`HINT_BATCH_ROWS` rows (a smaller MIP is not "too large", and batches would not help it).

Size estimate for hidden layers H_1..H_L and K classes on N rows of F features (sat-margin,
default formulation; built models: 11,778 variables / 20,144 constraints at N = 200, 151,778 /
294,064 at N = 3,000; estimates 11,778 / 20,193 and 151,778 / 294,593)::

    parameters  = sum over the layers of (fan-in x fan-out + fan-out)
    per row     = sum_l H_l + sum_l H_l x fan-out_l + K        (activations, products, class terms)
    variables   = parameters + N per row
    constraints ~ (2 per row - 2) N + parameters / 3   (fitted: within 4% at N = 60, 200, 3,000)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

LARGE_CONSTRAINTS = 100_000  # N > ~1,015 rows at hidden 16, 2 classes
MAJORITY_MARGIN = 0.005  # "no better than the majority class": within half a percentage point
BATCH_HINT = "train on all rows by batches instead: --batch-size 100 (docs/batch.md)"
HINT_BATCH_ROWS = 100  # the hint's batch size: fewer rows than one batch get no after-solve warning


class MIPTooLargeWarning(UserWarning):
    """One MIP over all training rows is too large to reach its target in the time limit."""


def estimate_size(n_rows: int, n_features: int, hidden: Sequence[int], n_classes: int) -> tuple[int, int]:
    """(variables, constraints) of one training MIP, estimated as in the module docstring."""
    sizes = [int(n_features), *map(int, hidden), int(n_classes)]
    parameters = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    per_row = sum(hidden) + sum(h * b for h, b in zip(sizes[1:-1], sizes[2:])) + n_classes
    return parameters + n_rows * per_row, (2 * per_row - 2) * n_rows + parameters // 3


@dataclass
class SingleMIPSizeCheck:
    """Construct before the build (warns if the estimate is too large); call :meth:`after` with the
    finished :class:`~mipnn_pyomo.training.TrainResult` (warns if the result is no better than the
    majority class and nothing was said before)."""

    n_rows: int
    n_features: int
    hidden: Sequence[int]
    n_classes: int
    time_limit: float | None
    warned: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        variables, constraints = estimate_size(self.n_rows, self.n_features, self.hidden, self.n_classes)
        if constraints > LARGE_CONSTRAINTS:
            limit = f"{self.time_limit:g} s" if self.time_limit is not None else "its time limit"
            self._warn(f"one MIP over {self.n_rows:,} rows is large (about {variables:,} variables and "
                       f"{constraints:,} constraints); in {limit} it may not get past the majority class; {BATCH_HINT}")

    def after(self, result, y):
        """Warn about ``result`` if due (see :func:`majority_message`); returns ``result``."""
        message = None if self.warned else majority_message(result, y)
        if message is not None:
            self._warn(message)
        return result

    def _warn(self, message: str) -> None:
        self.warned = True
        warnings.warn(message, MIPTooLargeWarning, stacklevel=3)


def majority_message(result, y) -> str | None:
    """The after-solve warning for ``result`` (a TrainResult) on labels ``y``, or None."""
    from mipnn_pyomo.solvers.base import Termination

    solve = result.solve
    if len(y) < HINT_BATCH_ROWS or solve.target_reached or solve.termination in (Termination.OPTIMAL, Termination.INTERRUPTED):
        return None
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    majority = float(counts.max() / counts.sum()) if counts.sum() else 0.0
    if result.train_accuracy > majority + MAJORITY_MARGIN:
        return None
    size = result.instance.sizes if result.instance is not None else {}
    described = (f" ({size['variables']:,} variables, {size['constraints']:,} constraints)"
                 if "variables" in size and "constraints" in size else "")
    return (f"one MIP over {len(y):,} rows{described} ended at {100 * result.train_accuracy:.2f}% training "
            f"accuracy after {solve.wall_s:.0f} s, no better than the majority class ({100 * majority:.2f}%): "
            f"it is too large for this time limit; {BATCH_HINT}")
