"""Incidents as the store tests write them, including as a previous release wrote them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.incidents import add_event, new_incident
from bot.domain.models import Incident, TimelineKind
from bot.store.codec import encode
from bot.store.redis_store import RedisStore
from tests.fixtures.redis_server import StoreFactory

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def started(thread_ts: str, by: str, at: datetime) -> Incident:
    """An incident in channel C1 that ``by`` started with a check at ``at``."""
    return add_event(new_incident("C1", thread_ts, at=at, created_by=by), TimelineKind.checked,
                     "checked", at=at, actor=by)


async def save_as_the_previous_release(store: RedisStore, incident: Incident) -> None:
    """What the release before per-user indexes wrote: the incident and the workspace index, nothing else."""
    await store._r.set(store.keys.incident(incident.id), encode(incident), px=3_600_000)
    await store._r.zadd(store.keys.incident_index(), {incident.id: incident.updated_at.timestamp()})


async def redis_store(store_factory: StoreFactory, **options: Any) -> RedisStore:
    store = await store_factory("redis", **options)
    assert isinstance(store, RedisStore)
    return store
