"""The one-off backfill of the per-user incident indexes, which runs inside App Home's listing (found in
review, on a real ``redis-server``):

- a failure in it made that App Home view fail, and a concurrent listing in the same process marked the
  backfill done, so this replica never retried for a day;
- its plain ZADD could put back an older score over the one a concurrent save had just written, and
  the incident dropped down the user's list;
- it fetched 200 incidents (~600 KB) per MGET, near the 0.5 s socket timeout on a busy Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from redis.exceptions import TimeoutError as RedisTimeout

from bot.domain.incidents import add_event
from bot.domain.models import TimelineKind
from tests.fixtures.redis_server import StoreFactory
from tests.store.incident_records import T0, redis_store, save_as_the_previous_release, started


async def test_a_failed_backfill_still_lists_and_is_tried_again(
        store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Fault injection: Redis timing out in the middle of the backfill, and only there, can't be timed
    # from outside; the backfill raises what redis-py raises on a socket timeout.
    store = await redis_store(store_factory)
    await store.save_incident(started("new.1", "UALICE", T0))  # saved by this release: indexed already
    await save_as_the_previous_release(store, started("old.1", "UBOB", T0))
    attempts: list[int] = []

    async def timing_out() -> None:
        attempts.append(1)
        await asyncio.sleep(0.05)  # the second listing arrives while this one is still running
        raise RedisTimeout("Timeout reading from socket")

    monkeypatch.setattr(store, "_backfill_user_indexes", timing_out)
    alice, bob = await asyncio.gather(store.list_user_incidents("UALICE"), store.list_user_incidents("UBOB"))

    assert [i.thread_ts for i in alice] == ["new.1"]  # App Home still shows what is indexed
    assert bob == []
    assert len(attempts) == 1  # one attempt at a time; the listing that waited for it did not repeat it
    assert not await store._r.exists(store.keys.user_index_backfill())  # not marked done
    assert not await store._r.exists(store.keys.user_index_backfill_running())  # nor left "running"

    monkeypatch.undo()  # Redis answers again: the next listing retries, in this same process
    assert [i.thread_ts for i in await store.list_user_incidents("UBOB")] == ["old.1"]
    assert await store._r.exists(store.keys.user_index_backfill())


async def test_a_replica_waits_for_another_replicas_running_backfill_and_does_not_give_up(
        store_factory: StoreFactory) -> None:
    store = await redis_store(store_factory)
    await save_as_the_previous_release(store, started("old.1", "UALICE", T0))
    running = store.keys.user_index_backfill_running()
    await store._r.set(running, b"another replica's token", px=60_000)  # another replica is at it

    assert await store.list_user_incidents("UALICE") == []  # not this replica's turn: no second scan
    await store._r.delete(running)  # that replica crashed before finishing (its marker expired)

    assert [i.thread_ts for i in await store.list_user_incidents("UALICE")] == ["old.1"]


async def test_the_backfill_never_puts_back_an_older_score_than_a_concurrent_save_wrote(
        store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await redis_store(store_factory)
    other_replica = await redis_store(store_factory, key_prefix=store.keys.prefix)
    quiet = started("quiet.1", "UALICE", T0 + timedelta(minutes=5))
    busy = started("busy.1", "UALICE", T0)
    await save_as_the_previous_release(store, quiet)
    await save_as_the_previous_release(store, busy)
    busy_now = add_event(busy, TimelineKind.pinned, "pinned", at=T0 + timedelta(minutes=10), actor="UALICE")

    # Fault injection (an interleaving, not a fault): another replica saves the busy incident between
    # the backfill's MGET and its ZADD, which no timing from outside can place reliably.
    real_mget = store._r.mget
    saved = False

    async def mget_then_a_save_elsewhere(keys: Sequence[str], *args: Any) -> Any:
        nonlocal saved
        raws = await real_mget(keys, *args)
        if not saved:
            saved = True
            await other_replica.save_incident(busy_now)
        return raws

    monkeypatch.setattr(store._r, "mget", mget_then_a_save_elsewhere)
    await store._backfill_user_indexes_once()
    monkeypatch.undo()

    listed = await store.list_user_incidents("UALICE")
    assert [i.thread_ts for i in listed] == ["busy.1", "quiet.1"]  # the one just pinned comes first
    assert listed[0] == busy_now


async def test_the_backfill_fetches_incidents_in_small_round_trips(
        store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not a timing test: it counts the incidents asked for per MGET (~3 KB each in production), so no
    # single round trip grows towards the 0.5 s socket timeout however many incidents there are.
    store = await redis_store(store_factory)
    for n in range(120):
        await save_as_the_previous_release(store, started(f"{n}.0", f"U{n % 7}", T0 + timedelta(seconds=n)))
    real_mget = store._r.mget
    asked: list[int] = []

    async def counting_mget(keys: Sequence[str], *args: Any) -> Any:
        asked.append(len(keys))
        return await real_mget(keys, *args)

    monkeypatch.setattr(store._r, "mget", counting_mget)
    await store._backfill_user_indexes_once()
    monkeypatch.undo()

    assert sum(asked) == 120
    assert max(asked) <= 50
    listed = await store.list_user_incidents("U3", limit=100)
    assert sorted(i.thread_ts for i in listed) == sorted(f"{n}.0" for n in range(120) if n % 7 == 3)
