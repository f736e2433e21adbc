"""``python -m mipnn_pyomo.cli``: the same as the ``mipnn`` console script."""

import sys

from mipnn_pyomo.cli.main import main

sys.exit(main())
