"""Choose the state backend once, at start-up.

- ``REDIS_URL`` set: Redis, shared by every replica (``redis://``, or ``rediss://`` for TLS; TLS
  options such as ``?ssl_ca_certs=/path/ca.pem`` pass through to redis-py).
- not set: the embedded single-process store, logged as such, because two replicas with embedded
  stores would each answer from their own memory and process Slack retries twice.

High availability
- Redis Sentinel: point ``REDIS_URL`` at a stable endpoint that follows the current primary (for
  example a Kubernetes Service maintained by the operator, or a proxy such as HAProxy checking
  ``role:master``). Sentinel-aware discovery (redis-py's ``redis.asyncio.sentinel.Sentinel``) is not
  wired in; a ``RedisStore`` can be constructed directly from ``Sentinel.master_for(...)``'s client.
- Redis Cluster: some operations touch two keys at once (an incident and the incident index, a page
  of incidents), which Cluster allows only within one hash slot. Give the key prefix a hash tag, e.g.
  ``IMAGECHECK_KEY_PREFIX='{imagecheck}:'``, so all of imagecheck's keys share a slot; the data set is
  small, so one slot is plenty. Build the client with ``redis.asyncio.RedisCluster`` and pass it to
  ``RedisStore``.
- Managed services (ElastiCache, Memorystore, Azure Cache) work through their primary endpoint URL.

Losing Redis for a while loses no correctness: operations raise ``StoreUnavailable`` and callers
answer without cache; the same store object reconnects when Redis is back.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import urlsplit

from bot.domain.ports import Clock, StatePort
from bot.store.keys import DEFAULT_PREFIX
from bot.store.memory_store import MemoryStore

log = logging.getLogger(__name__)

EMBEDDED_NOTICE = "embedded single-process store; set REDIS_URL for replicas"


class Store(StatePort, Protocol):
    """``StatePort`` plus what the composition root needs to run it."""

    backend: str  # "redis" or "memory"

    async def aclose(self) -> None: ...


def redacted_url(url: str) -> str:
    """The URL without its password, fit for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


async def open_store(redis_url: str | None, *, key_prefix: str = DEFAULT_PREFIX,
                     incident_ttl_s: float = 30 * 86400, tag_history_limit: int = 20,
                     clock: Clock | None = None,
                     socket_timeout_s: float = 0.5) -> Store:
    """Open the store. Never fails because Redis is down: the bot must start and answer without it."""
    if not redis_url:
        log.info("store: %s", EMBEDDED_NOTICE)
        return MemoryStore(key_prefix=key_prefix, incident_ttl_s=incident_ttl_s,
                           tag_history_limit=tag_history_limit, clock=clock)
    # Imported here so that a process without REDIS_URL (the CLI) never loads redis-py.
    from bot.store.redis_store import RedisStore, client_from_url

    store = RedisStore(client_from_url(redis_url, socket_timeout_s=socket_timeout_s),
                       key_prefix=key_prefix, incident_ttl_s=incident_ttl_s,
                       tag_history_limit=tag_history_limit, clock=clock)
    if await store.ping():
        log.info("store: redis at %s (key prefix %r)", redacted_url(redis_url), key_prefix)
    else:
        log.warning("store: redis at %s is not answering; running without cache until it is",
                    redacted_url(redis_url))
    return store
