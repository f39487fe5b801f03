"""The Slack app keeps a thread's incident through the domain's locked read-modify-write
(bot.domain.incidents): what each entry point writes, that concurrent writers lose nothing, and that a
store outage never stops a reply."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.domain.incidents import add_event
from bot.domain.models import IncidentStatus, TimelineKind
from bot.domain.triage import reconcile, redact, triage
from bot.slack.incident_state import record
from bot.store.factory import open_store
from bot.store.memory_store import MemoryStore
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, button_value, make_services

NGINX = "docker.io/library/nginx:1.27"
PARENT_TS = "1700000000.000001"
INCIDENT = f"CCHAN001:{PARENT_TS}"
PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


def real_triage(text: str, source: str | None) -> Any:
    return triage(text, source=source)


async def test_pin_mitigates_then_resolve_closes_one_timeline(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    await harness.slash("nginx:1.27")
    posts = await harness.emulator.wait_for("chat.postMessage", 2)
    await harness.emulator.wait_for("chat.update", 1)
    value = button_value(posts[1].blocks, "pin_digest")
    await harness.click("pin_digest", value)
    await harness.emulator.wait_for("chat.postMessage", 3)
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.mitigated
    assert incident.created_by == "UALICE01"
    await harness.click("resolve_incident", value, user="UBOB0001")
    await harness.emulator.wait_for("chat.postMessage", 4)
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.resolved
    assert [e.kind for e in incident.timeline] == [TimelineKind.checked, TimelineKind.pinned,
                                                   TimelineKind.resolved]
    assert [e.actor for e in incident.timeline] == ["UALICE01", "UALICE01", "UBOB0001"]
    assert incident.references == [NGINX]


async def test_a_pasted_error_records_the_triage_then_its_check(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    services = make_services(checks, MemoryStore(), triage=real_triage,
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
                       "ts": "1700000990.000100"})
        await slack_emulator.wait_for("chat.postMessage", 2)
        incident = await services.store.get_incident("CCHAN001:1700000990.000100")
        assert incident is not None
        assert [e.kind for e in incident.timeline] == [TimelineKind.triaged, TimelineKind.checked]
        assert "tag_not_found" in incident.timeline[0].summary
        assert incident.diagnoses["docker.io/library/nginx:1.99"].verdict.value == "tag_not_found"
    finally:
        await h.close()


async def test_concurrent_writers_to_one_thread_lose_no_event() -> None:
    store = MemoryStore()

    async def note(i: int) -> None:
        await record(store, "CCHAN001", "1.0", lambda inc: add_event(
            inc, TimelineKind.note, f"note {i}", at=inc.updated_at, actor=f"U{i}"), actor=f"U{i}")

    await asyncio.gather(*(note(i) for i in range(12)))
    incident = await store.get_incident("CCHAN001:1.0")
    assert incident is not None
    assert sorted(e.summary for e in incident.timeline) == sorted(f"note {i}" for i in range(12))


async def test_store_down_applies_the_change_in_memory_so_the_reply_still_renders(
        restartable_redis: RedisServer) -> None:
    store = await open_store(restartable_redis.url)
    restartable_redis.stop()  # a real Redis, gone
    try:
        incident = await record(store, "CCHAN001", "2.0", lambda inc: add_event(
            inc, TimelineKind.note, "seen", at=inc.updated_at), actor="UALICE01")
    finally:
        await store.aclose()
    assert incident.id == "CCHAN001:2.0"
    assert incident.created_by == "UALICE01"
    assert [e.summary for e in incident.timeline] == ["seen"]
