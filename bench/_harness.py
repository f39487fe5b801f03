"""Shared pieces for the benchmarks and the multi-replica test: scratch space, statistics, the Slack
emulator outside pytest, requests signed as Slack signs them, and ``imagecheck serve`` as a subprocess.

The servers themselves (registries, token server, redis-server, emulator) come from ``tests/support``
and ``tests/fixtures``; only what pytest fixtures do for tests (start and stop them) is done here.
Everything listens on 127.0.0.1 on ports the OS picks.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import TEAM_ID, Call, SlackEmulator, serve_emulator
from tests.integration.cli import REPO_ROOT, clean_env, write_config
from tests.support.local_registry import LocalRegistry

SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-token"
_ids = itertools.count(1)


# --- scratch space and numbers ---------------------------------------------------------------------


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A private directory, on tmpfs when there is one: distribution fsyncs every blob it writes,
    which on a disk makes populating a registry several times slower. Removed on exit."""
    shm = Path("/dev/shm")
    parent = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest): no interpolation that would
    report a latency nobody saw."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def load_1m() -> float:
    """The machine's 1-minute load average: wall times here move with it (other work shares the cores)."""
    return round(os.getloadavg()[0], 1)


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


# --- distance to a registry ---------------------------------------------------------------------------


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 that puts a registry ``rtt_s`` away: each connection waits one round
    trip before its first byte (the TCP handshake) and every chunk reaches the other side ``rtt_s / 2``
    late, in order. It models distance, not bandwidth; TLS is not modelled (the registry speaks HTTP).
    Runs its own event loop in a daemon thread, so blocking callers (subprocesses) don't stall it."""

    def __init__(self, target_host: str, target_port: int, rtt_s: float) -> None:
        self.target = (target_host, target_port)
        self.rtt_s = rtt_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def host(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(self.rtt_s)  # the handshake a distant server costs
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # stop() cancels open connections; the loop is going away, nothing awaits this task
        finally:
            writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    if sink.can_write_eof():
                        sink.write_eof()
                    return
                sink.write(data)
                await sink.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                data = await source.read(65536)
                queue.put_nowait((loop.time() + self.rtt_s / 2, data))
                if not data:
                    break
            await delivering
        except OSError:
            delivering.cancel()


# --- the Slack emulator outside pytest -------------------------------------------------------------


@dataclass
class TimedEmulator(SlackEmulator):
    """The tests' Slack emulator, also noting when each call arrived (``time.perf_counter``)."""

    arrived: list[tuple[float, Call]] = field(default_factory=list)

    def _record(self, call: Call) -> None:
        self.arrived.append((time.perf_counter(), call))
        super()._record(call)

    def first_post(self, channel: str, *, threaded: bool) -> float | None:
        """When the first ``chat.postMessage`` in ``channel`` (in a thread, or at top level) arrived."""
        for at, call in self.arrived:
            if (call.method == "chat.postMessage" and call.status == 200 and call.args.get("channel") == channel
                    and bool(call.args.get("thread_ts")) is threaded):
                return at
        return None


@asynccontextmanager
async def slack_emulator() -> AsyncIterator[TimedEmulator]:
    """Serve the timed emulator on 127.0.0.1 in the running event loop, as the pytest fixture does."""
    async with serve_emulator(TimedEmulator()) as emulator:
        yield emulator


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


def print_table(name: str, rows: list[dict[str, object]]) -> None:
    from bench.__main__ import _format_table

    print(_format_table(name, rows))
