"""Two ``imagecheck serve`` processes on one real redis-server: the multi-replica proof (issue 7).

Each replica is a real subprocess (``python -m bot serve`` on its own free port) with the Slack Web API
pointed at the emulator, the real local registry named in its settings file and ``REDIS_URL`` naming
the shared redis-server. Requests are signed exactly as Slack signs them. Nothing of imagecheck is
faked; registry requests are counted from the registry's own access log.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.fixtures.slack_emulator import Call, SlackEmulator
from tests.support.local_registry import LocalRegistry
from tests.support.serve_replicas import (
    FORM,
    JSON,
    ServeProcess,
    message_event_body,
    post_signed,
    registry_entry,
    serve_environment,
    slash_command_body,
    start_serve,
)

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def replicas(tmp_path: Path, registry_open: LocalRegistry, redis_url: str,
                   slack_emulator: SlackEmulator) -> AsyncIterator[tuple[ServeProcess, ServeProcess]]:
    config = {"registries": {registry_open.host: registry_entry(registry_open)}}
    prefix = f"test-{uuid.uuid4().hex[:8]}:"  # shared by both replicas, unique to this test
    env = serve_environment(tmp_path, config, slack_api_url=slack_emulator.api_url, redis_url=redis_url,
                            key_prefix=prefix)
    started = await asyncio.gather(start_serve(tmp_path, env, name="replica-a"),
                                   start_serve(tmp_path, env, name="replica-b"), return_exceptions=True)
    running = [r for r in started if isinstance(r, ServeProcess)]
    try:
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        yield running[0], running[1]
    finally:
        for replica in running:
            replica.stop()


# What one replica posts for a recognised paste with a reference in it: the triage, then the diagnosis
# (as tests/slack/test_end_to_end.py shows for a single app).
REPLIES_TO_A_PASTE = 2


def _in_thread(emulator: SlackEmulator, channel: str, thread_ts: str) -> list[Call]:
    return [c for c in emulator.posts(channel) if c.args.get("thread_ts") == thread_ts]


async def _thread_reaches(emulator: SlackEmulator, channel: str, thread_ts: str, count: int,
                          timeout: float = 30.0) -> None:
    """Wait for ``count`` replies in the thread, then for quiet: a duplicate would land meanwhile."""
    async def until() -> None:
        while len(_in_thread(emulator, channel, thread_ts)) < count:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(until(), timeout)
    await emulator.settle(2.0)


def _paste(ref: str, *, channel: str, ts: str) -> dict[str, str]:
    text = (f'Failed to pull image "{ref}": rpc error: code = NotFound desc = failed to resolve reference '
            f'"{ref}": {ref}: not found')
    return {"type": "message", "channel": channel, "user": "UALICE01", "text": text, "ts": ts,
            "channel_type": "channel"}


async def _replies_to_one_delivery(http: aiohttp.ClientSession, replica: ServeProcess, emulator: SlackEmulator,
                                   registry: LocalRegistry, n: int) -> list[Call]:
    """What a single delivery of a pasted error makes one replica post: the yardstick. It also warms
    the replica up (first triage, first registry connection), so that a duplicate it wrongly processed
    later would post as fast as the original, not after the test stopped looking."""
    channel, ts = f"CONCE{n:03d}", f"1700000700.{n:06d}"
    event = _paste(registry.ref(registry.scenarios.repo("payments/api"), f"1.9.{n + 10}"), channel=channel, ts=ts)
    status, _ = await post_signed(http, replica.events_url, message_event_body(event, event_id=f"EvONCE{n:03d}"),
                                  JSON)
    assert status == 200
    await _thread_reaches(emulator, channel, ts, REPLIES_TO_A_PASTE)
    return _in_thread(emulator, channel, ts)


@pytest.mark.parametrize("delivery", ["byte-identical", "slack-retry"])
async def test_the_same_event_delivered_to_both_replicas_is_answered_once(
        replicas: tuple[ServeProcess, ServeProcess], slack_emulator: SlackEmulator,
        registry_open: LocalRegistry, delivery: str) -> None:
    a, b = replicas
    async with aiohttp.ClientSession() as http:
        once_a, once_b = await asyncio.gather(_replies_to_one_delivery(http, a, slack_emulator, registry_open, 1),
                                              _replies_to_one_delivery(http, b, slack_emulator, registry_open, 2))
        assert len(once_a) == len(once_b) == REPLIES_TO_A_PASTE
        before = len(slack_emulator.posts())

        ts = "1700000800.000100"
        event = _paste(registry_open.ref(registry_open.scenarios.repo("payments/api"), "1.9.8"),
                       channel="CDUP0001", ts=ts)
        body = message_event_body(event, event_id="EvDUPE0001")
        now = int(time.time())
        if delivery == "byte-identical":
            # The same request, signature and all, reaching both replicas (a load balancer replaying it).
            sends = [post_signed(http, a.events_url, body, JSON, timestamp=now),
                     post_signed(http, b.events_url, body, JSON, timestamp=now)]
        else:
            # Slack's retry: the same event_id, signed anew, landing on the other replica.
            sends = [post_signed(http, a.events_url, body, JSON, timestamp=now),
                     post_signed(http, b.events_url, body, JSON, timestamp=now + 1,
                                 extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})]
        statuses = [status for status, _ in await asyncio.gather(*sends)]
        assert statuses == [200, 200]  # both acknowledge, so Slack stops retrying
        await _thread_reaches(slack_emulator, "CDUP0001", ts, REPLIES_TO_A_PASTE)

    replies = _in_thread(slack_emulator, "CDUP0001", ts)
    assert len(replies) == REPLIES_TO_A_PASTE  # exactly what one delivery makes: nothing doubled
    assert len(slack_emulator.posts()) == before + REPLIES_TO_A_PASTE
    assert "1.9.8" in replies[-1].all_text()


async def test_identical_commands_on_both_replicas_make_one_registry_round(
        replicas: tuple[ServeProcess, ServeProcess], slack_emulator: SlackEmulator,
        registry_open: LocalRegistry) -> None:
    a, b = replicas
    index = registry_open.scenarios.multi_oci
    text = registry_open.ref(index.repository, "1.0")
    mark = registry_open.mark()
    async with aiohttp.ClientSession() as http:
        sends = [post_signed(http, replica.events_url,
                             slash_command_body(text, user=user, channel="CINCIDENT",
                                                response_url=slack_emulator.response_url(user)), FORM)
                 for replica, user in ((a, "UALICE01"), (b, "UBOB0002"))]
        statuses = [status for status, _ in await asyncio.gather(*sends)]
        assert statuses == [200, 200]
        # Two parents, two threaded diagnoses: each person gets their own answer.
        await slack_emulator.wait_for("chat.postMessage", 4, timeout=30)
        await slack_emulator.settle(1.0)
    traffic = registry_open.traffic_since(mark)

    posts = slack_emulator.posts("CINCIDENT")
    parents = [p for p in posts if not p.args.get("thread_ts")]
    diagnoses = [p for p in posts if p.args.get("thread_ts")]
    assert len(parents) == 2
    assert len(diagnoses) == 2
    assert len({d.args["thread_ts"] for d in diagnoses}) == 2  # one thread per person
    for diagnosis in diagnoses:
        assert index.digest in diagnosis.all_text()
    # One diagnosis' worth of registry requests (the index, then a HEAD per child), not two.
    assert traffic.total == 1 + len(index.children)
    assert [r.method for r in traffic.registry].count("HEAD") == len(index.children)
