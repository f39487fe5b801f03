"""Two app replicas sharing one real Redis: a delivery that reaches both is acted on once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest_asyncio

from bot.domain.triage import reconcile, redact, triage
from bot.store.factory import open_store
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks, make_services

PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


@pytest_asyncio.fixture
async def replicas(slack_emulator: SlackEmulator,
                   redis_server: RedisServer) -> AsyncIterator[tuple[Harness, Harness, ScriptedChecks]]:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})  # shared: counts both replicas
    prefix = f"ic-{uuid.uuid4().hex[:8]}:"  # this test's own keys in the shared server
    stores = [await open_store(redis_server.url, key_prefix=prefix) for _ in range(2)]
    harnesses = [await Harness(slack_emulator, make_services(
        checks, store, triage=lambda t, s: triage(t, source=s), redact=lambda t: redact(t).text,
        reconcile=reconcile)).start() for store in stores]
    try:
        yield harnesses[0], harnesses[1], checks
    finally:
        for h in harnesses:
            await h.close()
        for store in stores:
            await store.aclose()


async def test_same_event_to_both_replicas_is_answered_once(
        replicas: tuple[Harness, Harness, ScriptedChecks]) -> None:
    a, b, checks = replicas
    event = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
             "ts": "1700001000.000100"}
    await asyncio.gather(a.event(event, event_id="EvTWICE1"), b.event(event, event_id="EvTWICE1", retry_num=1))
    await a.emulator.wait_for("chat.postMessage", 2)
    await a.emulator.settle(0.5)
    assert len(a.emulator.posts()) == 2  # one triage + its one diagnosis
    assert len(checks.calls) == 1


async def test_same_signed_slash_command_to_both_replicas_runs_once(
        replicas: tuple[Harness, Harness, ScriptedChecks]) -> None:
    a, b, checks = replicas
    body = urlencode({"team_id": "T0000001", "channel_id": "CCHAN001", "user_id": "UALICE01",
                      "command": "/imagecheck", "text": "nginx:1.99", "trigger_id": "trig.twice",
                      "response_url": a.emulator.response_url("twice")}).encode()
    ts = str(int(time.time()))
    answers = await asyncio.gather(*(h.post_signed(body, "application/x-www-form-urlencoded", timestamp=ts)
                                     for h in (a, b)))
    assert [status for status, _ in answers] == [200, 200]
    assert any("Checking" in json.loads(text)["text"] for _, text in answers if text)
    await a.emulator.wait_for("chat.postMessage", 2)
    await a.emulator.settle(0.5)
    assert len(a.emulator.posts()) == 2
    assert len(checks.calls) == 1
