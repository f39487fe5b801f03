"""Driving ``imagecheck serve`` replicas as Slack would, outside the Bolt app: the settings entry for a
local registry, the CLI's environment, requests signed as Slack signs them, and ``imagecheck serve`` as
a subprocess. The multi-replica test and the benchmarks both use it; everything listens on 127.0.0.1 on
ports the OS picks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import TEAM_ID
from tests.integration.cli import REPO_ROOT, clean_env, write_config
from tests.support.local_registry import LocalRegistry

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-token"
_ids = itertools.count(1)

# --- settings for the local registries --------------------------------------------------------------


def registry_entry(registry: LocalRegistry) -> dict[str, Any]:
    """The ``registries:`` entry imagecheck needs for a local registry (plain HTTP on loopback; for the
    token flavour, the token server's host named as a realm credentials may go to)."""
    entry: dict[str, Any] = {"insecure": True}
    if registry.token_server is not None:
        entry["token_realms"] = [registry.token_server.base_url.split("//", 1)[1]]
    return entry


def cli_environment(directory: Path, config: Mapping[str, Any], **extra: str) -> dict[str, str]:
    """The environment for an ``imagecheck`` subprocess: the settings file, an empty docker config, no
    Redis or proxies from the machine (``tests.integration.cli.clean_env``), plus ``extra``."""
    directory.mkdir(parents=True, exist_ok=True)
    return {**clean_env(directory, write_config(directory, dict(config))), **extra}


# --- requests signed as Slack signs them -----------------------------------------------------------


def signed_headers(body: bytes, content_type: str, *, timestamp: int | None = None,
                   secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body.decode())
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": str(signature)}


def slash_command_body(text: str, *, user: str, channel: str, response_url: str) -> bytes:
    form = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "example", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/imagecheck",
            "text": text, "api_app_id": "A0001", "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"trigger.{next(_ids)}.{time.time_ns()}"}
    return urlencode(form).encode()


def message_event_body(event: Mapping[str, Any], *, event_id: str) -> bytes:
    body = {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0001", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": dict(event),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT0001", "is_bot": True}]}
    return json.dumps(body).encode()


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


async def post_signed(http: aiohttp.ClientSession, url: str, body: bytes, content_type: str, *,
                      timestamp: int | None = None, extra: Mapping[str, str] | None = None) -> tuple[int, float]:
    """POST a signed request to ``url``; returns (status, seconds until the whole answer was read)."""
    headers = {**signed_headers(body, content_type, timestamp=timestamp), **(extra or {})}
    started = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status, time.perf_counter() - started


# --- `imagecheck serve` as a subprocess --------------------------------------------------------------


@dataclass
class ServeProcess:
    """One ``python -m bot serve`` replica on 127.0.0.1:``port``, logging to ``log_path``."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return self.base_url + "/slack/events"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # asyncio.run cancels the server and closes clients
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def serve_environment(directory: Path, config: Mapping[str, Any], *, slack_api_url: str,
                      redis_url: str | None = None, key_prefix: str | None = None) -> dict[str, str]:
    extra = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
             "SLACK_API_URL": slack_api_url, "IMAGECHECK_LOG_LEVEL": "WARNING"}
    if redis_url is not None:
        extra["REDIS_URL"] = redis_url
    if key_prefix is not None:
        extra["IMAGECHECK_KEY_PREFIX"] = key_prefix
    return cli_environment(directory, config, **extra)


async def start_serve(directory: Path, env: Mapping[str, str], *, name: str = "replica",
                      ready_timeout_s: float = 30.0) -> ServeProcess:
    """Start a replica and wait (without blocking the event loop) until ``/healthz`` answers 200."""
    port = free_port()
    log_path = directory / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    replica = ServeProcess(process, port, log_path)
    deadline = time.monotonic() + ready_timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{replica.log_text()[-2000:]}")
            try:
                async with http.get(replica.base_url + "/healthz") as resp:
                    if resp.status == 200:
                        return replica
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                replica.stop()
                raise TimeoutError(f"{name} not healthy in {ready_timeout_s} s:\n{replica.log_text()[-2000:]}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(directory: Path, env: Mapping[str, str], *, name: str = "replica") -> AsyncIterator[ServeProcess]:
    replica = await start_serve(directory, env, name=name)
    try:
        yield replica
    finally:
        replica.stop()
