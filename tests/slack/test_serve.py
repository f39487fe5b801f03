"""`imagecheck serve` as a real process: Slack's requests in, Web API calls out to the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
import yaml

from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import SECRET, Harness
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "IMAGECHECK_", "REDIS_URL"))}
    return {**env, **extra}


@pytest.mark.parametrize(("command", "names"), [
    ("serve", ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]),
    ("socket", ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"]),
])
def test_missing_credentials_exit_with_what_to_set(command: str, names: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", command], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    for name in names:
        assert name in done.stderr
    assert "manifest.yml" in done.stderr


def test_missing_only_the_secret_names_only_the_secret() -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], timeout=60, capture_output=True, text=True,
                          env=clean_env(SLACK_BOT_TOKEN="xoxb-present-token"))
    assert done.returncode == 2
    assert "SLACK_SIGNING_SECRET" in done.stderr
    assert "SLACK_BOT_TOKEN:" not in done.stderr
    assert "xoxb-present-token" not in done.stderr + done.stdout  # never echo a secret


@pytest_asyncio.fixture
async def served(slack_emulator: SlackEmulator, registry_open: LocalRegistry,
                 tmp_path: Path) -> AsyncIterator[str]:
    config = tmp_path / "imagecheck.yaml"
    config.write_text(yaml.safe_dump({"registries": {registry_open.host: {"insecure": True}}}), encoding="utf-8")
    port = free_port()
    env = clean_env(SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET,
                    SLACK_API_URL=slack_emulator.api_url, IMAGECHECK_CONFIG=str(config))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("imagecheck serve did not come up")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_serve_answers_a_signed_slash_command_with_a_threaded_diagnosis(
        served: str, slack_emulator: SlackEmulator, registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_oci
    body = urlencode({"team_id": "T0000001", "channel_id": "CCHAN001", "user_id": "UALICE01",
                      "command": "/imagecheck", "text": f"{registry_open.host}/{image.repository}:1.0",
                      "trigger_id": "trig.serve", "response_url": slack_emulator.response_url("serve")}).encode()
    ts = str(int(time.time()))
    async with aiohttp.ClientSession() as http:
        async with http.post(served + "/slack/events", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": Harness.sign(body, ts)}) as resp:
            assert resp.status == 200
            assert "Checking" in json.loads(await resp.text())["text"]
        async with http.post(served + "/slack/events", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "x1",
                "X-Slack-Signature": "v0=0"}) as resp:
            assert resp.status == 401
        posts = await slack_emulator.wait_for("chat.postMessage", 2, timeout=20)
        assert posts[1].args["thread_ts"] == posts[0].args.get("ts", "1700000000.000001")
        assert image.digest in posts[1].all_text()
        async with http.get(served + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["store"] == "memory"
        async with http.get(served + "/metrics") as resp:
            assert 'imagecheck_checks_total{verdict="ok"}' in await resp.text()
