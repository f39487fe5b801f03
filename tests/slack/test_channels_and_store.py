"""Channel opt-in/out, mentions in a pasted thread, and answering on when the store is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.domain.ports import StatePort
from bot.domain.triage import reconcile, redact, triage
from bot.slack.services import SlackOptions
from bot.store.factory import open_store
from bot.store.memory_store import MemoryStore
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks, make_services

PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


def real_triage(text: str, source: str | None) -> Any:
    return triage(text, source=source)


async def start(emulator: SlackEmulator, store: StatePort, options: SlackOptions) -> Harness:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    services = make_services(checks, store, options=options, triage=real_triage,
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    return await Harness(emulator, services).start()


@pytest_asyncio.fixture
async def opted(slack_emulator: SlackEmulator) -> AsyncIterator[Harness]:
    h = await start(slack_emulator, MemoryStore(), SlackOptions(channels_exclude=("CQUIET01",)))
    yield h
    await h.close()


async def test_opted_out_channel_stays_quiet_and_others_answer(opted: Harness) -> None:
    await opted.event({"type": "message", "channel": "CQUIET01", "user": "UALICE01", "text": PASTE,
                       "ts": "1700000900.000100"})
    await opted.emulator.settle(0.5)
    assert opted.emulator.posts() == []
    await opted.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
                       "ts": "1700000901.000100"})
    posts = await opted.emulator.wait_for("chat.postMessage", 2)
    assert {p.args["channel"] for p in posts} == {"CCHAN001"}


async def test_opt_in_list_limits_auto_triage(slack_emulator: SlackEmulator) -> None:
    h = await start(slack_emulator, MemoryStore(), SlackOptions(channels_include=("CONLY001",)))
    try:
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
                       "ts": "1700000902.000100"})
        await slack_emulator.settle(0.5)
        assert slack_emulator.posts() == []
    finally:
        await h.close()


async def test_mention_in_a_thread_triages_the_pasted_root(opted: Harness) -> None:
    opted.emulator.threads[("CCHAN001", "1700000950.000100")] = [
        {"type": "message", "user": "UBOB0001", "text": PASTE, "ts": "1700000950.000100"}]
    await opted.event({"type": "app_mention", "channel": "CCHAN001", "user": "UALICE01",
                       "text": "<@UBOT0001> what is wrong here?", "ts": "1700000951.000100",
                       "thread_ts": "1700000950.000100"})
    posts = await opted.emulator.wait_for("chat.postMessage", 2)
    assert all(p.args["thread_ts"] == "1700000950.000100" for p in posts)
    assert "Tag not found" in posts[1].all_text()


async def test_paste_mentioning_the_bot_is_answered_once(opted: Harness) -> None:
    text = f"<@UBOT0001> {PASTE}"
    ts = "1700000960.000100"
    await opted.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": text, "ts": ts})
    await opted.event({"type": "app_mention", "channel": "CCHAN001", "user": "UALICE01", "text": text, "ts": ts})
    await opted.emulator.wait_for("chat.postMessage", 2)
    await opted.emulator.settle(0.5)
    assert len(opted.emulator.posts()) == 2  # one triage + one diagnosis, not two of each


async def test_store_down_still_answers_and_readyz_says_not_ready(slack_emulator: SlackEmulator,
                                                                  restartable_redis: RedisServer) -> None:
    store = await open_store(restartable_redis.url)
    restartable_redis.stop()  # a real Redis, gone
    h = await start(slack_emulator, store, SlackOptions())
    try:
        await h.slash("nginx:1.99")
        posts = await slack_emulator.wait_for("chat.postMessage", 2)
        assert "Tag not found" in posts[1].all_text()
        assert h.http is not None
        async with h.http.get(h.url + "/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["ready"] is False
        async with h.http.get(h.url + "/healthz") as resp:
            assert resp.status == 200
    finally:
        await h.close()
        await store.aclose()


async def test_secrets_in_a_paste_are_redacted_before_they_are_echoed(opted: Harness) -> None:
    token = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"
    paste = PASTE + f" (after docker login -u deploy -p {token} docker.io)"
    await opted.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": paste,
                       "ts": "1700000970.000100"})
    posts = await opted.emulator.wait_for("chat.postMessage", 2)
    everything = "".join(p.all_text() for p in posts)
    assert token not in everything
    assert "REDACTED" in everything  # the evidence line is shown, with the secret replaced


async def test_paste_inside_a_thread_is_answered_in_that_thread(opted: Harness) -> None:
    await opted.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE,
                       "ts": "1700000981.000100", "thread_ts": "1700000980.000100"})
    posts = await opted.emulator.wait_for("chat.postMessage", 2)
    assert [p.args["thread_ts"] for p in posts] == ["1700000980.000100"] * 2
    incident = await opted.services.store.get_incident("CCHAN001:1700000980.000100")
    assert incident is not None
    assert incident.references == ["docker.io/library/nginx:1.99"]
    assert opted.emulator.calls_to("chat.update") == []  # the root is a person's message: never edited


async def test_private_registry_checks_are_limited_to_their_channels(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    options = SlackOptions(registry_channels={"docker.io": ("CPRIV001",)})
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        await h.slash("nginx:1.99", channel="CCHAN001")
        posts = await slack_emulator.wait_for("chat.postMessage", 2)
        assert "limited to certain channels" in posts[1].all_text()
        assert checks.calls == []
        await h.slash("nginx:1.99", channel="CPRIV001")
        posts = await slack_emulator.wait_for("chat.postMessage", 4)
        assert "Tag not found" in posts[3].all_text()
        assert len(checks.calls) == 1
    finally:
        await h.close()


@pytest.mark.parametrize("spelling", ["REGISTRY.CORP.EXAMPLE/app:1", "Registry.Corp.Example/app:1",
                                      "registry.corp.example:443/app:1"])
async def test_registry_channel_limit_holds_whatever_the_spelling(slack_emulator: SlackEmulator,
                                                                   spelling: str) -> None:
    # Host names are case-insensitive: a different spelling must not slip past the channel limit
    # (and then run with that registry's credentials).
    checks = ScriptedChecks({})
    options = SlackOptions(registry_channels={"registry.corp.example": ("CPRIV001",)})
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        await h.slash(spelling, channel="CCHAN001")
        posts = await slack_emulator.wait_for("chat.postMessage", 2)
        assert "limited to certain channels" in posts[1].all_text()
        assert checks.calls == []
    finally:
        await h.close()


def test_docker_hub_aliases_share_one_channel_limit() -> None:
    options = SlackOptions(registry_channels={"docker.io": ("CPRIV001",)})
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO", "docker.io:443"):
        assert not options.registry_allowed(alias, "CCHAN001"), alias
        assert options.registry_allowed(alias, "CPRIV001"), alias


def test_a_padded_port_is_the_same_registry() -> None:
    options = SlackOptions(registry_channels={"registry.corp.example:5000": ("CPRIV001",)})
    assert not options.registry_allowed("registry.corp.example:05000", "CCHAN001")
