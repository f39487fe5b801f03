"""State behind ``bot.domain.ports.StatePort``: Redis for replicas, an embedded store otherwise.

Open it with ``await open_store(settings_redis_url, key_prefix=...)``; key names live in ``keys``.
Nothing here is imported eagerly: the CLI without ``REDIS_URL`` must not pay for (or need) redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.factory import EMBEDDED_NOTICE, Store, open_store
    from bot.store.memory_store import MemoryStore
    from bot.store.redis_store import RedisStore

__all__ = ["EMBEDDED_NOTICE", "MemoryStore", "RedisStore", "Store", "open_store"]

_WHERE = {
    "EMBEDDED_NOTICE": "bot.store.factory",
    "Store": "bot.store.factory",
    "open_store": "bot.store.factory",
    "MemoryStore": "bot.store.memory_store",
    "RedisStore": "bot.store.redis_store",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(name)
