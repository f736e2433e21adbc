"""Exception classes: every user-facing failure is a :class:`MipnnError` with one clear sentence."""


class MipnnError(Exception):
    """Base class of all errors this library raises on purpose (the CLI prints them as one line, exit 2)."""


class DataError(MipnnError, ValueError):
    """Bad input data: missing file or column, NaN, wrong shapes, unknown labels, too few rows."""


class ModelConfigError(MipnnError, ValueError):
    """Bad model or training settings: P < 1, hidden width 0, margin or target outside (0, 1], ..."""


class SolverError(MipnnError, RuntimeError):
    """A solver failed, is unknown, not installed, or its licence is too small for the instance."""


class SolverUnavailableError(SolverError):
    """The solver is not installed, or its licence cannot solve this instance."""


class NoSolutionError(SolverError):
    """The solve ended without any feasible network (infeasible, or no incumbent by the time limit)."""


class ModelFileError(MipnnError, ValueError):
    """A saved network file is corrupt, truncated, of another version, or does not match the data."""


class ConfigError(MipnnError, ValueError):
    """A malformed experiment config (the message names the line and the key)."""


class ExactnessError(MipnnError, AssertionError):
    """The MIP's implied activations or predictions differ from the numpy forward pass (a bug or a
    solver tolerance problem: the reported accuracy would be wrong)."""
