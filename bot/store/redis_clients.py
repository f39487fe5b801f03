"""redis-py asyncio clients for each topology ``REDIS_URL`` can name, all failing fast the same way.

- one server: ``Redis.from_url``;
- Sentinel: ``Sentinel(...).master_for(service)``. Its connections ask the sentinels where the primary
  is whenever they (re)connect, and drop themselves when the server they reach answers READONLY (a
  demoted primary), so after a failover the next command goes to the new primary;
- Cluster: ``RedisCluster``, which learns the slot map from any seed node and follows MOVED/ASK.

Short connect/read timeouts and one immediate retry everywhere (see ``redis_store``'s failure policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff

from bot.store.redis_store import DEFAULT_SOCKET_TIMEOUT_S, client_from_url
from bot.store.redis_url import RedisTarget, Topology


@dataclass(frozen=True)
class RedisClient:
    """The client the store talks to, plus connections it owns that are closed with it (sentinels)."""

    client: Redis | RedisCluster
    owned: tuple[Redis, ...] = ()


def fail_fast(socket_timeout_s: float) -> dict[str, Any]:
    """Connection options shared by every client: a dead or hung Redis costs at most about two timeouts.
    A fresh ``Retry`` each time: redis-py adjusts a client's ``Retry`` in place."""
    return {
        "socket_connect_timeout": socket_timeout_s,
        "socket_timeout": socket_timeout_s,
        "retry": Retry(NoBackoff(), 1),  # one immediate retry covers a pooled connection Redis dropped
    }


def open_client(target: RedisTarget, *, socket_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S) -> RedisClient:
    """Build (without connecting) the client for ``target``."""
    if target.topology is Topology.single:
        return RedisClient(client_from_url(target.node_url, socket_timeout_s=socket_timeout_s))
    # The URL's own options (say ?socket_timeout=2) win over the defaults, as with Redis.from_url.
    options = {"decode_responses": False, **fail_fast(socket_timeout_s), **data_node_options(target.node_url)}
    if target.topology is Topology.cluster:
        options.pop("db", None)  # the parser guaranteed it is 0; RedisCluster wants it absent or 0
        return RedisClient(RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
                                        **options))
    tls = bool(options.pop("ssl", False))  # for a sentinel pool, TLS is a choice of connection class
    sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        list(target.nodes), sentinel_kwargs=sentinel_options(target, options, socket_timeout_s), **options)
    connection_class = RediscoveringSSLConnection if tls else RediscoveringConnection
    primary: Redis = sentinel.master_for(target.service, connection_class=connection_class)
    return RedisClient(primary, owned=tuple(sentinel.sentinels))


class RediscoveringConnection(SentinelManagedConnection):
    """Asks the sentinels where the primary is on every reconnect, the in-call retry's included.

    redis-py (7.4, redis/redis-py#3874) asks only when the pool hands out a disconnected connection; a
    retry inside a command reconnects to the address it had. After a failover that is the old primary:
    dead, or demoted and answering READONLY, so the retry fails too and the caller sees an outage that
    the retry was there to hide. Costs one more sentinel query per new connection (they are pooled).
    """

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if not self.is_connected and self.connection_pool.is_master:
            self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)


class RediscoveringSSLConnection(RediscoveringConnection, SSLConnection):
    """``RediscoveringConnection`` over TLS (``rediss+sentinel://``)."""


def data_node_options(node_url: str) -> dict[str, Any]:
    """redis-py's own reading of the credentials, db and options, minus the address (given per node)."""
    options: dict[str, Any] = dict(parse_url(node_url))
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    return options


def sentinel_options(target: RedisTarget, node_options: dict[str, Any], socket_timeout_s: float) -> dict[str, Any]:
    """How to reach the sentinels: their own credentials if given, and with ``rediss+sentinel`` the same
    TLS settings (one CA) as the data nodes."""
    options = fail_fast(socket_timeout_s)
    options.update({k: v for k, v in node_options.items() if k.startswith("socket_")})
    if "sentinel_username" in target.sentinel_options:
        options["username"] = target.sentinel_options["sentinel_username"]
    if "sentinel_password" in target.sentinel_options:
        options["password"] = target.sentinel_options["sentinel_password"]
    if target.tls:
        options["ssl"] = True  # the sentinels are plain Redis clients: here TLS is a flag
        options.update({k: v for k, v in node_options.items() if k.startswith("ssl_")})
    return options
