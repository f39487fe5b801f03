"""Every unsigned, stale, malformed or tampered request gets 401 (never 500); replays run once."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks

FORM = "application/x-www-form-urlencoded"


def slash_body(text: str = "nginx:1.99", trigger: str = "trig.1", response_url: str = "") -> bytes:
    return urlencode({"team_id": "T0000001", "channel_id": "CCHAN001", "user_id": "UALICE01",
                      "command": "/imagecheck", "text": text, "trigger_id": trigger,
                      "response_url": response_url}).encode()


@pytest.mark.parametrize(("case", "headers"), [
    ("unsigned", {}),
    ("no signature", {"X-Slack-Request-Timestamp": "NOW"}),
    ("no timestamp", {"X-Slack-Signature": "v0=" + "0" * 64}),
    ("non-integer timestamp", {"X-Slack-Request-Timestamp": "12.5e3", "X-Slack-Signature": "SIGN"}),
    ("word timestamp", {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "SIGN"}),
    ("huge timestamp", {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "SIGN"}),
    ("stale", {"X-Slack-Request-Timestamp": "STALE", "X-Slack-Signature": "SIGN"}),
    ("future", {"X-Slack-Request-Timestamp": "FUTURE", "X-Slack-Signature": "SIGN"}),
    ("wrong secret", {"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=" + "ab" * 32}),
    ("non-ascii signature", {"X-Slack-Request-Timestamp": "NOW", "X-Slack-Signature": "v0=é"}),
])
async def test_bad_requests_get_401(harness: Harness, scripted: ScriptedChecks, case: str,
                                    headers: dict[str, str]) -> None:
    body = slash_body()
    now = int(time.time())
    stamps = {"NOW": str(now), "STALE": str(now - 301), "FUTURE": str(now + 301)}
    ts = headers.get("X-Slack-Request-Timestamp", "")
    ts = stamps.get(ts, ts)
    resolved = {k: stamps.get(v, v) for k, v in headers.items()}
    if resolved.get("X-Slack-Signature") == "SIGN":
        resolved["X-Slack-Signature"] = harness.sign(body, ts)  # correctly signed, but the time is wrong
    resolved = {k: v.encode("utf-8").decode("latin-1") for k, v in resolved.items()}
    status, _ = await harness.post_raw(body, FORM, headers=resolved)
    assert status == 401, case
    await harness.emulator.settle(0.2)
    assert scripted.calls == []


async def test_tampered_body_gets_401(harness: Harness, scripted: ScriptedChecks) -> None:
    ts = str(int(time.time()))
    signature = harness.sign(slash_body("nginx:1.27"), ts)
    status, _ = await harness.post_raw(slash_body("evil.example/x:1"), FORM,
                                       headers={"X-Slack-Request-Timestamp": ts,
                                                "X-Slack-Signature": signature})
    assert status == 401
    assert scripted.calls == []


async def test_replayed_slash_command_runs_one_check(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    body = slash_body(response_url=harness.emulator.response_url("replay"))
    ts = str(int(time.time()))
    for _ in range(3):
        status, _ = await harness.post_signed(body, FORM, timestamp=ts)
        assert status == 200
    await harness.emulator.wait_for("chat.postMessage", 2)
    await harness.emulator.settle()
    assert len(scripted.calls) == 1
    assert len(harness.emulator.posts()) == 2  # one parent, one threaded diagnosis


async def test_url_verification_answers_the_challenge(harness: Harness) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"}).encode()
    status, text = await harness.post_signed(body, "application/json")
    assert status == 200
    assert "c-123" in text


async def test_health_ready_and_metrics(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.get(harness.url + "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"
    async with harness.http.get(harness.url + "/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["ready"] is True
    await harness.slash("help")
    async with harness.http.get(harness.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert "imagecheck_slack_ack_seconds_count" in text
    assert "imagecheck_checks_total" in text or "imagecheck_pins_total" in text


def test_an_empty_signing_secret_verifies_nothing() -> None:
    import hashlib
    import hmac
    import time

    from bot.web import signature_problem

    body = b"command=%2Fimagecheck&text=nginx"
    ts = str(int(time.time()))
    forged = "v0=" + hmac.new(b"", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": forged}
    assert signature_problem("", headers, body) == "no signing secret configured"


async def _raw_exchange(port: int, head: bytes, body_part: bytes) -> bytes:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body_part)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def test_unsigned_and_trickled_requests_do_not_hold_the_connection() -> None:
    # Fault injection no real Slack produces: a client that sends headers and then (almost) nothing.
    import time

    from aiohttp import web
    from slack_bolt.async_app import AsyncApp

    from bot.store import MemoryStore
    from bot.web import create_web_app

    bolt = AsyncApp(token="xoxb-x", signing_secret="s")  # never dispatched to: both requests stop first
    app = create_web_app(bolt, signing_secret="s", store=MemoryStore(), body_read_timeout_s=0.5)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        unsigned = (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n")
        started = time.monotonic()
        answer = await _raw_exchange(port, unsigned, b"{")
        assert answer.startswith(b"HTTP/1.1 401"), answer[:40]  # refused on its headers, body never awaited
        ts = str(int(time.time())).encode()
        signed_looking = (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"X-Slack-Request-Timestamp: " + ts + b"\r\nX-Slack-Signature: v0=00\r\n"
                          b"Content-Length: 1000\r\n\r\n")
        answer = await _raw_exchange(port, signed_looking, b"{")
        assert answer.startswith(b"HTTP/1.1 408"), answer[:40]
        assert time.monotonic() - started < 5
    finally:
        await runner.cleanup()
