"""The embedded store: one process's memory, with the same behaviour as Redis, TTLs included.

It is the default when no ``REDIS_URL`` is set (a laptop, the CLI, a single replica). Values are kept
encoded exactly as the Redis backend stores them, so both backends exercise the same codec and a
caller can never mutate a stored record by accident. Expiry follows the injected clock's
``monotonic()``, so tests move time forward instead of sleeping. Waiting for a lock uses real time
(the event loop's), because waiting is about other coroutines, not about stored data.
"""

from __future__ import annotations

import asyncio
import heapq
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from bot.domain.clock import SystemClock
from bot.domain.models import CachedDiagnosis, Diagnosis, Incident, IncidentStatus, TagSighting
from bot.domain.ports import Clock
from bot.store.codec import TagHistory, encode, read_record
from bot.store.history import add_sighting
from bot.store.keys import DEFAULT_PREFIX, Keys
from bot.store.timing import lock_poll_delays, require_positive


@dataclass
class _Entry:
    value: bytes | int
    expires_at: float | None


class MemoryStore:
    """In-process implementation of ``StatePort`` (single process only: nothing is shared)."""

    backend: str = "memory"

    def __init__(self, *, key_prefix: str = DEFAULT_PREFIX, incident_ttl_s: float = 30 * 86400,
                 tag_history_limit: int = 20, clock: Clock | None = None) -> None:
        self.keys = Keys(key_prefix)
        self.incident_ttl_s = incident_ttl_s
        self.tag_history_limit = tag_history_limit
        self.clock: Clock = clock or SystemClock()
        self._entries: dict[str, _Entry] = {}
        # (expires_at, key) for every write with a TTL, soonest first. Expired keys that are never read
        # again (claims, cache entries, blobs) are dropped from here on later writes, so a long-running
        # process does not keep them forever. Items of overwritten or deleted keys go stale; they are
        # skipped when popped, and the heap is rebuilt when stale items outnumber live entries.
        self._expiries: list[tuple[float, str]] = []
        self._incident_index: dict[str, float] = {}  # incident id -> updated_at epoch seconds
        self._user_index: dict[str, dict[str, float]] = {}  # user -> the same, for their incidents
        self._participants: dict[str, frozenset[str]] = {}  # incident id -> users indexing it

    def __len__(self) -> int:
        """Entries held right now, expired-but-not-yet-dropped ones included."""
        return len(self._entries)

    # --- plumbing -----------------------------------------------------------------------------

    def _get(self, key: str) -> bytes | int | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self.clock.monotonic():
            del self._entries[key]
            return None
        return entry.value

    def _set(self, key: str, value: bytes | int, ttl_s: float | None) -> None:
        now = self.clock.monotonic()
        self._drop_expired(now)
        expires = None if ttl_s is None else now + ttl_s
        self._entries[key] = _Entry(value, expires)
        if expires is not None:
            heapq.heappush(self._expiries, (expires, key))
            if len(self._expiries) > 2 * len(self._entries) + 64:
                self._rebuild_expiries()

    def _drop_expired(self, now: float) -> None:
        """Pop every heap item that is due; each item is pushed and popped once, so amortised O(log n)."""
        while self._expiries and self._expiries[0][0] <= now:
            _, key = heapq.heappop(self._expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
                del self._entries[key]

    def _rebuild_expiries(self) -> None:
        # O(n), but only after more than n stale pushes since the last rebuild: amortised O(1).
        self._expiries = [(e.expires_at, k) for k, e in self._entries.items() if e.expires_at is not None]
        heapq.heapify(self._expiries)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None

    # --- result cache ---------------------------------------------------------------------------

    async def get_diagnosis(self, key: str) -> CachedDiagnosis | None:
        return read_record(CachedDiagnosis, self._get(self.keys.diagnosis(key)), "get_diagnosis")

    async def put_diagnosis(self, key: str, diagnosis: Diagnosis, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        record = CachedDiagnosis(diagnosis=diagnosis, stored_at=self.clock.now())
        self._set(self.keys.diagnosis(key), encode(record), ttl_s)

    # --- tag history ----------------------------------------------------------------------------

    async def record_tag(self, name: str, tag: str, digest: str, at: datetime) -> list[TagSighting]:
        key = self.keys.tag_history(name, tag)
        current = read_record(TagHistory, self._get(key), "record_tag") or TagHistory()
        sightings = add_sighting(current.sightings, digest, at, self.tag_history_limit)
        self._set(key, encode(TagHistory(sightings=sightings)), self.incident_ttl_s)
        return sightings

    async def tag_history(self, name: str, tag: str) -> list[TagSighting]:
        record = read_record(TagHistory, self._get(self.keys.tag_history(name, tag)), "tag_history")
        return record.sightings if record else []

    # --- incidents ------------------------------------------------------------------------------

    async def get_incident(self, incident_id: str) -> Incident | None:
        return read_record(Incident, self._get(self.keys.incident(incident_id)), "get_incident")

    async def save_incident(self, incident: Incident) -> None:
        self._set(self.keys.incident(incident.id), encode(incident), self.incident_ttl_s)
        score = incident.updated_at.timestamp()
        self._incident_index[incident.id] = score
        users = incident.participants()
        for user in users:
            self._user_index.setdefault(user, {})[incident.id] = score
        # A user a racing save dropped from the timeline keeps the entry; listing skips and prunes it.
        self._participants[incident.id] = users | self._participants.get(incident.id, frozenset())
        for incident_id in [i for i in self._incident_index if self._get(self.keys.incident(i)) is None]:
            self._forget(incident_id)  # expired: forget it everywhere, so the indexes stay small

    def _forget(self, incident_id: str) -> None:
        self._incident_index.pop(incident_id, None)
        for user in self._participants.pop(incident_id, frozenset()):
            self._unindex(user, incident_id)

    def _unindex(self, user: str, incident_id: str) -> None:
        own = self._user_index.get(user)
        if own is None:
            return
        own.pop(incident_id, None)
        if not own:
            del self._user_index[user]

    async def list_incidents(self, *, limit: int = 20, include_resolved: bool = False) -> list[Incident]:
        found: list[Incident] = []
        for incident in self._newest_first(self._incident_index, "list_incidents"):
            if len(found) >= limit:
                break
            if incident is None:
                continue
            if include_resolved or incident.status is not IncidentStatus.resolved:
                found.append(incident)
        return found

    async def list_user_incidents(self, user: str, *, limit: int = 20,
                                  include_resolved: bool = False) -> list[Incident]:
        found: list[Incident] = []
        for incident in self._newest_first(self._user_index.get(user, {}), "list_user_incidents"):
            if len(found) >= limit:
                break
            if incident is None:
                continue
            if user not in incident.participants():
                self._unindex(user, incident.id)  # a racing save dropped this user's event
            elif include_resolved or incident.status is not IncidentStatus.resolved:
                found.append(incident)
        return found

    def _newest_first(self, index: dict[str, float], op: str) -> Iterator[Incident | None]:
        """The incidents of ``index``, newest first; None for (and forgetting) one that expired."""
        for incident_id, _score in sorted(index.items(), key=lambda kv: (kv[1], kv[0]), reverse=True):
            incident = read_record(Incident, self._get(self.keys.incident(incident_id)), op)
            if incident is None:
                self._forget(incident_id)
            yield incident

    # --- dedupe, single flight, rate limits -------------------------------------------------------

    async def claim_once(self, key: str, ttl_s: float) -> bool:
        require_positive(ttl_s, "ttl_s")
        full = self.keys.claim(key)
        if self._get(full) is not None:
            return False
        self._set(full, 1, ttl_s)
        return True

    def lock(self, name: str, *, ttl_s: float, wait_s: float) -> AbstractAsyncContextManager[bool]:
        require_positive(ttl_s, "ttl_s")
        return self._lock(self.keys.lock(name), ttl_s, wait_s)

    @asynccontextmanager
    async def _lock(self, key: str, ttl_s: float, wait_s: float) -> AsyncIterator[bool]:
        token = secrets.token_bytes(16)
        acquired = self._try_acquire(key, token, ttl_s)
        for delay in lock_poll_delays(wait_s):
            if acquired:
                break
            await asyncio.sleep(delay)
            acquired = self._try_acquire(key, token, ttl_s)
        try:
            yield acquired
        finally:
            if acquired and self._get(key) == token:  # only the holder releases
                del self._entries[key]

    def _try_acquire(self, key: str, token: bytes, ttl_s: float) -> bool:
        if self._get(key) is not None:
            return False
        self._set(key, token, ttl_s)
        return True

    async def allow(self, key: str, *, limit: int, window_s: float) -> bool:
        require_positive(window_s, "window_s")
        full = self.keys.rate(key)
        entry_value = self._get(full)
        if not isinstance(entry_value, int):
            self._set(full, 1, window_s)  # the window starts at its first hit
            return limit >= 1
        entry = self._entries[full]
        entry.value = entry_value + 1
        return entry.value <= limit

    # --- blobs ----------------------------------------------------------------------------------

    async def put_blob(self, key: str, value: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        self._set(self.keys.blob(key), value.encode(), ttl_s)

    async def get_blob(self, key: str) -> str | None:
        raw = self._get(self.keys.blob(key))
        return raw.decode() if isinstance(raw, bytes) else None
