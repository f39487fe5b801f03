"""Keeping the Redis incident indexes right across an upgrade and a slow Redis (found in review).

- Incidents saved before per-user indexes existed (or by a replica of the previous release during a
  rolling upgrade) are in the workspace index only: App Home, which reads the per-user index, showed
  "no open incidents" for up to the 30-day retention. The store backfills them on first use.
- The sweep of expired index entries runs after a save has committed; a timeout there reported the
  save itself as lost, and the caller re-rendered the thread's root from a blank incident.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from redis.exceptions import TimeoutError as RedisTimeout

from bot.domain.incidents import add_event
from bot.domain.models import TimelineKind
from tests.fixtures.redis_server import StoreFactory
from tests.store.incident_records import T0, redis_store, save_as_the_previous_release, started


async def test_incidents_saved_before_the_upgrade_reach_their_users_lists(store_factory: StoreFactory) -> None:
    store = await redis_store(store_factory)
    pinned = add_event(started("1.0", "UALICE", T0), TimelineKind.pinned, "pinned", at=T0 + timedelta(minutes=1),
                       actor="UBOB")
    await save_as_the_previous_release(store, pinned)
    await save_as_the_previous_release(store, started("2.0", "UCAROL", T0 + timedelta(minutes=2)))

    upgraded = await store_factory("redis", key_prefix=store.keys.prefix)  # a replica of the new release
    assert [i.thread_ts for i in await upgraded.list_user_incidents("UALICE")] == ["1.0"]
    assert [i.thread_ts for i in await upgraded.list_user_incidents("UBOB")] == ["1.0"]  # an actor, too
    assert [i.thread_ts for i in await upgraded.list_user_incidents("UCAROL")] == ["2.0"]
    assert await store._r.pttl(store.keys.user_incident_index("UALICE")) > 0  # expires like the rest


async def test_the_backfill_runs_once_a_day_across_replicas(store_factory: StoreFactory) -> None:
    store = await redis_store(store_factory)
    await store.list_user_incidents("UALICE")  # this replica backfills (nothing yet) and marks it
    await save_as_the_previous_release(store, started("late.1", "UALICE", T0))  # an old replica, after
    other = await store_factory("redis", key_prefix=store.keys.prefix)
    assert await other.list_user_incidents("UALICE") == []  # marked today: no second scan
    await store._r.delete(store.keys.user_index_backfill())  # a day later the marker has expired
    fresh = await store_factory("redis", key_prefix=store.keys.prefix)
    assert [i.thread_ts for i in await fresh.list_user_incidents("UALICE")] == ["late.1"]


async def test_a_timeout_while_sweeping_after_a_committed_save_is_not_a_lost_save(
        store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: Redis answering the MULTI and then timing out on the next round trip can't be
    # timed from outside, so the sweep raises what redis-py raises on a socket timeout.
    store = await redis_store(store_factory)

    async def timed_out(indexes: list[str]) -> None:
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr(store, "_forget_expired_incidents", timed_out)
    incident = started("1.0", "UALICE", T0)
    await store.save_incident(incident)  # no StoreUnavailable: the save itself went through
    assert await store.get_incident(incident.id) == incident
