"""Skip the cyclic garbage collector's sweep of the whole heap when a CLI process exits.

Interpreter shutdown runs full collections over every object still alive: after ``imagecheck check``
that is a few hundred thousand long-lived modules, classes and pydantic schemas, and it took about a
sixth of a loopback check's wall time here (``docs/benchmarks.md``). ``gc.freeze()`` at exit moves
them out of the collector's sight; reference counting still frees what it frees at any exit, and the
process is ending, so nothing else changes. In a process that does not exit after the command (tests
calling ``main``), the freeze happens only when that process exits too.
"""

from __future__ import annotations

import atexit
import gc


def skip_collection_at_exit() -> None:
    atexit.unregister(gc.freeze)  # once, however many commands a process runs
    atexit.register(gc.freeze)
