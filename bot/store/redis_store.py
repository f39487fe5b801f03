"""The Redis backend of ``StatePort`` (redis-py asyncio), for replicas that share state.

Failure policy: Redis being slow or down must never hang or crash a check. Connections use short
connect/read timeouts and at most one immediate retry (redis-py's default retries with backoff for
seconds), and every redis-py or socket error becomes ``StoreUnavailable`` (counted in
``imagecheck_store_errors_total``) so callers degrade to "no cache". The client's connection pool
reconnects on the next command once Redis is back, so the same store object recovers by itself;
Lua scripts are re-loaded by redis-py when a restarted server no longer knows them.

Atomicity across replicas: tag history is a WATCH/MULTI read-modify-write retried on conflict; lock
release and rate-limit counting are Lua scripts; dedupe and lock acquisition are ``SET NX PX``.

Redis Cluster: the client may be a ``RedisCluster``. Every multi-key command here (the incident and its
indexes in one MULTI, MGET of a page of incidents) and every transaction runs within one hash slot,
which Cluster requires, because the key prefix is a hash tag (``keys.cluster_prefix``; the store
refuses a cluster client with a prefix that is not). redis-py's cluster pipeline runs WATCH/MULTI on
the slot's node, and scripts are routed by their one key.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError, WatchError

from bot.domain.clock import SystemClock
from bot.domain.errors import StoreUnavailable
from bot.domain.models import CachedDiagnosis, Diagnosis, Incident, IncidentStatus, TagSighting
from bot.domain.ports import Clock
from bot.metrics import STORE_ERRORS
from bot.store.codec import TagHistory, encode, read_record
from bot.store.history import add_sighting
from bot.store.keys import DEFAULT_PREFIX, Keys, has_hash_tag
from bot.store.timing import lock_poll_delays, require_positive, ttl_ms

log = logging.getLogger(__name__)


DEFAULT_SOCKET_TIMEOUT_S = 0.5

# Delete the lock only if it still carries our token: a holder whose lock expired and was taken by
# another replica must not release that replica's lock.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Fixed window starting at the first hit. The PTTL check repairs a counter that somehow lost its
# expiry, so a key can never count forever.
_ALLOW_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""

_TAG_HISTORY_ATTEMPTS = 50
_INDEX_SWEEP = 10
_BACKFILL_EVERY_S = 24 * 3600.0
# Incidents are a few KB each (3 KB is typical with a dozen timeline events): 50 a round trip keeps each
# MGET to ~150 KB, far inside the 0.5 s socket timeout even on a busy Redis; 200 came close.
_BACKFILL_BATCH = 50
# How long a replica's "running" marker keeps the others from starting the same backfill. A run that
# outlives it only means a second, harmless run (adding entries is idempotent); a crashed one frees it.
_BACKFILL_RUNNING_S = 120.0


def client_from_url(url: str, *, socket_timeout_s: float = DEFAULT_SOCKET_TIMEOUT_S) -> Redis:
    """A redis-py asyncio client that fails fast. ``rediss://`` (TLS) and its query options, such as
    ``ssl_ca_certs`` and ``ssl_cert_reqs``, pass straight through to redis-py."""
    return Redis.from_url(
        url,
        socket_connect_timeout=socket_timeout_s,
        socket_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 1),  # one immediate retry covers a pooled connection Redis dropped
        decode_responses=False,
    )


class RedisStore:
    """``StatePort`` on Redis. Several instances (replicas) may share one Redis and one prefix."""

    backend: str = "redis"

    def __init__(self, client: Redis | RedisCluster, *, key_prefix: str = DEFAULT_PREFIX,
                 incident_ttl_s: float = 30 * 86400, tag_history_limit: int = 20,
                 clock: Clock | None = None, owned: Sequence[Redis] = ()) -> None:
        """``owned``: further clients closed with this store (a Sentinel's connections to the sentinels)."""
        if isinstance(client, RedisCluster) and not has_hash_tag(key_prefix):
            # Fail at start-up, not with CROSSSLOT errors on the first incident saved.
            raise ValueError(f"key prefix {key_prefix!r} has no hash tag, which Redis Cluster needs "
                             "(use bot.store.keys.cluster_prefix)")
        self._r = client
        self._owned = tuple(owned)
        self.keys = Keys(key_prefix)
        self.incident_ttl_s = incident_ttl_s
        self.tag_history_limit = tag_history_limit
        self.clock: Clock = clock or SystemClock()
        # redis-py annotates register_script for Redis only; RedisCluster inherits it and routes each
        # EVALSHA by its one key (loading the script on that node when it is missing).
        scripting: Any = client
        self._release_script = scripting.register_script(_RELEASE_LUA)
        self._backfill_checked: float | None = None  # clock.monotonic() of the last completed check
        self._backfill_lock = asyncio.Lock()  # one backfill attempt at a time in this process
        self._backfill_attempts = 0  # attempts finished (or failed) in this process
        self._allow_script = scripting.register_script(_ALLOW_LUA)

    # --- plumbing -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self, op: str) -> AsyncIterator[None]:
        """Turn any Redis or socket failure into ``StoreUnavailable`` (never a redis exception)."""
        try:
            yield
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            STORE_ERRORS.labels(op=op).inc()
            raise StoreUnavailable(f"state store unavailable during {op}: {type(exc).__name__}") from exc

    async def ping(self) -> bool:
        """True when the Redis holding this bot's keys answers; False (counted, not raised) when it
        doesn't, for ``/readyz``.

        Not PING: on a Cluster redis-py sends it to one default primary chosen at random, which need not
        own the bot's slot, so readiness would report on some other node. EXISTS on the incident index is
        routed like every other command of this store (all its keys share one slot) and costs the same.
        """
        try:
            async with self._guard("ping"):
                await self._r.exists(self.keys.incident_index())
                return True
        except StoreUnavailable:
            return False

    async def aclose(self) -> None:
        await self._r.aclose()
        for client in self._owned:
            await client.aclose()

    # --- result cache ---------------------------------------------------------------------------

    async def get_diagnosis(self, key: str) -> CachedDiagnosis | None:
        async with self._guard("get_diagnosis"):
            raw = await self._r.get(self.keys.diagnosis(key))
        return read_record(CachedDiagnosis, raw, "get_diagnosis")

    async def put_diagnosis(self, key: str, diagnosis: Diagnosis, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        record = CachedDiagnosis(diagnosis=diagnosis, stored_at=self.clock.now())
        async with self._guard("put_diagnosis"):
            await self._r.set(self.keys.diagnosis(key), encode(record), px=ttl_ms(ttl_s))

    # --- tag history ----------------------------------------------------------------------------

    async def record_tag(self, name: str, tag: str, digest: str, at: datetime) -> list[TagSighting]:
        key = self.keys.tag_history(name, tag)
        async with self._guard("record_tag"), self._r.pipeline(transaction=True) as pipe:
            for _ in range(_TAG_HISTORY_ATTEMPTS):
                try:
                    await pipe.watch(key)
                    current = read_record(TagHistory, await pipe.get(key), "record_tag") or TagHistory()
                    sightings = add_sighting(current.sightings, digest, at, self.tag_history_limit)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, encode(TagHistory(sightings=sightings)), px=ttl_ms(self.incident_ttl_s))
                    await pipe.execute()
                    return sightings
                except WatchError:
                    continue  # another replica wrote in between: read again and re-apply
        STORE_ERRORS.labels(op="record_tag").inc()
        raise StoreUnavailable("state store too contended to record tag history")

    async def tag_history(self, name: str, tag: str) -> list[TagSighting]:
        async with self._guard("tag_history"):
            raw = await self._r.get(self.keys.tag_history(name, tag))
        record = read_record(TagHistory, raw, "tag_history")
        return record.sightings if record else []

    # --- incidents ------------------------------------------------------------------------------

    async def get_incident(self, incident_id: str) -> Incident | None:
        async with self._guard("get_incident"):
            raw = await self._r.get(self.keys.incident(incident_id))
        return read_record(Incident, raw, "get_incident")

    async def save_incident(self, incident: Incident) -> None:
        """Keep the incident and index it, in the workspace's index and in each participant's, all
        expiring together: an index lives as long as the newest incident saved into it."""
        indexes = [self.keys.incident_index(),
                   *(self.keys.user_incident_index(u) for u in sorted(incident.participants()))]
        score = {incident.id: incident.updated_at.timestamp()}
        ttl = ttl_ms(self.incident_ttl_s)
        async with self._guard("save_incident"), self._r.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.incident(incident.id), encode(incident), px=ttl)
            for index in indexes:
                pipe.zadd(index, score)
                pipe.pexpire(index, ttl)
            await pipe.execute()
        # Housekeeping after the save has committed: a failure here must not report the save as lost
        # (the caller would tell the user the timeline wasn't recorded, and re-render from a blank).
        try:
            async with self._guard("sweep_incident_index"):
                await self._forget_expired_incidents(indexes)
        except StoreUnavailable:
            log.warning("store: index sweep skipped; the next save sweeps again")

    async def _forget_expired_incidents(self, indexes: list[str]) -> None:
        """Drop index entries whose incident expired, oldest first, a few per index per save: keeps
        every index from growing forever without a full scan (three round trips however many)."""
        async with self._r.pipeline(transaction=False) as pipe:
            for index in indexes:
                pipe.zrange(index, 0, _INDEX_SWEEP - 1)
            oldest: list[list[bytes]] = await pipe.execute()
        candidates = sorted({i for ids in oldest for i in ids})
        if not candidates:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for incident_id in candidates:
                pipe.exists(self.keys.incident(incident_id.decode()))
            present = await pipe.execute()
        gone = {i for i, exists in zip(candidates, present, strict=True) if not exists}
        if not gone:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for index, ids in zip(indexes, oldest, strict=True):
                expired = [i for i in ids if i in gone]
                if expired:
                    pipe.zrem(index, *expired)
            await pipe.execute()

    async def list_incidents(self, *, limit: int = 20, include_resolved: bool = False) -> list[Incident]:
        async with self._guard("list_incidents"):
            return await self._list_index(self.keys.incident_index(), limit, include_resolved, None)

    async def list_user_incidents(self, user: str, *, limit: int = 20,
                                  include_resolved: bool = False) -> list[Incident]:
        if not user:
            return []
        await self._backfill_user_indexes_once()  # never raises: a failed backfill still lists
        async with self._guard("list_user_incidents"):
            return await self._list_index(self.keys.user_incident_index(user), limit, include_resolved, user)

    async def _backfill_user_indexes_once(self) -> None:
        """Index the incidents saved before per-user indexes existed (or by a replica of the previous
        release during a rolling upgrade), so App Home doesn't come up empty after an upgrade.

        At most once a day across replicas: a "done" marker (24 h) says a replica finished, and a short
        "running" one keeps the others from repeating a run in progress. A second pass the next day
        catches what old replicas saved while the first ran. This process stops looking only once it
        has finished a run or seen the "done" marker; a failure is logged and the next listing tries
        again, and callers that queued behind a failed attempt don't each repeat it against a Redis
        that just failed.

        Run here, on the first App Home listing, rather than in the background from ``open_store``: the
        first view after an upgrade is then complete, App Home publishes its view after Slack's ack (no
        3 s limit applies), every round trip is small (``_BACKFILL_BATCH``), and the one-shot CLI, which
        also opens the store, never starts a backfill it would abandon on exit.
        """
        if self._backfill_recent():
            return
        finished_before = self._backfill_attempts
        async with self._backfill_lock:
            if self._backfill_recent() or self._backfill_attempts != finished_before:
                return  # a caller we waited for just finished, or just failed, an attempt
            try:
                async with self._guard("backfill_user_indexes"):
                    if await self._backfill_across_replicas():
                        self._backfill_checked = self.clock.monotonic()
            except StoreUnavailable:
                log.warning("store: backfilling the per-user incident indexes failed; the next App Home "
                            "listing tries again")
            finally:
                self._backfill_attempts += 1

    def _backfill_recent(self) -> bool:
        checked = self._backfill_checked
        return checked is not None and self.clock.monotonic() - checked < _BACKFILL_EVERY_S

    async def _backfill_across_replicas(self) -> bool:
        """Run the backfill unless another replica did today or is doing it now. True when it is done
        (here or elsewhere), False when another replica is still running it."""
        done = self.keys.user_index_backfill()
        if await self._r.exists(done):
            return True
        running = self.keys.user_index_backfill_running()
        token = secrets.token_hex(16).encode()
        if not await self._r.set(running, token, nx=True, px=ttl_ms(_BACKFILL_RUNNING_S)):
            return False  # look again on the next listing: done by then, or its marker expired
        try:
            await self._backfill_user_indexes()
            await self._r.set(done, b"1", px=ttl_ms(_BACKFILL_EVERY_S))
        finally:
            await self._release(running, token)
        return True

    async def _backfill_user_indexes(self) -> None:
        ttl = ttl_ms(self.incident_ttl_s)
        ids: list[bytes] = await self._r.zrange(self.keys.incident_index(), 0, -1)
        for start in range(0, len(ids), _BACKFILL_BATCH):
            batch = ids[start:start + _BACKFILL_BATCH]
            raws = await self._r.mget([self.keys.incident(i.decode()) for i in batch])
            by_user: dict[str, dict[str, float]] = {}
            for raw in raws:
                incident = read_record(Incident, raw, "backfill_user_indexes")
                if incident is None:
                    continue  # expired: the workspace index's own sweep drops it
                for user in incident.participants():
                    by_user.setdefault(user, {})[incident.id] = incident.updated_at.timestamp()
            if not by_user:
                continue
            async with self._r.pipeline(transaction=False) as pipe:
                for user, scores in by_user.items():
                    index = self.keys.user_incident_index(user)
                    # NX: an entry already there was written by a save, which read a newer incident
                    # than the one this MGET may have returned; never put its older score back.
                    pipe.zadd(index, scores, nx=True)
                    pipe.pexpire(index, ttl)  # at most one incident TTL beyond its entries; listing prunes
                await pipe.execute()
        log.info("store: per-user incident indexes backfilled from %d incidents", len(ids))

    async def _list_index(self, index: str, limit: int, include_resolved: bool,
                          participant: str | None) -> list[Incident]:
        """Page through ``index`` newest first, skipping (and then pruning) ids whose incident expired
        or, in a user's index, no longer names that user (a save that lost a race can drop an event)."""
        op = "list_user_incidents" if participant else "list_incidents"
        batch = max(limit * 2, 50)
        found: list[Incident] = []
        expired: list[bytes] = []
        start = 0
        while len(found) < limit:
            ids: list[bytes] = await self._r.zrevrange(index, start, start + batch - 1)
            if not ids:
                break
            raws = await self._r.mget([self.keys.incident(i.decode()) for i in ids])
            for incident_id, raw in zip(ids, raws, strict=True):
                incident = read_record(Incident, raw, op)
                if incident is None or (participant and participant not in incident.participants()):
                    expired.append(incident_id)
                elif include_resolved or incident.status is not IncidentStatus.resolved:
                    found.append(incident)
            start += batch
        if expired:
            await self._r.zrem(index, *expired)  # after paging, so offsets stayed valid
        return found[:limit]

    # --- dedupe, single flight, rate limits -------------------------------------------------------

    async def claim_once(self, key: str, ttl_s: float) -> bool:
        require_positive(ttl_s, "ttl_s")
        async with self._guard("claim_once"):
            return bool(await self._r.set(self.keys.claim(key), b"1", nx=True, px=ttl_ms(ttl_s)))

    def lock(self, name: str, *, ttl_s: float, wait_s: float) -> AbstractAsyncContextManager[bool]:
        require_positive(ttl_s, "ttl_s")
        return self._lock(self.keys.lock(name), ttl_s, wait_s)

    @asynccontextmanager
    async def _lock(self, key: str, ttl_s: float, wait_s: float) -> AsyncIterator[bool]:
        token = secrets.token_hex(16).encode()
        async with self._guard("lock"):
            acquired = await self._try_acquire(key, token, ttl_s)
            for delay in lock_poll_delays(wait_s):
                if acquired:
                    break
                await asyncio.sleep(delay)
                acquired = await self._try_acquire(key, token, ttl_s)
        try:
            yield acquired
        finally:
            if acquired:
                await self._release(key, token)

    async def _try_acquire(self, key: str, token: bytes, ttl_s: float) -> bool:
        return bool(await self._r.set(key, token, nx=True, px=ttl_ms(ttl_s)))

    async def _release(self, key: str, token: bytes) -> None:
        # Not raised: an exception here would replace the body's own outcome, and the lock expires
        # by itself after its ttl anyway.
        try:
            async with self._guard("unlock"):
                await self._release_script(keys=[key], args=[token])
        except StoreUnavailable:
            log.warning("store: lock release failed; it expires on its own")

    async def allow(self, key: str, *, limit: int, window_s: float) -> bool:
        require_positive(window_s, "window_s")
        async with self._guard("allow"):
            count = await self._allow_script(keys=[self.keys.rate(key)], args=[ttl_ms(window_s)])
        return int(count) <= limit

    # --- blobs ----------------------------------------------------------------------------------

    async def put_blob(self, key: str, value: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        async with self._guard("put_blob"):
            await self._r.set(self.keys.blob(key), value.encode(), px=ttl_ms(ttl_s))

    async def get_blob(self, key: str) -> str | None:
        async with self._guard("get_blob"):
            raw = await self._r.get(self.keys.blob(key))
        return raw.decode() if isinstance(raw, bytes) else None
