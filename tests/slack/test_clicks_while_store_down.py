"""Diagnosis buttons and duplicate deliveries while the state store (a real redis-server) is down.

Each test runs /imagecheck while Redis is up (so the incident and the buttons exist as in production),
then kills the redis-server and clicks through the real app over signed HTTP. Nothing is mocked: the
outage is a real refused connection, and what users see is read back from the Slack API emulator.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from bot.domain.models import IncidentStatus
from bot.domain.triage import reconcile, redact, triage
from bot.slack.payloads import MAX_VALUE_CHARS, ActionPayload, dump_payload
from bot.store.factory import open_store
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.slack_emulator import Call, SlackEmulator
from tests.slack.diagnoses import DIGEST_A, DIGEST_B, not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, button_value, make_services

NGINX = "docker.io/library/nginx:1.27"
PARENT_TS = "1700000000.000001"
INCIDENT = f"CCHAN001:{PARENT_TS}"
UNREACHABLE = "state store is unreachable"
PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


@dataclass
class Outage:
    harness: Harness
    redis: RedisServer
    checks: ScriptedChecks
    emulator: SlackEmulator

    async def diagnose(self) -> str:
        """Run /imagecheck while Redis is up; return the diagnosis message's button value."""
        self.checks.answers[NGINX] = ok()
        await self.harness.slash("nginx:1.27")
        posts = await self.emulator.wait_for("chat.postMessage", 2)
        await self.emulator.wait_for("chat.update", 1)
        await self.emulator.wait_for("response_url", 1)  # the slash command's "Done"
        return button_value(posts[1].blocks, "pin_digest")

    def click_answers(self) -> list[Call]:
        """What the clicking user was told privately (response_url posts of clicks, not of /imagecheck)."""
        return [c for c in self.emulator.calls_to("response_url") if str(c.args["response_url"]).startswith("click")]

    async def wait_click_answer(self) -> Call:
        async def until() -> Call:
            while not self.click_answers():
                await asyncio.sleep(0.02)
            return self.click_answers()[-1]
        return await asyncio.wait_for(until(), 10)


@pytest_asyncio.fixture
async def outage(slack_emulator: SlackEmulator, restartable_redis: RedisServer) -> AsyncIterator[Outage]:
    checks = ScriptedChecks()
    store = await open_store(restartable_redis.url, key_prefix=f"t-{uuid.uuid4().hex[:8]}:")
    services = make_services(checks, store, triage=lambda t, s: triage(t, source=s),
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    harness = await Harness(slack_emulator, services).start()
    try:
        yield Outage(harness, restartable_redis, checks, slack_emulator)
    finally:
        await harness.close()
        await store.aclose()


async def test_pin_while_the_store_is_down_reverifies_posts_snippets_and_says_it_was_not_recorded(
        outage: Outage) -> None:
    value = await outage.diagnose()
    outage.redis.stop()
    await outage.harness.click("pin_digest", value)
    posts = await outage.emulator.wait_for("chat.postMessage", 3)
    pin = posts[2]
    assert pin.args["thread_ts"] == PARENT_TS  # into the diagnosis thread, found without the store
    assert f"docker.io/library/nginx@{DIGEST_A}" in pin.all_text()
    assert "kubectl set image" in pin.all_text()
    assert outage.checks.calls[-1] == (NGINX, True)  # the digest was re-verified against the registry
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "not in the incident timeline" in notice
    assert "expired" not in notice


async def test_pin_while_the_store_is_down_still_refuses_a_moved_tag(outage: Outage) -> None:
    value = await outage.diagnose()
    outage.redis.stop()
    outage.checks.answers[NGINX] = ok(digest=DIGEST_B)  # re-pushed during the outage
    await outage.harness.click("pin_digest", value)
    posts = await outage.emulator.wait_for("chat.postMessage", 3)
    assert "moved" in posts[2].text
    assert DIGEST_A in posts[2].all_text()
    assert DIGEST_B in posts[2].all_text()
    assert "kubectl set image" not in posts[2].all_text()  # nothing pinned until the user chooses
    choice = button_value(posts[2].blocks, "pin_digest")
    assert ActionPayload.model_validate_json(choice).digest == DIGEST_B  # inline: usable without the store


async def test_resolve_while_the_store_is_down_changes_nothing_and_says_why(outage: Outage) -> None:
    value = await outage.diagnose()
    updates_before = len(outage.emulator.calls_to("chat.update"))
    outage.redis.stop()
    await outage.harness.click("resolve_incident", value)
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "nothing was changed" in notice
    assert "try again in a minute" in notice.lower()
    assert "expired" not in notice
    await outage.emulator.settle()
    assert len(outage.emulator.posts()) == 2  # no "Resolved by" in the thread: it would not be true
    assert len(outage.emulator.calls_to("chat.update")) == updates_before


async def test_button_whose_payload_is_in_the_store_says_the_store_is_unreachable(outage: Outage) -> None:
    await outage.diagnose()
    big = ActionPayload(incident=INCIDENT, ref=NGINX, digest=DIGEST_A,
                        platforms=tuple(f"linux/arch{i}" for i in range(200)))
    value = await dump_payload(big, outage.harness.services.store)  # kept in Redis: too big for Slack
    assert len(value) <= MAX_VALUE_CHARS
    assert "arch199" not in value
    calls_before = list(outage.checks.calls)
    outage.redis.stop()
    await outage.harness.click("recheck", value)
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "nothing was changed" in notice
    assert "expired" not in notice
    await outage.emulator.settle()
    assert outage.checks.calls == calls_before
    assert len(outage.emulator.posts()) == 2


async def test_double_click_while_the_store_is_down_pins_once(outage: Outage) -> None:
    value = await outage.diagnose()
    outage.redis.stop()
    await asyncio.gather(outage.harness.click("pin_digest", value), outage.harness.click("pin_digest", value))
    await outage.emulator.wait_for("chat.postMessage", 3)
    await outage.emulator.settle(0.5)
    assert len(outage.emulator.posts()) == 3
    answers = sorted(a.text for a in outage.click_answers())
    assert len(answers) == 2  # the pin's "not recorded" notice, and the second click told why it didn't act
    assert sum("clicked a moment ago" in a for a in answers) == 1


async def test_slack_retry_while_the_store_is_down_is_answered_once(outage: Outage) -> None:
    outage.checks.answers["docker.io/library/nginx:1.99"] = not_found()
    outage.redis.stop()
    event: dict[str, Any] = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
                             "ts": "1700001000.000100"}
    await outage.harness.event(event, event_id="EvRETRY01")
    await outage.emulator.wait_for("chat.postMessage", 2)
    await outage.harness.event(event, event_id="EvRETRY01", retry_num=1)  # Slack's retry of the same event
    await outage.emulator.settle(0.5)
    assert len(outage.emulator.posts()) == 2  # one triage + its one diagnosis
    assert len(outage.checks.calls) == 1


