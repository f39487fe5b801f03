"""The result cache and single flight, measured against a real registry and a real ``redis-server``.

- A repeated check within the tag TTL asks the registry nothing (embedded store and Redis).
- N concurrent identical checks spread over two runtimes (two replicas sharing one Redis) make the
  registry requests of one check; two runtimes with separate embedded stores, for contrast, make two.
- Store operations per diagnosis: calls through ``StatePort`` and their time (timed in process), and
  the Redis commands they cost (counted by Redis itself, ``INFO commandstats``).

Registry requests are counted from the registry's access log. ``python -m bench.cache_and_single_flight``
prints the table; ``python -m bench cache`` runs it with the others.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import redis

from bench._harness import ms, print_table, registry_entry, scratch_dir
from bot.domain.clock import SystemClock
from bot.domain.models import ImageRef
from bot.domain.reference import parse_reference
from bot.settings import Settings
from bot.store.factory import Store
from bot.wiring import build_runtime, open_state
from tests.fixtures.redis_server import RedisServer
from tests.support.local_registry import LocalRegistry, running_registry

CONCURRENT = 20
DIAGNOSES = 20
_STORE_CALLS = ("get_diagnosis", "put_diagnosis", "record_tag", "tag_history", "claim_once", "allow",
                "get_incident", "save_incident", "list_incidents", "put_blob", "get_blob")


class TimedStore:
    """A ``Store`` that passes every call through and notes how many were made and how long they took.

    In-process timing is the point here (what a diagnosis waits for), so this wraps the real store
    rather than faking anything."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in _STORE_CALLS:
            return self._timed(name, attr)
        return attr

    def _timed(self, name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls[name] += 1
        return timed

    def lock(self, name: str, *, ttl_s: float, wait_s: float) -> AbstractAsyncContextManager[bool]:
        @asynccontextmanager
        async def timed_lock() -> AsyncIterator[bool]:
            started = time.perf_counter()
            async with self._inner.lock(name, ttl_s=ttl_s, wait_s=wait_s) as acquired:
                self.seconds += time.perf_counter() - started
                self.calls["lock"] += 1
                yield acquired
                started = time.perf_counter()
            self.seconds += time.perf_counter() - started
            self.calls["unlock"] += 1
        return timed_lock()


class RedisCommands:
    """Commands a redis-server ran, from its own statistics (this counter's own commands excluded)."""

    _OWN = frozenset({"cmdstat_info", "cmdstat_config|resetstat", "cmdstat_config"})

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)

    def reset(self) -> None:
        self._client.config_resetstat()

    def counts(self) -> Counter[str]:
        stats = cast(dict[str, dict[str, int]], self._client.info("commandstats"))
        return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
                        if name not in self._OWN})

    def close(self) -> None:
        self._client.close()


def _settings(registry: LocalRegistry, directory: Path, redis_url: str | None, prefix: str) -> Settings:
    docker = directory / "docker"
    docker.mkdir(exist_ok=True)
    return Settings(registries={registry.host: registry_entry(registry)}, docker_config=docker,
                    redis_url=redis_url, key_prefix=prefix)


async def _repeat_rows(registry: LocalRegistry, settings: Settings, ref: ImageRef) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with build_runtime(settings) as runtime:
        for label in ("first check", "repeat within TTL"):
            mark = registry.mark()
            started = time.perf_counter()
            d = await runtime.checks.check(ref)
            wall = time.perf_counter() - started
            rows.append({"case": label, "backend": runtime.store.backend,
                         "registry_reqs": registry.traffic_since(mark).total, "reported_reqs": d.requests,
                         "from_cache": d.from_cache, "wall_ms": ms(wall), "answer": d.verdict.value})
    return rows


async def _concurrent_rows(registry: LocalRegistry, a: Settings, b: Settings, ref: ImageRef,
                           label: str) -> dict[str, object]:
    async with build_runtime(a) as one, build_runtime(b) as two:
        mark = registry.mark()
        started = time.perf_counter()
        results = await asyncio.gather(*(
            (one if i % 2 == 0 else two).checks.check(ref) for i in range(CONCURRENT)))
        wall = time.perf_counter() - started
        traffic = registry.traffic_since(mark)
        backend = one.store.backend
    digests = {d.digest for d in results}
    return {"case": label, "backend": backend, "registry_reqs": traffic.total,
            "reported_reqs": sum(d.requests for d in results), "wall_ms": ms(wall),
            "answer": f"{len(results)} answers, {len(digests)} digest(s)"}


