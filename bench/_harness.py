"""Shared pieces for the benchmarks: scratch space, statistics, a registry some distance away and the
Slack emulator outside pytest. Driving ``imagecheck serve`` replicas (signed requests, the subprocess)
lives in ``tests.support.serve_replicas``, which the multi-replica test uses too; it is re-exported here.

The servers themselves (registries, token server, redis-server, emulator) come from ``tests/support``
and ``tests/fixtures``; only what pytest fixtures do for tests (start and stop them) is done here.
Everything listens on 127.0.0.1 on ports the OS picks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures.slack_emulator import Call, SlackEmulator, serve_emulator
from tests.support.serve_replicas import (
    BOT_TOKEN,
    FORM,
    JSON,
    SIGNING_SECRET,
    ServeProcess,
    cli_environment,
    message_event_body,
    post_signed,
    registry_entry,
    serve_environment,
    serving,
    signed_headers,
    slash_command_body,
    start_serve,
)

__all__ = ["BOT_TOKEN", "FORM", "JSON", "SIGNING_SECRET", "LatencyProxy", "ServeProcess", "TimedEmulator",
           "cli_environment", "load_1m", "median", "message_event_body", "ms", "percentile", "post_signed",
           "print_table", "registry_entry", "scratch_dir", "serve_environment", "serving", "signed_headers",
           "slack_emulator", "slash_command_body", "start_serve"]


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



def print_table(name: str, rows: list[dict[str, object]]) -> None:
    from bench.__main__ import _format_table

    print(_format_table(name, rows))