async def test_recheck_while_the_store_is_down_posts_a_fresh_diagnosis(outage: Outage) -> None:
    value = await outage.diagnose()
    outage.redis.stop()
    outage.checks.answers[NGINX] = ok(digest=DIGEST_B)
    await outage.harness.click("recheck", value)
    posts = await outage.emulator.wait_for("chat.postMessage", 4)
    assert all(p.args["thread_ts"] == PARENT_TS for p in posts[2:])
    assert DIGEST_B in posts[3].all_text()
    assert outage.checks.calls[-1] == (NGINX, True)
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "not in the incident timeline" in notice


async def test_store_lost_in_the_middle_of_a_pin_is_reported_to_the_clicker(outage: Outage) -> None:
    value = await outage.diagnose()
    outage.checks.hang = asyncio.Event()  # the pin's registry check waits here, after the state was read
    await outage.harness.click("pin_digest", value)
    async with asyncio.timeout(10):
        while len(outage.checks.calls) < 2:
            await asyncio.sleep(0.02)
    outage.redis.stop()
    outage.checks.hang.set()
    posts = await outage.emulator.wait_for("chat.postMessage", 3)
    assert f"nginx@{DIGEST_A}" in posts[2].all_text()
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "not in the incident timeline" in notice


async def test_a_pin_that_the_store_kept_gets_no_outage_notice(outage: Outage) -> None:
    value = await outage.diagnose()
    await outage.harness.click("pin_digest", value)
    await outage.emulator.wait_for("chat.postMessage", 3)
    await outage.emulator.settle()
    assert outage.click_answers() == []
    incident = await outage.harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert [p.digest for p in incident.pins] == [DIGEST_A]


async def test_a_hung_store_answers_like_a_dead_one(outage: Outage) -> None:
    value = await outage.diagnose()
    outage.redis.pause()  # SIGSTOP: connections accepted, never answered (the store's socket timeout fires)
    await outage.harness.click("resolve_incident", value)
    notice = (await outage.wait_click_answer()).text
    assert UNREACHABLE in notice
    assert "nothing was changed" in notice
    outage.redis.resume()
    incident = await outage.harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.open  # really nothing changed
