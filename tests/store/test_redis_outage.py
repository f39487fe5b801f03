"""Redis going away at run time, and coming back: checks must never hang or see a redis exception."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from bot.domain.errors import StoreUnavailable
from bot.domain.models import Diagnosis, ImageRef, Verdict
from bot.metrics import STORE_ERRORS
from bot.store import EMBEDDED_NOTICE, RedisStore, open_store
from tests.fixtures.redis_server import RedisServer, StoreFactory

# Generous bound: the store's timeouts are 0.5 s with one retry; this only guards against hanging.
NO_HANG_S = 5.0


def diagnosis() -> Diagnosis:
    ref = ImageRef(input="nginx:1.25", domain="docker.io", path="library/nginx", tag="1.25")
    return Diagnosis(reference=ref, verdict=Verdict.ok, summary="fine", digest="sha256:" + "c" * 64)


def errors(op: str) -> float:
    return float(STORE_ERRORS.labels(op=op)._value.get())  # prometheus_client has no public getter


async def every_operation_fails_with_store_unavailable(store: RedisStore) -> None:
    at = datetime.now(UTC)
    operations = [
        store.get_diagnosis("k"), store.put_diagnosis("k", diagnosis(), 60),
        store.record_tag("n", "t", "sha256:" + "d" * 64, at), store.tag_history("n", "t"),
        store.get_incident("i"), store.list_incidents(), store.claim_once("e", 5),
        store.allow("u", limit=1, window_s=5), store.put_blob("b", "v", 5), store.get_blob("b"),
    ]
    for op in operations:
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(op, NO_HANG_S)
    with pytest.raises(StoreUnavailable):
        async with asyncio.timeout(NO_HANG_S), store.lock("l", ttl_s=5, wait_s=0):
            pass
    assert await asyncio.wait_for(store.ping(), NO_HANG_S) is False


async def test_killed_redis_fails_fast_then_recovers_without_restart(
        restartable_redis: RedisServer, store_factory: StoreFactory) -> None:
    store = await store_factory("redis", redis_url=restartable_redis.url)
    assert await store.allow("warm-up", limit=5, window_s=60)  # loads the Lua script, opens the pool
    before = errors("get_diagnosis")

    restartable_redis.stop()
    await every_operation_fails_with_store_unavailable(store)
    assert errors("get_diagnosis") > before

    restartable_redis.restart()
    await store.put_diagnosis("k", diagnosis(), 60)
    cached = await store.get_diagnosis("k")
    assert cached is not None
    assert cached.diagnosis.summary == "fine"
    # Lua scripts are gone from the restarted server; redis-py must load them again.
    assert await store.allow("after", limit=1, window_s=60) is True
    async with store.lock("after", ttl_s=5, wait_s=0) as got:
        assert got is True
    async with store.lock("after", ttl_s=5, wait_s=0) as got_again:
        assert got_again is True  # the release script ran, so the lock was freed


async def test_hung_redis_times_out_and_keeps_what_was_written(
        restartable_redis: RedisServer, store_factory: StoreFactory) -> None:
    store = await store_factory("redis", redis_url=restartable_redis.url)
    await store.put_diagnosis("kept", diagnosis(), 600)

    restartable_redis.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.get_diagnosis("kept"), NO_HANG_S)
        assert await asyncio.wait_for(store.ping(), NO_HANG_S) is False
    finally:
        restartable_redis.resume()

    cached = await store.get_diagnosis("kept")
    assert cached is not None
    assert cached.diagnosis.digest == "sha256:" + "c" * 64


async def test_open_store_starts_even_when_redis_is_down(
        restartable_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    restartable_redis.stop()
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await open_store(restartable_redis.url)
    try:
        assert store.backend == "redis"
        assert "not answering" in caplog.text
    finally:
        await store.aclose()


async def test_open_store_without_url_is_embedded_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await open_store(None)
    assert store.backend == "memory"
    assert EMBEDDED_NOTICE in caplog.text


async def test_log_lines_never_show_the_redis_password(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    secret_url = redis_url.replace("redis://", "redis://:hunter2-secret@")
    with caplog.at_level(logging.DEBUG):
        store = await open_store(secret_url)
    try:
        # The test server has no password, so AUTH fails: the failure must not echo the secret either.
        with pytest.raises(StoreUnavailable) as info:
            await store.get_blob("x")
        assert "hunter2" not in str(info.value)
        assert "hunter2" not in caplog.text
        assert "127.0.0.1" in caplog.text
    finally:
        await store.aclose()


async def test_key_prefixes_isolate_bots_sharing_one_redis(store_factory: StoreFactory) -> None:
    ours = await store_factory("redis", key_prefix="bot-a:")
    theirs = await store_factory("redis", key_prefix="bot-b:")
    await ours.put_diagnosis("same-key", diagnosis(), ttl_s=60)
    assert await theirs.get_diagnosis("same-key") is None
    assert await ours.get_diagnosis("same-key") is not None


async def test_rediss_url_speaks_tls(tls_redis: RedisServer, store_factory: StoreFactory) -> None:
    store = await store_factory("redis", redis_url=tls_redis.url)
    assert await store.ping() is True
    await store.put_blob("over-tls", "payload", ttl_s=60)
    assert await store.get_blob("over-tls") == "payload"


async def test_rediss_refuses_a_server_it_cannot_verify(tls_redis: RedisServer,
                                                        store_factory: StoreFactory) -> None:
    unverified = tls_redis.url.split("?", 1)[0]  # no CA given: the test CA is not trusted
    store = await store_factory("redis", redis_url=unverified)
    with pytest.raises(StoreUnavailable):
        await store.get_blob("x")
