"""State behind ``bot.domain.ports.StatePort``: Redis for replicas, an embedded store otherwise.

Open it with ``await open_store(settings_redis_url, key_prefix=...)``; key names live in ``keys``.
"""

from bot.store.factory import EMBEDDED_NOTICE, Store, open_store
from bot.store.memory_store import MemoryStore
from bot.store.redis_store import RedisStore

__all__ = ["EMBEDDED_NOTICE", "MemoryStore", "RedisStore", "Store", "open_store"]