async def _store_rows(registry: LocalRegistry, settings: Settings,
                      commands: RedisCommands | None) -> list[dict[str, object]]:
    payments = registry.scenarios.repo("payments/api")
    refs = [parse_reference(registry.ref(payments, f"nightly-{i:03d}")) for i in range(DIAGNOSES)]
    rows: list[dict[str, object]] = []
    inner = await open_state(settings, SystemClock())
    timed = TimedStore(inner)
    try:
        rows += await _timed_checks(settings, timed, refs, commands)
    finally:
        await inner.aclose()
    return rows


async def _timed_checks(settings: Settings, timed: TimedStore, refs: list[ImageRef],
                        commands: RedisCommands | None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with build_runtime(settings, store=cast(Store, timed)) as runtime:
        for label in ("per diagnosis (cache miss)", "per check answered from cache"):
            timed.reset()
            if commands is not None:
                commands.reset()
            started = time.perf_counter()
            for ref in refs:  # one at a time: the per-diagnosis cost, not a concurrency effect
                await runtime.checks.check(ref)
            wall = time.perf_counter() - started
            row: dict[str, object] = {
                "case": f"store ops {label}", "backend": runtime.store.backend,
                "store_calls": round(sum(timed.calls.values()) / len(refs), 2),
                "store_ms": round(timed.seconds / len(refs) * 1000, 2),
                "wall_ms": ms(wall / len(refs)),
                "answer": " ".join(f"{k}={v // len(refs)}" for k, v in sorted(timed.calls.items()))}
            if commands is not None:
                counted = commands.counts()
                row["redis_cmds"] = round(sum(counted.values()) / len(refs), 2)
                row["answer"] = " ".join(f"{k}={v / len(refs):g}" for k, v in sorted(counted.items()))
            rows.append(row)
    return rows


async def _bench(registry: LocalRegistry, directory: Path, redis_url: str) -> list[dict[str, object]]:
    single = parse_reference(registry.ref(registry.scenarios.single_oci.repository, "1.0"))
    index = parse_reference(registry.ref(registry.scenarios.multi_oci.repository, "1.0"))

    def fresh_prefix() -> str:
        return f"bench-{uuid.uuid4().hex[:8]}:"

    rows = await _repeat_rows(registry, _settings(registry, directory, None, fresh_prefix()), single)
    rows += await _repeat_rows(registry, _settings(registry, directory, redis_url, fresh_prefix()), single)

    # A lone check of the index (its own prefix, so nothing is cached): what one check costs.
    alone = await _repeat_rows(registry, _settings(registry, directory, redis_url, fresh_prefix()), index)
    rows.append({**alone[0], "case": "one check of a multi-arch index"})
    shared = _settings(registry, directory, redis_url, fresh_prefix())
    rows.append(await _concurrent_rows(registry, shared, shared, index,
                                       f"{CONCURRENT} concurrent identical, 2 runtimes, one Redis"))
    rows.append(await _concurrent_rows(
        registry, _settings(registry, directory, None, fresh_prefix()),
        _settings(registry, directory, None, fresh_prefix()), index,
        f"{CONCURRENT} concurrent identical, 2 runtimes, separate embedded stores"))

    rows += await _store_rows(registry, _settings(registry, directory, None, fresh_prefix()), None)
    commands = RedisCommands(redis_url)
    try:
        rows += await _store_rows(registry, _settings(registry, directory, redis_url, fresh_prefix()), commands)
    finally:
        commands.close()
    return rows


def run() -> list[dict[str, object]]:
    with scratch_dir("bench-cache-") as directory, running_registry(directory / "registry") as registry:
        server = RedisServer(directory / "redis")
        server.start()
        try:
            return asyncio.run(_bench(registry, directory, server.url))
        finally:
            server.stop()


if __name__ == "__main__":
    print_table("cache", run())
    sys.exit(0)
