"""A benchmark suite of training MIPs for solver developers.

* :mod:`.catalogue`: the graded instance grid (objective x P x N x seed), each named and rebuilt
  deterministically from the bundled Adult data.
* :mod:`.build`: ``export_suite(DIR)`` writes each instance as ``NAME.mps.gz``, its best known
  solution as ``NAME.sol`` (MIPLIB style: ``=obj= value`` then ``column value``) and ``NAME.json``
  (metadata: sense, size, best known objective and bound, by which engine, in which time, grade).
* :mod:`.run`: ``run_suite(DIR, solver)`` solves every instance with a registered engine and
  appends one CSV row per instance (resumable).
* :mod:`.report`: shifted geometric mean of time (shift 10 s), solved count, primal gap at the
  time limit, and performance profiles.
"""

from mipnn_pyomo.suite.catalogue import GRIDS, SuiteInstance, suite_grid

__all__ = ["GRIDS", "SuiteInstance", "suite_grid"]
