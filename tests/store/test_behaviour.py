"""The StatePort contract, run against the embedded store and a real redis-server alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.incidents import add_event, new_incident, record_diagnosis, set_status, update_incident
from bot.domain.models import Diagnosis, ImageRef, Incident, IncidentStatus, TimelineKind, Verdict
from bot.store import Store
from tests.store.conftest import Backend, open_backend

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def diagnosis(tag: str = "1.9.0", digest: str | None = None, verdict: Verdict = Verdict.ok) -> Diagnosis:
    ref = ImageRef(input=f"payments/api:{tag}", domain="docker.io", path="payments/api", tag=tag,
                   digest=digest)
    return Diagnosis(reference=ref, verdict=verdict, summary=f"{ref.familiar} is {verdict.value}",
                     digest=digest or "sha256:" + "a" * 64, requests=3)


# --- result cache -----------------------------------------------------------------------------


async def test_cached_diagnosis_round_trips_with_stored_at(state: Backend) -> None:
    d = diagnosis(verdict=Verdict.platform_mismatch)
    await state.store.put_diagnosis("k1", d, ttl_s=60)

    cached = await state.store.get_diagnosis("k1")

    assert cached is not None
    assert cached.diagnosis == d
    assert abs((datetime.now(UTC) if state.clock is None else state.clock.now())
               - cached.stored_at) < timedelta(seconds=5)
    assert await state.store.get_diagnosis("other") is None


async def test_tag_result_expires_while_digest_result_stays(state: Backend) -> None:
    # The caller picks the TTL: a tag is a mutable pointer (short), a digest immutable (long).
    await state.store.put_diagnosis("by-tag", diagnosis(), ttl_s=1.0)
    await state.store.put_diagnosis("by-digest", diagnosis(digest="sha256:" + "b" * 64), ttl_s=3600)
    assert await state.store.get_diagnosis("by-tag") is not None

    await state.elapse(1.2)

    assert await state.store.get_diagnosis("by-tag") is None
    assert await state.store.get_diagnosis("by-digest") is not None


async def test_non_positive_ttl_stores_nothing(state: Backend) -> None:
    await state.store.put_diagnosis("k", diagnosis(), ttl_s=0)
    await state.store.put_blob("b", "{}", ttl_s=-1)
    assert await state.store.get_diagnosis("k") is None
    assert await state.store.get_blob("b") is None


async def test_cache_is_shared_between_instances(state: Backend) -> None:
    other = await state.other()
    await state.store.put_diagnosis("shared", diagnosis(), ttl_s=60)
    cached = await other.get_diagnosis("shared")
    assert cached is not None
    assert cached.diagnosis.reference.normalized == "docker.io/payments/api:1.9.0"


# --- tag history --------------------------------------------------------------------------------

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


async def test_same_digest_extends_last_seen(state: Backend) -> None:
    await state.store.record_tag("docker.io/payments/api", "1.9.0", A, T0)
    sightings = await state.store.record_tag("docker.io/payments/api", "1.9.0", A, T0 + timedelta(minutes=5))

    assert [(s.digest, s.first_seen, s.last_seen) for s in sightings] == [
        (A, T0, T0 + timedelta(minutes=5))]


async def test_moved_tag_adds_a_sighting_most_recent_first(state: Backend) -> None:
    name, tag = "docker.io/payments/api", "1.9.0"
    await state.store.record_tag(name, tag, A, T0)
    await state.store.record_tag(name, tag, A, T0 + timedelta(minutes=2))
    moved_at = T0 + timedelta(minutes=3)

    sightings = await state.store.record_tag(name, tag, B, moved_at)

    assert [s.digest for s in sightings] == [B, A]
    assert sightings[0].first_seen == moved_at
    assert sightings[1].last_seen == T0 + timedelta(minutes=2)  # "was A until 10:02"
    other = await state.other()
    assert await other.tag_history(name, tag) == sightings
    assert await state.store.tag_history(name, "other-tag") == []


async def test_tag_moved_back_is_a_new_sighting(state: Backend) -> None:
    name, tag = "ghcr.io/o/r", "latest"
    await state.store.record_tag(name, tag, A, T0)
    await state.store.record_tag(name, tag, B, T0 + timedelta(minutes=1))
    sightings = await state.store.record_tag(name, tag, A, T0 + timedelta(minutes=2))
    assert [s.digest for s in sightings] == [A, B, A]


async def test_tag_history_is_bounded_per_tag(backend_name: str, store_factory) -> None:
    state = await open_backend(backend_name, store_factory, tag_history_limit=3)
    digests = [f"sha256:{i:064x}" for i in range(5)]
    for i, digest in enumerate(digests):
        await state.store.record_tag("r/x", "t", digest, T0 + timedelta(minutes=i))

    history = await state.store.tag_history("r/x", "t")

    assert [s.digest for s in history] == digests[:1:-1]  # newest three, newest first


async def test_concurrent_recordings_from_two_instances_lose_nothing(state: Backend) -> None:
    other = await state.other()
    digests = [f"sha256:{i:064x}" for i in range(16)]
    await asyncio.gather(*(
        (state.store if i % 2 else other).record_tag("r/race", "t", d, T0 + timedelta(seconds=i))
        for i, d in enumerate(digests)))

    history = await state.store.tag_history("r/race", "t")

    assert sorted(s.digest for s in history) == sorted(digests)
    assert history[0].digest == digests[-1]  # ordered by when seen, not by who wrote last


# --- incidents ----------------------------------------------------------------------------------


async def test_incident_round_trip(state: Backend) -> None:
    incident = new_incident("C1", "1700000000.000100", at=T0, created_by="U1")
    incident = record_diagnosis(incident, diagnosis(verdict=Verdict.tag_not_found), at=T0, actor="U1")
    await state.store.save_incident(incident)

    loaded = await (await state.other()).get_incident("C1:1700000000.000100")

    assert loaded == incident
    assert loaded is not None
    assert loaded.diagnoses["docker.io/payments/api:1.9.0"].verdict is Verdict.tag_not_found
    assert await state.store.get_incident("C1:nope") is None


async def test_list_incidents_most_recent_first_and_hides_resolved(state: Backend) -> None:
    for i in range(4):
        await state.store.save_incident(new_incident("C", f"{i}.0", at=T0 + timedelta(minutes=i)))
    resolved = set_status(new_incident("C", "9.0", at=T0 + timedelta(hours=1)), IncidentStatus.resolved,
                          at=T0 + timedelta(hours=1))
    await state.store.save_incident(resolved)

    listed = await state.store.list_incidents()
    everything = await state.store.list_incidents(include_resolved=True)
    two = await state.store.list_incidents(limit=2)

    assert [i.thread_ts for i in listed] == ["3.0", "2.0", "1.0", "0.0"]
    assert [i.thread_ts for i in everything] == ["9.0", "3.0", "2.0", "1.0", "0.0"]
    assert [i.thread_ts for i in two] == ["3.0", "2.0"]


async def test_resaving_an_updated_incident_moves_it_to_the_top(state: Backend) -> None:
    first = new_incident("C", "1.0", at=T0)
    await state.store.save_incident(first)
    await state.store.save_incident(new_incident("C", "2.0", at=T0 + timedelta(minutes=1)))
    await state.store.save_incident(set_status(first, IncidentStatus.mitigated, at=T0 + timedelta(minutes=2)))

    listed = await state.store.list_incidents()

    assert [(i.thread_ts, i.status) for i in listed] == [
        ("1.0", IncidentStatus.mitigated), ("2.0", IncidentStatus.open)]


async def test_incidents_expire_after_their_ttl_and_saving_refreshes_it(
        backend_name: str, store_factory) -> None:
    state = await open_backend(backend_name, store_factory, incident_ttl_s=1.0)
    kept = new_incident("C", "kept", at=T0)
    await state.store.save_incident(kept)
    await state.store.save_incident(new_incident("C", "dropped", at=T0))
    await state.elapse(0.6)
    await state.store.save_incident(kept)  # activity refreshes the TTL
    await state.elapse(0.6)

    assert await state.store.get_incident("C:dropped") is None
    assert await state.store.get_incident("C:kept") is not None
    assert [i.thread_ts for i in await state.store.list_incidents()] == ["kept"]


# --- dedupe -------------------------------------------------------------------------------------


async def test_claim_once_across_instances_then_again_after_ttl(state: Backend) -> None:
    other = await state.other()
    results = await asyncio.gather(*(s.claim_once("event:Ev123", ttl_s=1.0)
                                     for s in [state.store, other] * 3))
    assert sorted(results) == [False] * 5 + [True]

    await state.elapse(1.2)
    assert await other.claim_once("event:Ev123", ttl_s=1.0) is True


async def test_claim_once_rejects_a_non_positive_ttl(state: Backend) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await state.store.claim_once("x", ttl_s=0)


# --- locks --------------------------------------------------------------------------------------


async def test_lock_is_exclusive_across_instances(state: Backend) -> None:
    other = await state.other()
    async with (state.store.lock("check:x", ttl_s=5, wait_s=0) as got_first,
                other.lock("check:x", ttl_s=5, wait_s=0) as got_second):
        assert (got_first, got_second) == (True, False)
    async with other.lock("check:x", ttl_s=5, wait_s=0) as got_after_release:
        assert got_after_release is True


async def test_waiter_gets_the_lock_when_the_holder_releases(state: Backend) -> None:
    other = await state.other()
    holder_entered = asyncio.Event()
    holder_work_done = asyncio.Event()

    async def hold_briefly() -> None:
        async with state.store.lock("check:y", ttl_s=30, wait_s=0) as got:
            assert got
            holder_entered.set()
            await asyncio.sleep(0.1)
            holder_work_done.set()

    holder = asyncio.create_task(hold_briefly())
    await holder_entered.wait()
    async with other.lock("check:y", ttl_s=30, wait_s=5) as waited:
        assert waited is True
        assert holder_work_done.is_set()  # it got in only after the holder's critical section
    await holder


async def test_only_the_holder_releases_its_lock(state: Backend) -> None:
    other = await state.other()
    slow = state.store.lock("check:z", ttl_s=0.3, wait_s=0)
    assert await slow.__aenter__() is True
    await state.elapse(0.5)  # the slow holder's lock expired...
    async with other.lock("check:z", ttl_s=30, wait_s=0) as second:
        assert second is True  # ...so another instance took it
        await slow.__aexit__(None, None, None)  # the slow holder finishes late
        async with state.store.lock("check:z", ttl_s=30, wait_s=0) as third:
            assert third is False  # the second holder's lock survived the late release


async def test_a_crashed_holder_does_not_block_forever(state: Backend) -> None:
    other = await state.other()
    crashed = state.store.lock("check:w", ttl_s=1.0, wait_s=0)
    assert await crashed.__aenter__() is True  # never exited: the holder "crashed"
    async with other.lock("check:w", ttl_s=5, wait_s=0) as blocked:
        assert blocked is False
    await state.elapse(1.2)
    async with other.lock("check:w", ttl_s=5, wait_s=0) as freed:
        assert freed is True


async def test_single_flight_makes_one_registry_round(state: Backend) -> None:
    """Ten identical checks on two instances: one does the work, the rest reuse its result."""
    other = await state.other()
    registry_rounds = 0

    async def check(store: Store) -> Diagnosis:
        nonlocal registry_rounds
        async with store.lock("flight:payments/api:1.9.0", ttl_s=10, wait_s=5):
            cached = await store.get_diagnosis("payments/api:1.9.0")
            if cached is not None:
                return cached.diagnosis
            registry_rounds += 1
            await asyncio.sleep(0.05)  # the registry takes a moment
            result = diagnosis()
            await store.put_diagnosis("payments/api:1.9.0", result, ttl_s=60)
            return result

    results = await asyncio.gather(*(check(s) for s in [state.store, other] * 5))

    assert registry_rounds == 1
    assert all(r == results[0] for r in results)


# --- rate limits --------------------------------------------------------------------------------


async def test_rate_limit_counts_across_instances_and_resets_after_window(state: Backend) -> None:
    other = await state.other()
    answers = [await s.allow("user:U1", limit=3, window_s=1.0) for s in [state.store, other] * 3]
    assert answers == [True, True, True, False, False, False]
    assert await other.allow("user:U2", limit=3, window_s=1.0) is True  # keys are independent

    await state.elapse(1.2)
    assert await state.store.allow("user:U1", limit=3, window_s=1.0) is True


# --- blobs and health ---------------------------------------------------------------------------


async def test_blob_round_trip_and_expiry(state: Backend) -> None:
    payload = '{"ref": "docker.io/library/nginx:1.25", "platforms": ["linux/arm64"]}' + " " * 3000
    await state.store.put_blob("btn:1", payload, ttl_s=1.0)
    assert await (await state.other()).get_blob("btn:1") == payload
    await state.elapse(1.2)
    assert await state.store.get_blob("btn:1") is None


async def test_ping_and_backend_name(state: Backend) -> None:
    assert await state.store.ping() is True
    assert state.store.backend == state.name


# --- incidents updated by several replicas --------------------------------------------------------


async def test_concurrent_incident_updates_keep_every_event(state: Backend) -> None:
    other = await state.other()

    async def note(store: Store, i: int) -> None:
        def change(incident: Incident) -> Incident:
            return add_event(incident, TimelineKind.note, f"note {i}", at=T0 + timedelta(seconds=i))
        await update_incident(store, "C7", "1.0", change, at=T0, actor=f"U{i}")

    await asyncio.gather(*(note(s, i) for i, s in enumerate([state.store, other] * 5)))

    saved = await state.store.get_incident("C7:1.0")
    assert saved is not None
    assert sorted(e.summary for e in saved.timeline) == sorted(f"note {i}" for i in range(10))
    assert saved.created_by in {f"U{i}" for i in range(10)}
