"""Choose the state backend once, at start-up.

- ``REDIS_URL`` not set: the embedded single-process store, logged as such, because two replicas with
  embedded stores would each answer from their own memory and process Slack retries twice.
- ``REDIS_URL`` set: Redis, shared by every replica. The forms (details in ``bot.store.redis_url``):

  ``redis://[:password@]host:6379/0``
      one server; ``rediss://`` for TLS, whose options (``?ssl_ca_certs=/path/ca.pem``...) pass
      through to redis-py. Also any managed service's primary endpoint (ElastiCache, Memorystore,
      Azure Cache), or a Service that always points at the primary.
  ``redis+sentinel://[:password@]sentinel-1:26379,sentinel-2:26379/<service>[/db]``
      Redis Sentinel: the hosts are sentinels, ``<service>`` the name they monitor the primary under;
      the password is the data nodes' (``?sentinel_password=`` if the sentinels have their own);
      ``rediss+sentinel://`` for TLS to all of them.
  ``redis+cluster://[:password@]node-1:6379,node-2:6379``
      Redis Cluster, learned from any of the nodes named; ``rediss+cluster://`` for TLS.

Failover (Sentinel): a connection asks the sentinels for the current primary whenever it connects
(the in-command retry's reconnect included, see ``redis_clients.RediscoveringConnection``) and drops
itself when the server it reaches answers READONLY (a demoted primary), so the same store follows the
new primary. While the sentinels decide (``down-after-milliseconds`` plus the promotion, seconds),
operations raise ``StoreUnavailable`` and callers answer without cache, as in any outage. Redis
replication is asynchronous: writes the old primary acknowledged but had not passed on are lost with
it, and one still running (a network split, a manual failover) keeps taking writes until the sentinels
demote it. At worst that is a cache entry, a dedupe mark or an incident's last change.

Cluster: some operations touch several keys at once (an incident and its indexes in one transaction,
a page of incidents in one MGET), which Cluster allows only within one hash slot. So with a cluster
URL the key prefix becomes a hash tag (``imagecheck:`` turns into ``{imagecheck}:``, ``staging:``
into ``{staging}:``; a prefix that already has one, such as ``{bot}:prod:``, is kept), logged at
start-up. All of one bot's keys then live in one slot, on one primary: the data set is small, and
Cluster gives this store failover rather than sharding. Keys written by the same bot under the plain
prefix on a single server are not carried over.

Losing Redis for a while loses no correctness: operations raise ``StoreUnavailable`` and callers
answer without cache; the same store object reconnects when Redis is back.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from bot.domain.ports import Clock, StatePort
from bot.store.keys import DEFAULT_PREFIX, cluster_prefix
from bot.store.memory_store import MemoryStore
from bot.store.redis_url import Topology, parse_redis_url, redacted_url

__all__ = ["EMBEDDED_NOTICE", "Store", "open_store", "redacted_url"]

log = logging.getLogger(__name__)

EMBEDDED_NOTICE = "embedded single-process store; set REDIS_URL for replicas"


# redis-py's complaint about a query option names the option only; any other text it might raise is
# not shown (it could quote a piece of the URL, password included).
_OPTION_COMPLAINT = re.compile(r"Invalid value for '[A-Za-z_]+' in connection URL\.")


def _client_complaint(exc: Exception) -> str:
    text = str(exc)
    if _OPTION_COMPLAINT.fullmatch(text):
        return text
    return f"redis-py cannot build a client from it ({type(exc).__name__})"


class Store(StatePort, Protocol):
    """``StatePort`` plus what the composition root needs to run it."""

    backend: str  # "redis" or "memory"

    async def aclose(self) -> None: ...


async def open_store(redis_url: str | None, *, key_prefix: str = DEFAULT_PREFIX,
                     incident_ttl_s: float = 30 * 86400, tag_history_limit: int = 20,
                     clock: Clock | None = None,
                     socket_timeout_s: float = 0.5) -> Store:
    """Open the store. Never fails because Redis is down: the bot must start and answer without it.
    A malformed ``redis_url`` raises ``ValueError`` (whose message never shows the password)."""
    if not redis_url:
        log.info("store: %s", EMBEDDED_NOTICE)
        return MemoryStore(key_prefix=key_prefix, incident_ttl_s=incident_ttl_s,
                           tag_history_limit=tag_history_limit, clock=clock)
    target = parse_redis_url(redis_url)
    where = redacted_url(redis_url)
    if target.topology is Topology.cluster and cluster_prefix(key_prefix) != key_prefix:
        log.info("store: Redis Cluster keeps a bot's keys in one hash slot: key prefix %r is used as %r",
                 key_prefix, cluster_prefix(key_prefix))
        key_prefix = cluster_prefix(key_prefix)
    # Imported here so that a process without REDIS_URL (the CLI) never loads redis-py.
    from bot.store.redis_clients import open_client
    from bot.store.redis_store import RedisStore

    try:
        connection = open_client(target, socket_timeout_s=socket_timeout_s)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"REDIS_URL {where}: {_client_complaint(exc)}") from None
    store = RedisStore(connection.client, key_prefix=key_prefix, incident_ttl_s=incident_ttl_s,
                       tag_history_limit=tag_history_limit, clock=clock, owned=connection.owned)
    kind = {Topology.single: "redis", Topology.sentinel: f"redis sentinel (service {target.service!r})",
            Topology.cluster: "redis cluster"}[target.topology]
    if await store.ping():
        log.info("store: %s at %s (key prefix %r)", kind, where, key_prefix)
    else:
        log.warning("store: %s at %s is not answering; running without cache until it is", kind, where)
    return store
