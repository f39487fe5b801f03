"""``guards.claim`` against a real redis-server that goes away: duplicates reaching this replica act
once before, during and after the outage; a second replica's memory is its own."""

from __future__ import annotations

import uuid

from bot.slack.guards import claim
from bot.slack.services import Services
from bot.store.factory import open_store
from tests.fixtures.redis_server import RedisServer, free_port
from tests.slack.harness import ScriptedChecks, make_services


async def services_on(url: str) -> Services:
    return make_services(ScriptedChecks(), await open_store(url, key_prefix=f"t-{uuid.uuid4().hex[:8]}:"))


async def test_with_no_redis_at_all_a_duplicate_is_still_refused() -> None:
    services = await services_on(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        assert await claim(services, "click:one", 10.0) is True
        assert await claim(services, "click:one", 10.0) is False
        assert await claim(services, "click:two", 10.0) is True
    finally:
        await services.store.aclose()  # type: ignore[attr-defined]


async def test_a_delivery_claimed_before_the_outage_is_refused_during_it(restartable_redis: RedisServer) -> None:
    services = await services_on(restartable_redis.url)
    try:
        assert await claim(services, "event:Ev1", 3600.0) is True  # granted by Redis
        restartable_redis.stop()
        assert await claim(services, "event:Ev1", 3600.0) is False  # Slack's retry, Redis gone
    finally:
        await services.store.aclose()  # type: ignore[attr-defined]


async def test_a_delivery_acted_on_during_the_outage_is_refused_after_it(restartable_redis: RedisServer) -> None:
    services = await services_on(restartable_redis.url)
    try:
        restartable_redis.stop()
        assert await claim(services, "slash:trig1", 3600.0) is True
        restartable_redis.start()  # back, and empty: it never saw the claim
        assert await services.store.ping() is True
        assert await claim(services, "slash:trig1", 3600.0) is False
        assert await claim(services, "slash:trig2", 3600.0) is True  # and Redis is used again
        assert await claim(services, "slash:trig2", 3600.0) is False
    finally:
        await services.store.aclose()  # type: ignore[attr-defined]


async def test_each_replica_remembers_only_its_own_deliveries() -> None:
    # The documented limit of the fallback: two replicas (two stores) share nothing while Redis is down.
    url = f"redis://127.0.0.1:{free_port()}/0"
    a, b = await services_on(url), await services_on(url)
    try:
        assert await claim(a, "click:x", 10.0) is True
        assert await claim(b, "click:x", 10.0) is True
        assert await claim(a, "click:x", 10.0) is False
    finally:
        await a.store.aclose()  # type: ignore[attr-defined]
        await b.store.aclose()  # type: ignore[attr-defined]
