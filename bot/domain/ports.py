"""What the domain asks of the outside world. Adapters implement these; tests may use fakes.

Nothing here names a library: the registry adapter (httpx), the store (redis) and the Slack app
satisfy these protocols structurally.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from bot.domain.models import (
    BlobHead,
    CachedDiagnosis,
    Diagnosis,
    ImageConfig,
    Incident,
    Manifest,
    ManifestHead,
    TagList,
    TagSighting,
    Verdict,
)


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class CheckMetrics(Protocol):
    """What the check service reports as it answers, named for what happened.

    The server's adapter turns these into counters for /metrics; a one-shot CLI run, which nobody can
    scrape, and tests pass ``NoCheckMetrics`` (``bot.domain.checking``) or a fake that records.
    """

    def check_finished(self, verdict: Verdict) -> None:
        """One answer handed to a caller, whether asked of the registry, cached or shared."""
        ...

    def cache_hit(self) -> None:
        """The result cache answered, without asking the registry."""
        ...

    def cache_miss(self) -> None:
        """The result cache had no answer (or a re-check skipped it)."""
        ...

    def single_flight_joined(self) -> None:
        """An identical check already running (here, or on another replica under its lock) answered."""
        ...


class RegistryPort(Protocol):
    """One diagnosis's view of the registries.

    ``registry`` is the Docker-style domain (``docker.io``, ``127.0.0.1:5001``, a mirror's host);
    the adapter maps it to an endpoint. Errors are raised as ``bot.domain.errors`` types. By default
    credentials are used when configured; ``anonymous=True`` asks without them (to tell "not found"
    from "not authorised"). ``request_count`` counts every HTTP request this session made, token
    requests included.
    """

    @property
    def request_count(self) -> int: ...

    def has_credentials(self, registry: str) -> bool: ...

    async def credentials_identity(self, registry: str) -> str:
        """Who this session asks ``registry`` as: a non-secret identity of the credentials it would use
        (changes when the password does), or "" when it asks anonymously. Cache keys are built from it,
        so one identity's answers are never served to another."""
        ...

    async def head_manifest(self, registry: str, repository: str, reference: str, *,
                            anonymous: bool = False) -> ManifestHead: ...

    async def get_manifest(self, registry: str, repository: str, reference: str, *,
                           anonymous: bool = False) -> Manifest: ...

    async def get_image_config(self, registry: str, repository: str, digest: str, *,
                               anonymous: bool = False) -> ImageConfig: ...

    async def list_tags(self, registry: str, repository: str, *, anonymous: bool = False,
                        page_size: int = 1000, max_pages: int = 10,
                        max_tags: int = 10_000) -> TagList: ...

    async def head_blob(self, registry: str, repository: str, digest: str, *,
                        anonymous: bool = False) -> BlobHead: ...


RegistrySessionFactory = Callable[[], RegistryPort]
"""Makes a fresh per-diagnosis session (own request counter, shared connection pool and tokens)."""


class StatePort(Protocol):
    """Everything that must survive a restart or be shared between replicas.

    Implementations raise ``StoreUnavailable`` when the backend is down; callers degrade.
    """

    async def ping(self) -> bool: ...

    # result cache
    async def get_diagnosis(self, key: str) -> CachedDiagnosis | None: ...

    async def put_diagnosis(self, key: str, diagnosis: Diagnosis, ttl_s: float) -> None: ...

    # tag history: returns the sightings for this tag, most recent first, after recording this one
    async def record_tag(self, name: str, tag: str, digest: str, at: datetime) -> list[TagSighting]: ...

    async def tag_history(self, name: str, tag: str) -> list[TagSighting]: ...

    # incidents
    async def get_incident(self, incident_id: str) -> Incident | None: ...

    async def save_incident(self, incident: Incident) -> None: ...

    async def list_incidents(self, *, limit: int = 20, include_resolved: bool = False) -> list[Incident]: ...

    async def list_user_incidents(self, user: str, *, limit: int = 20,
                                  include_resolved: bool = False) -> list[Incident]:
        """The incidents ``user`` took part in (``Incident.participants``), most recent first, however
        many newer incidents of other users the workspace has."""
        ...

    # dedupe: True the first time ``key`` is claimed within ``ttl_s``, False after
    async def claim_once(self, key: str, ttl_s: float) -> bool: ...

    # single flight: a lock held by its holder only, expiring after ``ttl_s``; yields whether acquired
    def lock(self, name: str, *, ttl_s: float, wait_s: float) -> AbstractAsyncContextManager[bool]: ...

    # rate limits: True while ``key`` has been hit at most ``limit`` times in ``window_s``
    async def allow(self, key: str, *, limit: int, window_s: float) -> bool: ...

    # small JSON blobs for button payloads that exceed Slack's 2,000-character value
    async def put_blob(self, key: str, value: str, ttl_s: float) -> None: ...

    async def get_blob(self, key: str) -> str | None: ...
