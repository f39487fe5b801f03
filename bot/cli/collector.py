"""The cyclic garbage collector during a short CLI command: collect less often while it starts and
runs, and skip the sweep of the whole heap when the process exits.

Starting ``imagecheck check`` allocates a few hundred thousand objects that live until exit (modules,
classes, pydantic schemas). With the default threshold (a young collection every 700 allocations) the
collector scans them over and over, and shutdown sweeps them all once more: measured here with
``gc.callbacks``, about 75 ms of collections during a batch check and over 100 ms at exit, for
garbage that isn't there. Reference counting frees everything else as before; the collector still
runs, only less often, and the threshold is restored when the block ends.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython's default is 700)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect young objects every ``_YOUNG_THRESHOLD`` allocations inside the block."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], _YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def skip_collection_at_exit() -> None:
    """``gc.freeze()`` when the interpreter exits: its final collections would only walk the start-up
    heap. In a process that goes on after the command (tests calling ``main``), that is its own exit."""
    atexit.unregister(gc.freeze)  # once, however many commands a process runs
    atexit.register(gc.freeze)
