"""Store operations one diagnosis makes, timed on the embedded store and on a real redis-server.

A check does: look up the result cache; on a miss, take the single-flight lock, look again (another
replica may have just finished), record the tag's digest, store the result, release the lock.
``python -m bench.store_ops`` prints the table; ``python -m bench store`` runs it with the others.
Redis is a private ``redis-server`` on loopback (or ``BENCH_REDIS_URL`` if set).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.models import Diagnosis, ImageRef, Verdict
from bot.store import Store, open_store
from tests.fixtures.redis_server import RedisServer

OPS = 500
DIGEST = "sha256:" + "e" * 64


def _diagnosis() -> Diagnosis:
    ref = ImageRef(input="payments/api:1.9.0", domain="docker.io", path="payments/api", tag="1.9.0")
    return Diagnosis(reference=ref, verdict=Verdict.ok, summary="payments/api:1.9.0 is fine", digest=DIGEST,
                     requests=3)


async def _one_diagnosis(store: Store, i: int, diagnosis: Diagnosis) -> None:
    key = f"check:{i}"
    if await store.get_diagnosis(key) is not None:
        return
    async with store.lock(key, ttl_s=30, wait_s=5):
        await store.get_diagnosis(key)
        await store.record_tag("docker.io/payments/api", "1.9.0", DIGEST, datetime.now(UTC))
        await store.put_diagnosis(key, diagnosis, ttl_s=60)


# get, lock (SET NX), get again, record_tag (WATCH/GET/MULTI-EXEC), put, unlock (Lua)
STORE_CALLS_PER_DIAGNOSIS = 6


async def _time(ops: int, call: Callable[[int], Awaitable[object]]) -> float:
    started = time.perf_counter()
    for i in range(ops):
        await call(i)
    return (time.perf_counter() - started) / ops * 1e6


async def _bench(store: Store) -> list[dict[str, object]]:
    diagnosis = _diagnosis()
    now = datetime.now(UTC)

    async def lock_and_release(i: int) -> None:
        async with store.lock(f"bench:{i}", ttl_s=30, wait_s=0):
            pass

    timings = [
        ("get_diagnosis (miss)", await _time(OPS, lambda i: store.get_diagnosis(f"miss:{i}"))),
        ("put_diagnosis", await _time(OPS, lambda i: store.put_diagnosis(f"hit:{i}", diagnosis, 60))),
        ("get_diagnosis (hit)", await _time(OPS, lambda i: store.get_diagnosis(f"hit:{i}"))),
        ("lock + release", await _time(OPS, lock_and_release)),
        ("record_tag", await _time(OPS, lambda i: store.record_tag("docker.io/r", "t", DIGEST, now))),
        (f"one diagnosis ({STORE_CALLS_PER_DIAGNOSIS} store calls)",
         await _time(OPS, lambda i: _one_diagnosis(store, i, diagnosis))),
    ]
    return [{"operation": op, "backend": store.backend, "ops": OPS, "mean_us": round(us, 1)}
            for op, us in timings]


async def _run_backend(url: str | None) -> list[dict[str, object]]:
    store = await open_store(url, key_prefix=f"bench-{uuid.uuid4().hex[:8]}:")
    try:
        return await _bench(store)
    finally:
        await store.aclose()


def run() -> list[dict[str, object]]:
    rows = asyncio.run(_run_backend(None))
    url = os.environ.get("BENCH_REDIS_URL")
    if url:
        return rows + asyncio.run(_run_backend(url))
    if shutil.which("redis-server") is None:
        return [*rows, {"operation": "(redis-server not installed: redis rows skipped)", "backend": "redis"}]
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            rows += asyncio.run(_run_backend(server.url))
        finally:
            server.stop()
    return rows


if __name__ == "__main__":
    from bench.__main__ import _format_table

    print(_format_table("store", run()))
    sys.exit(0)
