"""The embedded store drops expired keys nobody reads again, so a long-running process stays small.

Claims (one per Slack delivery, slash command, click and replay key), cache entries and blobs are
written once and usually never read again; without a sweep they would pile up forever.
"""

from __future__ import annotations

from bot.domain.clock import ManualClock
from bot.store.memory_store import MemoryStore


async def test_write_once_keys_are_dropped_after_they_expire() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    for i in range(5000):
        assert await store.claim_once(f"event:Ev{i}", 3600)
        assert await store.claim_once(f"replay:{i}", 360)
    await store.put_blob("parent", "x", 60)
    assert len(store) == 10_001

    clock.advance(10 * 86400)  # ten days later: every key above is long expired
    assert await store.claim_once("event:new", 3600)
    assert len(store) == 1  # only the new claim is left


async def test_the_sweep_keeps_live_and_lasting_keys() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    await store.claim_once("short", 10)
    await store.claim_once("long", 1000)
    await store.claim_once("long", 1000)  # refused, and the first claim's expiry stands
    async with store.lock("held", ttl_s=5, wait_s=0) as got:
        assert got
    for i in range(300):  # one key rewritten often: its stale expiry items must not pile up instead
        await store.put_blob("parent", f"v{i}", 1000)
        clock.advance(2)
    assert len(store._expiries) <= 2 * len(store) + 64  # the bound the store promises
    assert await store.get_blob("parent") == "v299"
    assert not await store.claim_once("long", 1000)  # 600 s passed: still claimed
    assert await store.claim_once("short", 10)  # expired, so it can be claimed again
