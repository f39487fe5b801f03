"""What the check service reports through its ``CheckMetrics`` port: a cache hit or miss, a single-flight
join, and every answer's verdict.

The port is a recording fake of our own protocol (not a mock of a server): the domain is meant to be
tested with plain calls. Store and registry are the same as in ``test_checking``: the real embedded
``MemoryStore`` and the in-memory fake registry, gated where a check must stay in flight.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bot.domain.checking import CheckPolicy, CheckService
from bot.domain.clock import ManualClock
from bot.domain.models import Verdict
from bot.domain.ports import CheckMetrics
from bot.domain.reference import parse_reference
from bot.store.memory_store import MemoryStore
from tests.domain.fake_registry import FakeRegistry
from tests.domain.test_checking import HOST, DownStore, GatedRegistry, Sessions, _world

REF = f"{HOST}/payments/api:1.9.0"

HIT = "cache hit"
MISS = "cache miss"
JOINED = "single flight joined"


class RecordingMetrics:
    """Remembers every report, in order; a verdict is recorded as the verdict itself."""

    def __init__(self) -> None:
        self.events: list[str | Verdict] = []

    def check_finished(self, verdict: Verdict) -> None:
        self.events.append(verdict)

    def cache_hit(self) -> None:
        self.events.append(HIT)

    def cache_miss(self) -> None:
        self.events.append(MISS)

    def single_flight_joined(self) -> None:
        self.events.append(JOINED)

    def count(self, event: str | Verdict) -> int:
        return self.events.count(event)


def _service(sessions: Sessions, clock: ManualClock, store: Any = None,
             policy: CheckPolicy | None = None) -> tuple[CheckService, RecordingMetrics]:
    recorder = RecordingMetrics()
    port: CheckMetrics = recorder  # mypy checks the fake really satisfies the port
    state = store if store is not None else MemoryStore(clock=clock)
    return CheckService(sessions, state, clock, policy or CheckPolicy(), metrics=port), recorder


async def _until_in_flight(sessions: Sessions) -> None:
    while not sessions.made or not sessions.made[0].entered.is_set():  # type: ignore[attr-defined]
        await asyncio.sleep(0.001)


async def test_a_miss_then_a_hit_each_report_the_verdict_they_answered() -> None:
    clock = ManualClock()
    sessions = Sessions(lambda: FakeRegistry(_world()))
    service, recorder = _service(sessions, clock)
    ref = parse_reference(REF)
    await service.check(ref)
    clock.advance(30)  # within the tag TTL
    second = await service.check(ref)
    assert second.from_cache
    assert recorder.events == [MISS, Verdict.ok, HIT, Verdict.ok]


async def test_a_problem_verdict_is_reported_as_that_verdict() -> None:
    clock = ManualClock()
    service, recorder = _service(Sessions(lambda: FakeRegistry(_world())), clock)
    await service.check(parse_reference(f"{HOST}/payments/api:1.8.4"))  # no such tag
    assert recorder.events == [MISS, Verdict.tag_not_found]


async def test_a_fresh_check_skips_the_cache_and_counts_a_miss_not_a_hit() -> None:
    clock = ManualClock()
    sessions = Sessions(lambda: FakeRegistry(_world()))
    service, recorder = _service(sessions, clock)
    ref = parse_reference(REF)
    await service.check(ref)
    again = await service.check(ref, fresh=True)
    assert not again.from_cache
    assert sessions.requests == 2
    assert recorder.count(MISS) == 2
    assert recorder.count(HIT) == 0


async def test_concurrent_identical_checks_report_one_miss_each_and_four_joins() -> None:
    gate = asyncio.Event()
    clock = ManualClock()
    world = _world()
    sessions = Sessions(lambda: GatedRegistry(world, gate=gate))
    service, recorder = _service(sessions, clock)
    ref = parse_reference(REF)
    tasks = [asyncio.create_task(service.check(ref)) for _ in range(5)]
    await _until_in_flight(sessions)
    await asyncio.sleep(0.01)  # the other four have found the running check and wait for it
    gate.set()
    await asyncio.gather(*tasks)
    assert sessions.requests == 1
    assert recorder.count(MISS) == 5  # nobody found the answer cached: all five looked first
    assert recorder.count(JOINED) == 4
    assert recorder.count(HIT) == 0
    assert recorder.count(Verdict.ok) == 5  # every caller got an answer, the joiners included


async def test_a_replica_that_waited_on_the_lock_reports_a_join_and_the_asker_does_not() -> None:
    gate = asyncio.Event()
    clock = ManualClock()
    world = _world()
    shared = MemoryStore(clock=clock)
    first_sessions = Sessions(lambda: GatedRegistry(world, gate=gate))
    second_sessions = Sessions(lambda: FakeRegistry(world))
    replica_a, seen_by_a = _service(first_sessions, clock, shared, CheckPolicy(lock_wait_s=10))
    replica_b, seen_by_b = _service(second_sessions, clock, shared, CheckPolicy(lock_wait_s=10))
    ref = parse_reference(REF)
    a = asyncio.create_task(replica_a.check(ref))
    await _until_in_flight(first_sessions)
    b = asyncio.create_task(replica_b.check(ref))
    await asyncio.sleep(0.05)  # b has missed the cache and waits on a's lock
    gate.set()
    await asyncio.gather(a, b)
    assert second_sessions.requests == 0
    assert seen_by_a.events == [MISS, Verdict.ok]
    assert seen_by_b.events == [MISS, JOINED, Verdict.ok]


async def test_with_the_store_down_every_check_is_a_miss_and_still_reports_its_verdict() -> None:
    clock = ManualClock()
    service, recorder = _service(Sessions(lambda: FakeRegistry(_world())), clock, store=DownStore())
    ref = parse_reference(REF)
    await service.check(ref)
    await service.check(ref)
    assert recorder.events == [MISS, Verdict.ok, MISS, Verdict.ok]
