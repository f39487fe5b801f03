"""`imagecheck socket`'s code path: Socket Mode over a WebSocket from the emulator, health included."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from urllib.parse import urlencode

import aiohttp
import pytest
from pydantic import SecretStr

from bot.settings import RegistrySettings, Settings
from bot.web import run_socket_mode
from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import SlackEmulator
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow


async def test_socket_mode_answers_a_slash_command_and_reports_health(
        slack_emulator: SlackEmulator, registry_open: LocalRegistry) -> None:
    settings = Settings(slack_bot_token=SecretStr("xoxb-test-token"), slack_app_token=SecretStr("xapp-test"),
                        slack_api_url=slack_emulator.api_url,
                        registries={registry_open.host: RegistrySettings(insecure=True)})
    health_port = free_port()
    task = asyncio.create_task(run_socket_mode(settings, health_port=health_port))
    try:
        await slack_emulator.wait_for("socket.connect", 1, timeout=20)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{health_port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("no healthy /healthz in Socket Mode")
        image = registry_open.scenarios.single_oci
        await slack_emulator.send_envelope("slash_commands", {
            "team_id": "T0000001", "channel_id": "CCHAN001", "user_id": "UALICE01", "command": "/imagecheck",
            "text": f"{registry_open.host}/{image.repository}:1.0", "trigger_id": "trig.socket",
            "response_url": slack_emulator.response_url("socket")}, envelope_id="env-1")
        acks = await slack_emulator.wait_for("socket.ack", 1)
        assert acks[0].args["envelope_id"] == "env-1"
        assert "Checking" in acks[0].args["payload"]["text"]
        posts = await slack_emulator.wait_for("chat.postMessage", 2, timeout=20)
        assert image.digest in posts[1].all_text()
        # The health port is not a second door for Slack requests: with no signing secret in Socket
        # Mode, a "signed" request there (empty HMAC key: anyone can compute it) must not reach Bolt.
        body = urlencode({"team_id": "T0000001", "channel_id": "CVICTIM1", "user_id": "UATTACK1",
                          "command": "/imagecheck", "text": "nginx:1", "trigger_id": "trig.forged",
                          "response_url": slack_emulator.response_url("forged")}).encode()
        ts = str(int(time.time()))
        forged = "v0=" + hmac.new(b"", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{health_port}/slack/events", data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded",
                         "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": forged}) as resp:
            assert resp.status in (404, 405)
        await asyncio.sleep(0.3)
        assert not [c for c in slack_emulator.calls if c.args.get("channel") == "CVICTIM1"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
