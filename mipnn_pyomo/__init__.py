"""mipnn-pyomo: integer-weight neural networks trained by mixed-integer programming."""

from mipnn_pyomo.errors import MipnnError

__version__ = "0.1.0"
__all__ = ["MipnnError", "__version__"]
