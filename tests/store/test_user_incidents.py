"""Each user's incidents come from their own index (``list_user_incidents``), on both backends.

App Home reads it: a user must see their incidents however many newer ones the rest of the workspace
has, and the per-user indexes must shrink again as incidents expire.
"""

from __future__ import annotations

from datetime import timedelta

from bot.domain.incidents import add_event, set_status
from bot.domain.models import Incident, IncidentStatus, TimelineKind
from tests.fixtures.redis_server import StoreFactory
from tests.store.conftest import Backend, open_backend
from tests.store.incident_records import T0, started


def ids(incidents: list[Incident]) -> list[str]:
    return [i.thread_ts for i in incidents]


async def indexed(state: Backend, user: str) -> set[str]:
    """The incident ids ``user``'s index holds right now, expired ones included (to see pruning)."""
    store = state.store
    if state.name == "memory":
        return set(store._user_index.get(user, {}))  # type: ignore[attr-defined]
    raw: list[bytes] = await store._r.zrange(store.keys.user_incident_index(user), 0, -1)  # type: ignore[attr-defined]
    return {i.decode() for i in raw}


async def test_a_user_gets_the_incidents_they_started_or_acted_in_newest_first(state: Backend) -> None:
    await state.store.save_incident(started("1.0", "UALICE", T0))
    joined = add_event(started("2.0", "UCAROL", T0 + timedelta(minutes=1)), TimelineKind.pinned, "pinned",
                       at=T0 + timedelta(minutes=2), actor="UALICE")
    await state.store.save_incident(joined)
    await state.store.save_incident(started("3.0", "UCAROL", T0 + timedelta(minutes=3)))

    other = await state.other()
    assert ids(await other.list_user_incidents("UALICE")) == ["2.0", "1.0"]
    assert ids(await other.list_user_incidents("UCAROL")) == ["3.0", "2.0"]
    assert await other.list_user_incidents("UBOB") == []
    assert await other.list_user_incidents("") == []  # an event without a user sees nothing


async def test_limit_and_resolved_incidents(state: Backend) -> None:
    for i in range(4):
        await state.store.save_incident(started(f"{i}.0", "UALICE", T0 + timedelta(minutes=i)))
    done = set_status(started("9.0", "UALICE", T0 + timedelta(hours=1)), IncidentStatus.resolved,
                      at=T0 + timedelta(hours=1), actor="UALICE")
    await state.store.save_incident(done)

    assert ids(await state.store.list_user_incidents("UALICE")) == ["3.0", "2.0", "1.0", "0.0"]
    assert ids(await state.store.list_user_incidents("UALICE", limit=2)) == ["3.0", "2.0"]
    assert ids(await state.store.list_user_incidents("UALICE", include_resolved=True, limit=2)) == ["9.0", "3.0"]


async def test_a_user_whose_incident_has_more_than_1000_newer_ones_still_gets_it(state: Backend) -> None:
    # Home used to read the workspace's newest 1,000 incidents and filter them: Alice saw nothing.
    await state.store.save_incident(started("old.1", "UALICE", T0))
    for i in range(1001):
        await state.store.save_incident(started(f"{i}.0", f"U{i % 7}", T0 + timedelta(seconds=i + 1)))

    assert "old.1" not in ids(await state.store.list_incidents(limit=1000))
    assert ids(await state.store.list_user_incidents("UALICE")) == ["old.1"]


async def test_activity_moves_an_incident_up_the_users_list(state: Backend) -> None:
    first = started("1.0", "UALICE", T0)
    await state.store.save_incident(first)
    await state.store.save_incident(started("2.0", "UALICE", T0 + timedelta(minutes=1)))
    await state.store.save_incident(add_event(first, TimelineKind.rechecked, "again",
                                              at=T0 + timedelta(minutes=5), actor="UALICE"))

    assert ids(await state.store.list_user_incidents("UALICE")) == ["1.0", "2.0"]


async def test_expired_incidents_are_skipped_and_pruned_from_the_users_index(
        backend_name: str, store_factory: StoreFactory) -> None:
    state = await open_backend(backend_name, store_factory, incident_ttl_s=1.0)
    await state.store.save_incident(started("gone", "UALICE", T0))
    await state.store.save_incident(started("also-gone", "UBOB", T0))
    if state.name == "redis":  # an index never outlives the newest incident saved into it
        key = state.store.keys.user_incident_index("UBOB")  # type: ignore[attr-defined]
        assert 0 < await state.store._r.pttl(key) <= 1000  # type: ignore[attr-defined]
    await state.elapse(0.6)
    await state.store.save_incident(started("kept", "UALICE", T0 + timedelta(minutes=1)))
    await state.elapse(0.6)

    assert ids(await state.store.list_user_incidents("UALICE")) == ["kept"]
    assert await indexed(state, "UALICE") == {"C1:kept"}  # the listing pruned "gone"
    # Bob never lists again: his index went with his incident (Redis: its TTL; memory: the next save).
    await state.store.save_incident(started("new", "UCAROL", T0 + timedelta(minutes=2)))
    assert await indexed(state, "UBOB") == set()


async def test_saving_sweeps_a_users_expired_entries_without_a_listing(
        backend_name: str, store_factory: StoreFactory) -> None:
    # A user who keeps starting incidents but never opens Home: their index, kept alive by each new
    # incident, must still lose the expired ones.
    state = await open_backend(backend_name, store_factory, incident_ttl_s=1.0)
    for i in range(5):
        await state.store.save_incident(started(f"old{i}", "UALICE", T0 + timedelta(seconds=i)))
    await state.elapse(0.6)
    await state.store.save_incident(started("live", "UALICE", T0 + timedelta(minutes=1)))
    await state.elapse(0.6)
    await state.store.save_incident(started("new", "UALICE", T0 + timedelta(minutes=2)))

    assert await indexed(state, "UALICE") == {"C1:live", "C1:new"}


async def test_an_incident_that_no_longer_names_the_user_is_dropped_from_their_list(state: Backend) -> None:
    # update_incident saves anyway when its lock times out, so a racing save can lose Bob's event.
    base = started("1.0", "UALICE", T0)
    await state.store.save_incident(add_event(base, TimelineKind.pinned, "pinned", at=T0, actor="UBOB"))
    await state.store.save_incident(add_event(base, TimelineKind.note, "note", at=T0 + timedelta(seconds=1),
                                              actor="UALICE"))

    assert await state.store.list_user_incidents("UBOB") == []
    assert await indexed(state, "UBOB") == set()
    assert ids(await state.store.list_user_incidents("UALICE")) == ["1.0"]
