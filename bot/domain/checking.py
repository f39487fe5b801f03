"""The check service: diagnoses behind a result cache, single flight and tag history.

During an incident ten people ask about the same image within a minute, on different replicas. The
first asks the registry; the others wait for its answer and reuse it (single flight through
``StatePort.lock``), and later askers get it from the cache until the TTL says the registry may have
changed: long for a digest (immutable), short for a tag (a mutable pointer), shorter for a problem
(someone is fixing it right now). When the store is down, checks still answer, uncached, and say so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot.domain.diagnose import diagnose, short_digest
from bot.domain.errors import ImagecheckError, StoreUnavailable
from bot.domain.models import (
    CachedDiagnosis,
    Diagnosis,
    Evidence,
    Finding,
    ImageRef,
    Platform,
    Severity,
    TagSighting,
    Verdict,
)
from bot.domain.ports import CheckMetrics, Clock, RegistryPort, RegistrySessionFactory, StatePort
from bot.domain.remedy import FindingKind, remediation_for
from bot.domain.tags import nearest_tags as rank_nearest_tags

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_KEY_PREFIX = "check:"
LOCK_KEY_PREFIX = "check-lock:"


@dataclass
class CheckPolicy:
    """How long answers stay fresh and what a check covers when the caller doesn't say."""

    tag_ttl_s: float = 60.0
    digest_ttl_s: float = 21600.0
    negative_ttl_s: float = 15.0
    default_platforms: tuple[Platform, ...] = ()  # the fleet's platforms, checked when none are asked for
    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)  # registry -> its mirrors
    lock_ttl_s: float = 30.0
    lock_wait_s: float = 30.0
    # registry -> an identity for the credentials used there (a hash, never the secret), for cache keys
    deadline_s: float | None = 45.0  # one diagnosis, all its requests included


def cache_key(ref: ImageRef, platforms: Sequence[Platform], deep: bool, credentials_id: str,
              mirrors: Sequence[str] = ()) -> str:
    """Everything that changes the answer, and nothing secret: the credentials only as a hash."""
    identity = hashlib.sha256(credentials_id.encode()).hexdigest()[:16] if credentials_id else "anonymous"
    material = "|".join([
        ref.normalized,
        ",".join(sorted({str(p) for p in platforms})) or "-",
        f"deep={int(deep)}",
        f"cred={identity}",
        ",".join(sorted(set(mirrors))) or "-",
    ])
    return f"{CACHE_KEY_PREFIX}{ref.normalized}:{hashlib.sha256(material.encode()).hexdigest()[:24]}"


def tag_moved_finding(ref: ImageRef, digest: str, sightings: Sequence[TagSighting],
                      *, just_seen: bool) -> Finding | None:
    """"X was sha256:aa… until 10:02, now sha256:bb…" when the history holds an earlier digest."""
    if len(sightings) < 2 or sightings[0].digest != digest:
        return None
    current, previous = sightings[0], sightings[1]
    if previous.digest == digest:
        return None
    return Finding(
        kind=FindingKind.tag_moved,
        severity=Severity.warning if just_seen else Severity.info,
        summary=(f"{ref.familiar} was {short_digest(previous.digest)} until "
                 f"{previous.last_seen:%Y-%m-%d %H:%M} UTC, now {short_digest(digest)} "
                 f"(since {current.first_seen:%Y-%m-%d %H:%M} UTC)"),
        evidence=Evidence(message=f"previous digest {previous.digest}, first seen "
                                  f"{previous.first_seen.isoformat()}, "
                                  f"last seen {previous.last_seen.isoformat()}"))


class NoCheckMetrics:
    """Counts nothing: for a one-shot CLI run (nobody can scrape it) and for tests that don't count."""

    def check_finished(self, verdict: Verdict) -> None:
        pass

    def cache_hit(self) -> None:
        pass

    def cache_miss(self) -> None:
        pass

    def single_flight_joined(self) -> None:
        pass


