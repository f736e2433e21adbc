"""One context manager: the cyclic garbage collector paused while Pyomo builds or compiles a model."""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def paused_gc():
    """Pyomo builds (and its standard-form compiler walks) hundreds of thousands of small objects at
    once; Python's cyclic garbage collector would rescan them again and again (seen as 1-4 s
    spikes at N = 280, ~30% of a compile). Nothing here forms garbage cycles worth collecting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
