"""The ``mipnn`` command line (console script ``mipnn = mipnn_pyomo.cli:main``).

* :mod:`~mipnn_pyomo.cli.options`: argument types and the shared data / model / solver options,
  turned into the library's plain values;
* one module per command group: :mod:`~mipnn_pyomo.cli.train` (train, evaluate, predict),
  :mod:`~mipnn_pyomo.cli.solvers`, :mod:`~mipnn_pyomo.cli.export`, :mod:`~mipnn_pyomo.cli.compare`,
  :mod:`~mipnn_pyomo.cli.experiment`;
* :mod:`~mipnn_pyomo.cli.main`: the parser and :func:`main`.

Nothing outside this package imports it: the library takes plain values, never argparse's.
"""

from mipnn_pyomo.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