class CheckService:
    """What the CLI and the Slack app call to check references."""

    def __init__(self, registry: RegistrySessionFactory, state: StatePort, clock: Clock,
                 policy: CheckPolicy | None = None, *, metrics: CheckMetrics | None = None) -> None:
        self.registry = registry
        self.state = state
        self.clock = clock
        self.policy = policy or CheckPolicy()
        self.metrics: CheckMetrics = metrics if metrics is not None else NoCheckMetrics()
        self._inflight: dict[str, asyncio.Future[Diagnosis]] = {}

    @staticmethod
    async def _credentials_identity(session: RegistryPort, ref: ImageRef) -> str:
        # From the credentials the registry client would really use (settings, docker config, helpers):
        # a CLI user's `docker login` must not put their private answers under the anonymous key.
        try:
            return await session.credentials_identity(ref.registry_key)
        except ImagecheckError:
            return "unresolved"  # never share a key with the anonymous answers when unsure

    # --- public ---------------------------------------------------------------------------------

    async def check(self, ref: ImageRef, *, platforms: Sequence[Platform] = (), deep: bool = False,
                    fresh: bool = False, credentials_id: str = "", correlation_id: str | None = None,
                    mirrors: Sequence[str] | None = None) -> Diagnosis:
        """Diagnose ``ref``; ``fresh`` skips the cache (a re-check) but still refreshes it."""
        wanted = tuple(platforms) or self.policy.default_platforms
        if mirrors is None:
            mirrors = tuple(self.policy.mirrors.get(ref.registry_key, ()))
        session = self.registry()  # one session per check: its identity keys the cache, it asks the registry
        identity = credentials_id or await self._credentials_identity(session, ref)
        key = cache_key(ref, wanted, deep, identity, mirrors)
        degraded: list[str] = []
        asked_at = self.clock.now()

        if not fresh:
            cached = await self._cache_get(key, degraded)
            if cached is not None:
                self.metrics.cache_hit()
                return self._finish(self._from_cache(cached, ref), correlation_id, degraded)
        self.metrics.cache_miss()

        running = self._inflight.get(key)
        if running is not None and not fresh:
            # Same question already being asked in this process: wait for its answer.
            try:
                shared = await asyncio.shield(running)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we were cancelled ourselves
                # the check we joined was cancelled by its own caller: ask for ourselves
                return await self.check(ref, platforms=platforms, deep=deep, fresh=fresh,
                                        credentials_id=credentials_id, correlation_id=correlation_id,
                                        mirrors=mirrors)
            self.metrics.single_flight_joined()
            return self._finish(shared.model_copy(update={"reference": ref, "requests": 0}),
                                correlation_id, degraded)

        future: asyncio.Future[Diagnosis] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            diagnosis = await self._check_once(key, session, ref, wanted, deep, fresh, mirrors, asked_at,
                                               degraded)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: a lone failure must not warn "never retrieved"
            raise
        else:
            future.set_result(diagnosis)
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        return self._finish(diagnosis, correlation_id, degraded)

    async def check_many(self, refs: Sequence[ImageRef], **kwargs: Any) -> list[Diagnosis]:
        """Several references at once; answers in the order asked."""
        return list(await asyncio.gather(*(self.check(ref, **kwargs) for ref in refs)))

    async def nearest_tags(self, ref: ImageRef, limit: int = 10) -> list[str]:
        """The existing tags closest to ``ref``'s tag (registry errors propagate as ``ImagecheckError``)."""
        tags = await self.registry().list_tags(ref.domain, ref.path)
        return rank_nearest_tags(ref.tag or "latest", tags.tags, limit=limit)

    async def compare_mirrors(self, ref: ImageRef, *, correlation_id: str | None = None) -> Diagnosis:
        """Ask upstream directly and every configured mirror, now (no cache), and compare digests."""
        mirrors = tuple(self.policy.mirrors.get(ref.registry_key, ()))
        diagnosis = await self.check(ref, fresh=True, mirrors=mirrors, correlation_id=correlation_id)
        if not mirrors:
            diagnosis.findings.append(Finding(
                kind=FindingKind.mirror_unchecked,
                summary=f"No mirrors are configured for {ref.domain}; only upstream was asked"))
        return diagnosis

    # --- one real check, coordinated across replicas --------------------------------------------

    async def _check_once(self, key: str, session: RegistryPort, ref: ImageRef, wanted: tuple[Platform, ...],
                          deep: bool,
                          fresh: bool, mirrors: Sequence[str], asked_at: datetime,
                          degraded: list[str]) -> Diagnosis:
        async with self._single_flight(key, degraded) as holding:
            if holding is not None:
                # Whoever held the lock before us may have answered exactly this question.
                cached = await self._cache_get(key, degraded)
                if cached is not None and (not fresh or cached.stored_at > asked_at):
                    self.metrics.single_flight_joined()
                    return self._from_cache(cached, ref)
            diagnosis = await self._diagnose(session, ref, wanted, deep, mirrors)
            await self._record_tag(ref, diagnosis, degraded)
            await self._cache_put(key, ref, diagnosis, degraded)
            return diagnosis

    async def _diagnose(self, session: RegistryPort, ref: ImageRef, wanted: Sequence[Platform], deep: bool,
                        mirrors: Sequence[str]) -> Diagnosis:
        started = self.clock.monotonic()
        try:
            async with asyncio.timeout(self.policy.deadline_s):
                return await diagnose(ref, session, platforms=wanted, deep=deep, mirrors=mirrors,
                                      clock=self.clock)
        except TimeoutError:
            d = Diagnosis(
                reference=ref, verdict=Verdict.network_timeout, registry=ref.domain,
                summary=f"The check of {ref.familiar} did not finish within {self.policy.deadline_s:.0f} s: "
                        f"{ref.domain} is answering too slowly.",
                wanted_platforms=[str(p) for p in wanted], requests=session.request_count,
                findings=[Finding(kind=FindingKind.unreachable, severity=Severity.error,
                                  summary="Diagnosis deadline exceeded",
                                  evidence=Evidence(
                                      exception=f"TimeoutError after {self.policy.deadline_s} s"))],
                checked_at=self.clock.now(), duration_ms=(self.clock.monotonic() - started) * 1000.0)
            d.remediation = remediation_for(d)
            return d

    async def _record_tag(self, ref: ImageRef, d: Diagnosis, degraded: list[str]) -> None:
        tag = ref.effective_tag
        if ref.digest or not tag or not d.digest:
            return
        now = self.clock.now()
        sightings = await self._store_call("record_tag", degraded,
                                           lambda: self.state.record_tag(ref.name, tag, d.digest or "", now))
        if not sightings:
            return
        finding = tag_moved_finding(ref, d.digest, sightings, just_seen=sightings[0].first_seen == now)
        if finding is not None:
            d.findings.append(finding)
            d.remediation = remediation_for(d)

    # --- cache ----------------------------------------------------------------------------------

    def ttl_for(self, ref: ImageRef, d: Diagnosis) -> float:
        if d.verdict is not Verdict.ok:
            return self.policy.negative_ttl_s
        return self.policy.digest_ttl_s if ref.digest else self.policy.tag_ttl_s

    async def _cache_get(self, key: str, degraded: list[str]) -> CachedDiagnosis | None:
        return await self._store_call("get_diagnosis", degraded, lambda: self.state.get_diagnosis(key))

    async def _cache_put(self, key: str, ref: ImageRef, d: Diagnosis, degraded: list[str]) -> None:
        ttl = self.ttl_for(ref, d)
        if ttl > 0:
            await self._store_call("put_diagnosis", degraded, lambda: self.state.put_diagnosis(key, d, ttl))

    def _from_cache(self, cached: CachedDiagnosis, ref: ImageRef) -> Diagnosis:
        age = max(0.0, (self.clock.now() - cached.stored_at).total_seconds())
        return cached.diagnosis.model_copy(update={
            "reference": ref, "from_cache": True, "cache_age_s": age, "requests": 0, "duration_ms": 0.0})

    # --- degrading when the store is down -------------------------------------------------------

    async def _store_call(self, op: str, degraded: list[str],
                          call: Callable[[], Awaitable[T]]) -> T | None:
        try:
            return await call()
        except StoreUnavailable as exc:
            self._degrade(op, degraded, exc)
            return None

    @staticmethod
    def _degrade(op: str, degraded: list[str], exc: StoreUnavailable) -> None:
        # The store counts its own failures (STORE_ERRORS); here we only tell the reader.
        note = "state store unavailable: answered without the shared cache, single flight or tag history"
        if note not in degraded:
            degraded.append(note)
        del exc  # the store's message may name its URL; the note says what matters to the reader

    @asynccontextmanager
    async def _single_flight(self, key: str, degraded: list[str]) -> AsyncIterator[bool | None]:
        """Yields True when we hold the lock, False when waiting for it timed out, None without a store."""
        try:
            lock = self.state.lock(LOCK_KEY_PREFIX + key, ttl_s=self.policy.lock_ttl_s,
                                   wait_s=self.policy.lock_wait_s)
            acquired = await lock.__aenter__()
        except StoreUnavailable as exc:
            self._degrade("lock", degraded, exc)
            yield None
            return
        try:
            yield acquired
        finally:
            try:
                await lock.__aexit__(None, None, None)
            except StoreUnavailable as exc:
                self._degrade("unlock", degraded, exc)

    def _finish(self, d: Diagnosis, correlation_id: str | None, degraded: list[str]) -> Diagnosis:
        d = d.model_copy(deep=True, update={"correlation_id": correlation_id,
                                 "degraded": [*dict.fromkeys([*d.degraded, *degraded])]})
        self.metrics.check_finished(d.verdict)
        # One line per check: the correlation id is also in the Slack message's context line, so a
        # reply in a channel can be matched to its log line (and the registry's access log by time).
        log.info("check", extra={"reference": d.reference.normalized, "verdict": d.verdict.value,
                                 "requests": d.requests, "duration_ms": round(d.duration_ms, 1),
                                 "from_cache": d.from_cache, "correlation_id": correlation_id,
                                 "degraded": bool(d.degraded)})
        return d
