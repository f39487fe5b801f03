"""The check service: cache TTLs, single flight, tag history and degrading when the store is down.

The store is the real embedded ``MemoryStore`` (same behaviour as Redis, TTLs on the injected clock);
the registry is the in-memory fake, gated where a test needs a check to be in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot import metrics
from bot.domain.checking import CheckPolicy, CheckService, cache_key
from bot.domain.clock import ManualClock
from bot.domain.errors import StoreUnavailable
from bot.domain.models import Verdict
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.remedy import FindingKind
from bot.metrics_port import PrometheusCheckMetrics
from bot.store.memory_store import MemoryStore
from tests.domain.fake_registry import FakeRegistry, Repo

HOST = "reg.test"


def _world() -> dict[str, dict[str, Repo]]:
    repo = Repo()
    for tag in ("1.8.3", "1.8.4-hotfix1", "1.9.0", "latest"):
        repo.push_image(f"payments {tag}", tag=tag)
    multi = Repo()
    multi.push_index("multi", ["linux/amd64", "linux/arm64"], tag="1.0")
    return {HOST: {"payments/api": repo, "multi/app": multi}}


class GatedRegistry(FakeRegistry):
    """Holds every manifest GET until ``gate`` is set, so a check stays in flight."""

    def __init__(self, *args: Any, gate: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate
        self.entered = asyncio.Event()

    async def get_manifest(self, *args: Any, **kwargs: Any):
        self.entered.set()
        await self.gate.wait()
        return await super().get_manifest(*args, **kwargs)


class Sessions:
    """A session factory that remembers the sessions it made, so tests can count all requests."""

    def __init__(self, make: Callable[[], FakeRegistry]) -> None:
        self.make = make
        self.made: list[FakeRegistry] = []

    def __call__(self) -> FakeRegistry:
        session = self.make()
        self.made.append(session)
        return session

    @property
    def requests(self) -> int:
        return sum(s.request_count for s in self.made)


def _service(world=None, *, policy: CheckPolicy | None = None, clock: ManualClock | None = None,
             store: Any = None) -> tuple[CheckService, Sessions, ManualClock]:
    world = world if world is not None else _world()
    clock = clock or ManualClock()
    sessions = Sessions(lambda: FakeRegistry(world))
    store = store if store is not None else MemoryStore(clock=clock)
    # Counted into the server's Prometheus metrics, as bot.wiring does, so tests can read the counters.
    service = CheckService(sessions, store, clock, policy or CheckPolicy(), metrics=PrometheusCheckMetrics())
    return service, sessions, clock


def _hits() -> float:
    return float(metrics.CACHE.labels(result="hit")._value.get())


async def test_second_check_within_ttl_is_answered_from_cache_with_zero_requests():
    service, sessions, clock = _service()
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    first = await service.check(ref)
    assert first.requests == 1
    assert not first.from_cache
    hits_before = _hits()
    clock.advance(30)
    second = await service.check(ref, correlation_id="c-2")
    assert second.from_cache
    assert second.requests == 0
    assert second.cache_age_s == pytest.approx(30)
    assert second.digest == first.digest
    assert second.correlation_id == "c-2"
    assert sessions.requests == 1
    assert _hits() == hits_before + 1


async def test_tag_answer_expires_after_the_tag_ttl():
    service, sessions, clock = _service(policy=CheckPolicy(tag_ttl_s=60))
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    await service.check(ref)
    clock.advance(61)
    again = await service.check(ref)
    assert not again.from_cache
    assert sessions.requests == 2


async def test_digest_answer_is_kept_long():
    world = _world()
    digest = world[HOST]["payments/api"].tags["1.9.0"]
    service, _sessions, clock = _service(world, policy=CheckPolicy(tag_ttl_s=60, digest_ttl_s=3600))
    ref = parse_reference(f"{HOST}/payments/api@{digest}")
    await service.check(ref)
    clock.advance(3000)
    assert (await service.check(ref)).from_cache
    clock.advance(700)
    assert not (await service.check(ref)).from_cache


async def test_problems_are_cached_only_briefly():
    service, _sessions, clock = _service(policy=CheckPolicy(negative_ttl_s=15))
    ref = parse_reference(f"{HOST}/payments/api:1.8.4")
    first = await service.check(ref)
    assert first.verdict is Verdict.tag_not_found
    clock.advance(10)
    assert (await service.check(ref)).from_cache
    clock.advance(10)
    assert not (await service.check(ref)).from_cache


async def test_fresh_bypasses_the_cache_and_refreshes_it():
    service, _sessions, clock = _service()
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    await service.check(ref)
    fresh = await service.check(ref, fresh=True)
    assert not fresh.from_cache
    assert fresh.requests == 1
    clock.advance(5)
    cached = await service.check(ref)
    assert cached.cache_age_s == pytest.approx(5)


def test_cache_key_separates_what_changes_the_answer_and_hides_credentials():
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    same_ref_other_spelling = parse_reference(f"{HOST}/payments/api:1.9.0 ".strip())
    arm, amd = parse_platform("linux/arm64"), parse_platform("linux/amd64")
    base = cache_key(ref, [arm, amd], False, "")
    assert base == cache_key(same_ref_other_spelling, [amd, arm], False, "")
    assert base != cache_key(ref, [arm], False, "")
    assert base != cache_key(ref, [arm, amd], True, "")
    with_creds = cache_key(ref, [arm, amd], False, "user:s3cr3t-token")
    assert with_creds != base
    assert "s3cr3t" not in with_creds


async def test_default_platforms_from_the_policy_are_checked():
    service, _, _ = _service(policy=CheckPolicy(default_platforms=(parse_platform("linux/s390x"),)))
    d = await service.check(parse_reference(f"{HOST}/multi/app:1.0"))
    assert d.verdict is Verdict.platform_mismatch
    assert d.missing_platforms == ["linux/s390x"]
    explicit = await service.check(parse_reference(f"{HOST}/multi/app:1.0"),
                                   platforms=[parse_platform("linux/arm64")])
    assert explicit.verdict is Verdict.ok


async def test_moved_tag_is_reported_with_both_digests_and_when():
    world = _world()
    repo = world[HOST]["payments/api"]
    old = repo.tags["1.9.0"]
    service, _, clock = _service(world)
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    first = await service.check(ref)
    assert FindingKind.tag_moved not in [f.kind for f in first.findings]
    clock.advance(120)  # 10:02
    new = repo.push_image("payments 1.9.0 rebuilt", tag="1.9.0").digest
    moved = await service.check(ref)
    finding = next(f for f in moved.findings if f.kind == FindingKind.tag_moved)
    assert f"was {old[:19]}" in finding.summary
    assert "until 2026-03-01 10:00 UTC" in finding.summary
    assert f"now {new[:19]}" in finding.summary
    assert any("re-pushed" in s.text for s in moved.remediation)


async def test_concurrent_identical_checks_in_one_process_make_one_set_of_requests():
    gate = asyncio.Event()
    world = _world()
    clock = ManualClock()
    sessions = Sessions(lambda: GatedRegistry(world, gate=gate))
    service = CheckService(sessions, MemoryStore(clock=clock), clock, CheckPolicy(),
                           metrics=PrometheusCheckMetrics())
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    joins = metrics.SINGLE_FLIGHT_JOINS._value.get()
    tasks = [asyncio.create_task(service.check(ref)) for _ in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert sessions.requests == 1
    assert {r.digest for r in results} == {world[HOST]["payments/api"].tags["1.9.0"]}
    assert metrics.SINGLE_FLIGHT_JOINS._value.get() == joins + 4


async def test_two_replicas_sharing_a_store_make_one_set_of_requests():
    gate = asyncio.Event()
    world = _world()
    clock = ManualClock()
    shared = MemoryStore(clock=clock)
    first_sessions = Sessions(lambda: GatedRegistry(world, gate=gate))
    second_sessions = Sessions(lambda: FakeRegistry(world))
    replica_a = CheckService(first_sessions, shared, clock, CheckPolicy(lock_wait_s=10))
    replica_b = CheckService(second_sessions, shared, clock, CheckPolicy(lock_wait_s=10))
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    a = asyncio.create_task(replica_a.check(ref))
    while not first_sessions.made or not first_sessions.made[0].entered.is_set():  # type: ignore[attr-defined]
        await asyncio.sleep(0.001)
    b = asyncio.create_task(replica_b.check(ref))
    await asyncio.sleep(0.05)  # b is now waiting on the lock
    gate.set()
    da, db = await asyncio.gather(a, b)
    assert first_sessions.requests == 1
    assert second_sessions.requests == 0
    assert db.from_cache
    assert db.digest == da.digest


class DownStore:
    """A store whose backend is down: every call raises ``StoreUnavailable`` (as the Redis store does)."""

    def __getattr__(self, name: str) -> Any:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("redis is down")
        return fail

    def lock(self, name: str, *, ttl_s: float, wait_s: float):
        @asynccontextmanager
        async def broken() -> AsyncIterator[bool]:
            raise StoreUnavailable("redis is down")
            yield False  # pragma: no cover
        return broken()


async def test_store_down_still_answers_uncached_and_says_so():
    service, sessions, _ = _service(store=DownStore())
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    first = await service.check(ref)
    second = await service.check(ref)
    assert first.verdict is second.verdict is Verdict.ok
    assert not second.from_cache
    assert sessions.requests == 2
    assert second.degraded
    assert "without the shared cache" in second.degraded[0]
    assert "redis is down" not in " ".join(second.degraded)


async def test_check_many_answers_in_the_order_asked():
    service, _sessions, _ = _service()
    refs = [parse_reference(f"{HOST}/payments/api:{t}") for t in ("1.9.0", "1.8.4", "latest")]
    results = await service.check_many(refs)
    assert [r.reference.tag for r in results] == ["1.9.0", "1.8.4", "latest"]
    assert [r.verdict for r in results] == [Verdict.ok, Verdict.tag_not_found, Verdict.ok]


async def test_nearest_tags():
    service, _, _ = _service()
    tags = await service.nearest_tags(parse_reference(f"{HOST}/payments/api:1.8.4"), limit=2)
    assert tags == ["1.8.4-hotfix1", "1.8.3"]


async def test_compare_mirrors_asks_now_and_names_the_stale_mirror():
    world = _world()
    stale = Repo()
    stale.push_image("old", tag="1.9.0")
    world["mirror.test"] = {"payments/api": stale}
    service, _sessions, _ = _service(world, policy=CheckPolicy(mirrors={HOST: ["mirror.test"]}))
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    await service.check(ref)  # cached, but compare_mirrors must ask again
    d = await service.compare_mirrors(ref)
    assert not d.from_cache
    assert d.verdict is Verdict.mirror_stale


async def test_compare_mirrors_without_mirrors_says_so():
    service, _, _ = _service()
    d = await service.compare_mirrors(parse_reference(f"{HOST}/payments/api:1.9.0"))
    assert d.verdict is Verdict.ok
    assert any("No mirrors are configured" in f.summary for f in d.findings)


async def test_a_check_past_its_deadline_is_a_timeout_verdict():
    gate = asyncio.Event()  # never set: the registry never answers
    world = _world()
    clock = ManualClock()
    service = CheckService(lambda: GatedRegistry(world, gate=gate), MemoryStore(clock=clock), clock,
                           CheckPolicy(deadline_s=0.05))
    d = await service.check(parse_reference(f"{HOST}/payments/api:1.9.0"))
    assert d.verdict is Verdict.network_timeout
    assert "did not finish" in d.summary


async def test_a_joined_check_whose_owner_is_cancelled_asks_for_itself():
    gate = asyncio.Event()
    world = _world()
    clock = ManualClock()
    sessions = Sessions(lambda: GatedRegistry(world, gate=gate))
    service = CheckService(sessions, MemoryStore(clock=clock), clock, CheckPolicy())
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    owner = asyncio.create_task(service.check(ref))
    while not sessions.made or not sessions.made[0].entered.is_set():  # type: ignore[attr-defined]
        await asyncio.sleep(0.001)
    joiner = asyncio.create_task(service.check(ref))
    await asyncio.sleep(0.01)
    owner.cancel()
    await asyncio.sleep(0.01)
    gate.set()
    d = await joiner
    assert owner.cancelled()
    assert d.verdict is Verdict.ok
    assert d.requests == 1  # it made its own requests


async def test_answers_cached_with_credentials_are_not_served_to_anonymous_askers():
    # A CLI user's own `docker login` (or a bot with registry credentials) must not fill the shared cache
    # under the anonymous key: those answers may be about private images.
    world = _world()
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    with_creds = CheckService(Sessions(lambda: FakeRegistry(world, credentials_for={HOST})), store, clock)
    anonymous_sessions = Sessions(lambda: FakeRegistry(world))
    anonymous = CheckService(anonymous_sessions, store, clock)
    ref = parse_reference(f"{HOST}/payments/api:1.9.0")
    first = await with_creds.check(ref)
    assert first.verdict is Verdict.ok
    second = await anonymous.check(ref)
    assert not second.from_cache
    assert anonymous_sessions.requests > 0
    again = await with_creds.check(ref)
    assert again.from_cache  # the same identity still shares its own answers
