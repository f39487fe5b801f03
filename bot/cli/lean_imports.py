"""Two imports a command never uses, skipped before anything imports the libraries that make them.

- ``httpx/__init__`` imports its own command line (``httpx._main``) whenever ``click`` and ``rich``
  are installed, which they often are (here, by dev tools). That is rich's console and click: about
  90 ms of a one-shot ``imagecheck check`` measured on the CI machine, for a module nothing here calls.
  A ``None`` entry in ``sys.modules`` makes that import fail, and httpx falls back to a stub ``main``
  (``httpx/__init__.py``: ``try: from ._main import main / except ImportError``).
- pydantic looks for plugins by reading the metadata of every installed distribution the first time
  a model is built (``pydantic.plugin._loader``). imagecheck uses no pydantic plugin. The documented
  switch ``PYDANTIC_DISABLE_PLUGINS`` skips the scan; an operator who sets it keeps their value.
"""

from __future__ import annotations

import os
import sys

_UNUSED_MODULES = ("httpx._main",)


def skip_unused_library_imports() -> None:
    """Call before ``httpx`` or ``pydantic`` is imported; after that it changes nothing already loaded."""
    for name in _UNUSED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "import fails", by design
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
