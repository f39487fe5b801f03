"""The real app (bot/web.py + Bolt + the real engine, triage and store) against real local registries,
with Slack replaced by the emulator. No part of imagecheck is faked here."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from bot.settings import RegistrySettings, Settings
from bot.slack.payloads import ActionPayload
from bot.store.memory_store import MemoryStore
from bot.web import services_from_runtime
from bot.wiring import build_runtime
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness, button_value
from tests.support.fault_servers import BlackholeServer
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow
PARENT_TS = "1700000000.000001"
HOSTILE = "<!channel> <@U0BADBAD> see <https://evil.example|the fix> &lt;!here&gt;"


async def hostile_registry() -> tuple[web.AppRunner, str]:
    """A registry that answers every manifest request 404 with a hostile error message."""
    async def v2(_: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async def manifest(_: web.Request) -> web.StreamResponse:
        return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": HOSTILE}]}, status=404)

    app = web.Application()
    app.router.add_get("/v2/", v2)
    app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", manifest)
    app.router.add_route("*", "/v2/{name:.+}/tags/list", manifest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


@pytest_asyncio.fixture
async def live(slack_emulator: SlackEmulator, registry_open: LocalRegistry,
               blackhole_server: BlackholeServer) -> AsyncIterator[tuple[Harness, str]]:
    runner, hostile_host = await hostile_registry()
    settings = Settings(registries={
        registry_open.host: RegistrySettings(insecure=True),
        blackhole_server.host: RegistrySettings(insecure=True),
        hostile_host: RegistrySettings(insecure=True)})
    async with build_runtime(settings, store=MemoryStore()) as runtime:
        h = await Harness(slack_emulator, services_from_runtime(runtime)).start()
        try:
            yield h, hostile_host
        finally:
            await h.close()
            await runner.cleanup()


async def test_slash_command_diagnoses_and_pins_a_multi_arch_image(live: tuple[Harness, str],
                                                                   registry_open: LocalRegistry) -> None:
    h, _ = live
    index = registry_open.scenarios.multi_oci
    await h.slash(f"{registry_open.host}/{index.repository}:1.0")
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    reply = posts[1]
    assert reply.args["thread_ts"] == PARENT_TS
    assert "Image is pullable" in reply.all_text()
    assert index.digest in reply.all_text()
    assert "linux/arm64" in reply.all_text()
    await h.emulator.wait_for("chat.update", 1)
    await h.click("pin_digest", button_value(reply.blocks, "pin_digest"))
    posts = await h.emulator.wait_for("chat.postMessage", 3)
    pin = posts[2].all_text()
    assert f"{registry_open.host}/{index.repository}@{index.digest}" in pin
    assert "kubectl set image" in pin
    for child in index.children:
        assert child.digest in pin  # per-platform alternatives
    incident = await h.services.store.get_incident(f"CCHAN001:{PARENT_TS}")
    assert incident is not None
    assert incident.pins[0].digest == index.digest


async def test_missing_tag_shows_nearest_tags(live: tuple[Harness, str],
                                              registry_open: LocalRegistry) -> None:
    h, _ = live
    repo = registry_open.scenarios.repo("payments/api")
    await h.slash(f"{registry_open.host}/{repo}:1.9.1")
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    assert "Tag not found" in posts[1].all_text()
    await h.emulator.wait_for("chat.update", 1)
    await h.click("show_tags", button_value(posts[1].blocks, "show_tags"))
    posts = await h.emulator.wait_for("chat.postMessage", 3)
    assert "1.9.0" in posts[2].all_text()


async def test_pasted_error_gets_one_threaded_triage_even_when_slack_retries(
        live: tuple[Harness, str], registry_open: LocalRegistry) -> None:
    h, _ = live
    ref = f"{registry_open.host}/payments/api:1.9.9"
    paste = (f'Failed to pull image "{ref}": rpc error: code = NotFound desc = failed to resolve reference '
             f'"{ref}": {ref}: not found')
    event = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": paste,
             "ts": "1700000500.000100", "channel_type": "channel"}
    await h.event(event, event_id="EvPASTE1")
    await h.event(event, event_id="EvPASTE1", retry_num=1)  # Slack's retry of the same delivery
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    await h.emulator.settle(0.5)
    posts = h.emulator.posts()
    assert len(posts) == 2  # the triage, then the diagnosis of the reference in it
    assert all(p.args["thread_ts"] == "1700000500.000100" for p in posts)
    assert "tag not found" in posts[0].all_text().lower()
    assert "Tag not found" in posts[1].all_text()


@pytest.mark.parametrize("event", [
    {"text": "lunch anyone? the deploy went fine"},
    {"text": "Error response from daemon: manifest unknown", "bot_id": "B0OTHER1"},
    {"text": "Error response from daemon: manifest unknown", "subtype": "message_changed"},
    {"text": "Error response from daemon: manifest for nginx:1.99 not found: manifest unknown",
     "user": "UBOT0001"},  # the bot's own message
])
async def test_quiet_for_chatter_bots_and_edits(live: tuple[Harness, str], event: dict[str, str]) -> None:
    h, _ = live
    body = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "ts": "1700000600.000100", **event}
    status, _ = await h.event(body)
    assert status == 200
    await h.emulator.settle(0.5)
    assert h.emulator.posts() == []


async def test_registry_error_messages_cannot_ping_or_link(live: tuple[Harness, str]) -> None:
    h, hostile_host = live
    await h.slash(f"{hostile_host}/team/app:1.0")
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    await h.emulator.wait_for("chat.update", 1)
    for call in [*posts, *h.emulator.calls_to("chat.update")]:
        blob = call.all_text()
        for live_token in ("<!channel>", "<@U0BADBAD>", "<https://evil", "<!here>"):
            assert live_token not in blob
    # the registry's words are shown, as inert text
    assert "&lt;!channel&gt;" in posts[1].all_text()
    assert "&amp;lt;!here&amp;gt;" in posts[1].all_text()


async def test_ack_within_slacks_deadline_while_the_registry_hangs(live: tuple[Harness, str],
                                                                   blackhole_server: BlackholeServer) -> None:
    h, _ = live
    started = time.monotonic()
    status, body = await h.slash(f"{blackhole_server.host}/slow/app:1.0")
    assert status == 200
    assert "Checking" in json.loads(body)["text"]
    assert time.monotonic() - started < 3.0  # Slack's 3-second rule
    assert h.emulator.calls_to("chat.update") == []


async def test_message_shortcut_triages_on_demand(live: tuple[Harness, str],
                                                  registry_open: LocalRegistry) -> None:
    h, _ = live
    ref = f"{registry_open.host}/payments/api:1.9.9"
    await h.shortcut({"type": "message", "user": "UBOB0001", "ts": "1700000700.000100",
                      "text": f'Failed to pull image "{ref}": {ref}: not found'})
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    assert all(p.args["thread_ts"] == "1700000700.000100" for p in posts)
    assert "triaged on request" in posts[0].all_text()


async def test_mention_with_a_reference_checks_it_in_the_thread(live: tuple[Harness, str],
                                                                registry_open: LocalRegistry) -> None:
    h, _ = live
    image = registry_open.scenarios.single_oci
    await h.event({"type": "app_mention", "channel": "CCHAN001", "user": "UALICE01",
                   "text": f"<@UBOT0001> {registry_open.host}/{image.repository}:1.0",
                   "ts": "1700000800.000100"})
    posts = await h.emulator.wait_for("chat.postMessage", 1)
    assert posts[0].args["thread_ts"] == "1700000800.000100"
    assert image.digest in posts[0].all_text()


async def test_app_home_lists_incidents(live: tuple[Harness, str], registry_open: LocalRegistry) -> None:
    h, _ = live
    await h.slash(f"{registry_open.host}/payments/api:1.9.9")
    await h.emulator.wait_for("chat.update", 1)
    await h.event({"type": "app_home_opened", "user": "UALICE01", "channel": "DHOME001", "tab": "home"})
    published = await h.emulator.wait_for("views.publish", 1)
    view = published[0].args["view"]
    assert view["type"] == "home"
    assert "payments/api:1.9.9" in json.dumps(view)
    assert "Tag not found" in json.dumps(view)


async def test_slack_429_is_retried_after_retry_after(live: tuple[Harness, str],
                                                      registry_open: LocalRegistry) -> None:
    h, _ = live
    h.emulator.rate_limit("chat.postMessage", times=1, retry_after=1)
    image = registry_open.scenarios.single_oci
    await h.slash(f"{registry_open.host}/{image.repository}:1.0")
    posts = await h.emulator.wait_for("chat.postMessage", 2, timeout=15)
    limited = [c for c in h.emulator.calls if c.status == 429]
    assert len(limited) == 1
    assert posts[0].args["text"] == limited[0].args["text"]  # the same message, delivered on retry


async def test_expired_button_after_restart(live: tuple[Harness, str]) -> None:
    h, _ = live
    value = ActionPayload(incident="CGONE001:1600000000.000001",
                          ref="docker.io/library/nginx:1.27").model_dump_json()
    await h.click("recheck", value, channel="CGONE001")
    responses = await h.emulator.wait_for("response_url", 1)
    assert "expired" in responses[0].text
    await asyncio.sleep(0)
