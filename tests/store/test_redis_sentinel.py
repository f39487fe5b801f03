"""The store through Redis Sentinel (``REDIS_URL=redis+sentinel://...``), across failovers.

Real processes on loopback: a primary, its replica and a sentinel (``tests/fixtures/redis_ha.py``).
What a user of the bot would notice: the same store keeps answering after the primary dies or is
switched over, with at most a short ``StoreUnavailable`` (which callers already treat as "no cache
for now") while the sentinel promotes the replica, and it then writes to the new primary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from bot.domain.errors import StoreUnavailable
from bot.domain.incidents import add_event, new_incident
from bot.domain.models import TimelineKind
from bot.store import open_store
from tests.fixtures.redis_ha import (  # noqa: F401  (pytest fixtures, used by name)
    SENTINEL_SERVICE,
    SentinelTopology,
    command,
    redis_sentinel,
    tls_redis_sentinel,
)
from tests.fixtures.redis_server import StoreFactory

pytestmark = pytest.mark.slow  # a few seconds: three processes per test, and a failover

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SWITCH_S = 15.0  # generous: a promotion takes about a second here


async def eventually(op: Callable[[], Awaitable[T]], timeout_s: float = SWITCH_S) -> tuple[T, int]:
    """``op``'s result once the store answers again, and how many times it said unavailable first.
    Only ``StoreUnavailable`` is waited out: any other exception fails the test at once."""
    deadline = time.monotonic() + timeout_s
    outages = 0
    while True:
        try:
            return await op(), outages
        except StoreUnavailable:
            outages += 1
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def wait_replicated(topology: SentinelTopology, key: str) -> None:
    """Replication is asynchronous: a write the replica never received dies with the primary."""
    deadline = time.monotonic() + 5
    while ":1" not in command(topology.replica.port, "EXISTS", key):
        assert time.monotonic() < deadline, f"{key} never reached the replica"
        time.sleep(0.02)


async def test_a_sentinel_url_reaches_the_primary(redis_sentinel: SentinelTopology,  # noqa: F811
                                                  store_factory: StoreFactory,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await store_factory("redis", redis_url=redis_sentinel.url())
    assert f"redis sentinel (service '{SENTINEL_SERVICE}')" in caplog.text
    other = await store_factory("redis", redis_url=redis_sentinel.url(), key_prefix=store.keys.prefix)

    await store.put_blob("btn:1", "payload", ttl_s=60)

    assert await other.get_blob("btn:1") == "payload"
    assert "payload" in command(redis_sentinel.primary.port, "GET", store.keys.blob("btn:1"))


async def test_the_store_follows_the_primary_when_it_dies(redis_sentinel: SentinelTopology,  # noqa: F811
                                                          store_factory: StoreFactory) -> None:
    store = await store_factory("redis", redis_url=redis_sentinel.url())
    incident = add_event(new_incident("C1", "1.0", at=T0, created_by="UALICE"), TimelineKind.note,
                         "before the failover", at=T0, actor="UALICE")
    await store.save_incident(incident)
    wait_replicated(redis_sentinel, store.keys.incident(incident.id))

    redis_sentinel.fail_over()  # SIGKILL the primary; the sentinel promotes the replica

    loaded, _ = await eventually(lambda: store.get_incident(incident.id))
    assert loaded == incident
    await store.put_blob("after", "written after the failover", ttl_s=60)
    assert "written after" in command(redis_sentinel.replica.port, "GET", store.keys.blob("after"))
    assert [i.id for i in await store.list_user_incidents("UALICE")] == [incident.id]
    assert await store.claim_once("event:Ev1", ttl_s=60) is True
    assert await store.claim_once("event:Ev1", ttl_s=60) is False


async def test_the_store_follows_a_switchover_while_the_old_primary_still_answers(
        redis_sentinel: SentinelTopology, store_factory: StoreFactory) -> None:  # noqa: F811
    """The old primary stays up as a replica, so a pooled connection to it still reads fine but a
    write gets READONLY: the client must drop it and ask the sentinel again, not keep failing."""
    # Long timeouts: on a loaded machine a 0.5 s read timeout could be the outage this test counts.
    store = await store_factory("redis", redis_url=redis_sentinel.url(), socket_timeout_s=5.0)
    await store.put_blob("before", "v1", ttl_s=60)  # leaves a pooled connection to the old primary

    redis_sentinel.switch_over()

    _, outages = await eventually(lambda: store.put_blob("after", "v2", ttl_s=60))
    assert outages == 0  # the READONLY answer is retried on the new primary within the same call
    assert "v2" in command(redis_sentinel.replica.port, "GET", store.keys.blob("after"))
    assert await store.get_blob("before") == "v1"
    async with store.lock("check:x", ttl_s=5, wait_s=0) as got:  # a write, then a script, on the new primary
        assert got is True


async def test_an_unknown_service_is_an_outage_not_a_crash(redis_sentinel: SentinelTopology,  # noqa: F811
                                                           caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis+sentinel://127.0.0.1:{redis_sentinel.sentinel.port}/no-such-service"
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await open_store(url)  # the bot still starts
    try:
        assert "not answering" in caplog.text
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.get_blob("x"), 5)
    finally:
        await store.aclose()


async def test_sentinel_log_lines_never_show_either_password(redis_sentinel: SentinelTopology,  # noqa: F811
                                                             caplog: pytest.LogCaptureFixture) -> None:
    url = (f"redis+sentinel://:hunter2-node@127.0.0.1:{redis_sentinel.sentinel.port}/{SENTINEL_SERVICE}/0"
           "?sentinel_password=hunter3-sentinel")
    with caplog.at_level(logging.DEBUG):
        store = await open_store(url)
    try:
        # The sentinel has no password, so AUTH fails: an outage to the caller, and no secret shown.
        with pytest.raises(StoreUnavailable) as info:
            await store.get_blob("x")
        assert "hunter" not in str(info.value)
        assert "hunter" not in caplog.text
        assert f"127.0.0.1:{redis_sentinel.sentinel.port}/{SENTINEL_SERVICE}/0" in caplog.text
    finally:
        await store.aclose()


async def test_rediss_sentinel_speaks_tls_to_the_sentinels_and_the_primary_across_a_failover(
        tls_redis_sentinel: SentinelTopology, store_factory: StoreFactory) -> None:  # noqa: F811
    topology = tls_redis_sentinel
    store = await store_factory("redis", redis_url=topology.url())
    await store.put_blob("over-tls", "before", ttl_s=60)
    assert "before" in topology.primary.command("GET", store.keys.blob("over-tls"))

    topology.fail_over()  # reconnecting must keep TLS (and verify the new primary's certificate)

    await eventually(lambda: store.put_blob("over-tls", "after", ttl_s=60))
    assert "after" in topology.replica.command("GET", store.keys.blob("over-tls"))


async def test_rediss_sentinel_refuses_servers_it_cannot_verify(tls_redis_sentinel: SentinelTopology,  # noqa: F811
                                                                store_factory: StoreFactory) -> None:
    unverified = tls_redis_sentinel.url().split("?", 1)[0]  # no CA given: the test CA is not trusted
    store = await store_factory("redis", redis_url=unverified)
    with pytest.raises(StoreUnavailable):
        await store.get_blob("x")
