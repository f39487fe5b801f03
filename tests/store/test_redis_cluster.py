"""The store on a real three-node Redis Cluster, reached through ``REDIS_URL=redis+cluster://...``.

The whole ``StatePort`` contract suite (``test_behaviour``, ``test_user_incidents``,
``test_schema_versions``) runs here a second time, against the cluster: this module overrides the
``redis_url`` fixture those tests' ``store_factory`` reads, and pins ``backend_name`` to Redis. Then
tests specific to Cluster: the key prefix becomes a hash tag (said in the log), every key of a bot
lands in one slot, whichever node owns it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import RedisCluster

from bot.domain.errors import StoreUnavailable
from bot.domain.incidents import add_event, new_incident
from bot.domain.models import TimelineKind
from bot.store import RedisStore, open_store
from bot.store.redis_clients import open_client
from bot.store.redis_url import parse_redis_url
from tests.fixtures.redis_ha import ClusterTopology, command, redis_cluster  # noqa: F401  (a fixture)
from tests.fixtures.redis_server import StoreFactory
from tests.store import test_behaviour, test_schema_versions, test_user_incidents
from tests.store.conftest import Backend

pytestmark = pytest.mark.slow  # one cluster for the module (about 2 s to form), then ~40 tests

# Collect the contract suite into this module, so each of its tests runs against the cluster too.
# (By name: any test added there later runs here as well.) Left out: paging past 1,000 incidents, the
# same commands as the other listing tests, only 1,000 saves long (8 s on a cluster client).
_NOT_HERE = {"test_a_user_whose_incident_has_more_than_1000_newer_ones_still_gets_it"}
_CONTRACT: dict[str, Callable[..., Any]] = {
    name: test
    for module in (test_behaviour, test_user_incidents, test_schema_versions)
    for name, test in vars(module).items()
    if name.startswith("test_") and callable(test) and name not in _NOT_HERE
}
globals().update(_CONTRACT)


@pytest.fixture(scope="module")
def redis_url(redis_cluster: ClusterTopology) -> str:  # noqa: F811  (overrides the single-server URL)
    return redis_cluster.url


@pytest.fixture
def backend_name() -> str:
    return "redis"


T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


async def test_the_contract_suite_here_talks_to_the_cluster(state: Backend) -> None:
    """Guards the fixture overrides above: were they lost, the suite would silently test one server."""
    assert isinstance(state.store._r, RedisCluster)  # type: ignore[attr-defined]
    assert state.store.keys.prefix.startswith("{")  # type: ignore[attr-defined]


def keyslot(cluster: ClusterTopology, key: str) -> int:
    return int(command(cluster.nodes[0].port, "CLUSTER", "KEYSLOT", key).strip().lstrip(":"))


async def test_cluster_url_makes_the_key_prefix_a_hash_tag_and_says_so(
        redis_cluster: ClusterTopology, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    prefix = f"cl-{uuid.uuid4().hex[:8]}:"
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await open_store(redis_cluster.url, key_prefix=prefix)
    try:
        tagged = "{" + prefix[:-1] + "}:"
        assert store.keys.prefix == tagged  # type: ignore[attr-defined]
        assert tagged in caplog.text
        assert "Cluster" in caplog.text
        assert "redis cluster at redis+cluster://127.0.0.1:" in caplog.text
    finally:
        await store.aclose()


async def test_every_key_of_a_bot_lands_in_one_slot(redis_cluster: ClusterTopology,  # noqa: F811
                                                    store_factory: StoreFactory) -> None:
    store = await store_factory("redis")
    incident = add_event(new_incident("C1", "1.0", at=T0, created_by="UALICE"), TimelineKind.pinned,
                         "pinned", at=T0, actor="UBOB")
    await store.save_incident(incident)  # incident + workspace index + two users' indexes, one MULTI
    await store.record_tag("docker.io/library/nginx", "1.25", "sha256:" + "a" * 64, T0)  # WATCH/MULTI
    await store.put_blob("btn:1", "{}", ttl_s=60)
    assert await store.allow("user:UALICE", limit=5, window_s=60)  # a Lua script
    async with store.lock("check:nginx", ttl_s=5, wait_s=0) as got:  # SET NX, released by a script
        assert got

    keys = [store.keys.incident(incident.id), store.keys.incident_index(),
            store.keys.user_incident_index("UALICE"), store.keys.user_incident_index("UBOB"),
            store.keys.tag_history("docker.io/library/nginx", "1.25"), store.keys.blob("btn:1"),
            store.keys.rate("user:UALICE"), store.keys.lock("check:nginx")]
    assert len({keyslot(redis_cluster, key) for key in keys}) == 1
    assert [i.id for i in await store.list_user_incidents("UBOB")] == [incident.id]


async def test_bots_whose_slots_live_on_different_nodes_each_work(redis_cluster: ClusterTopology,  # noqa: F811
                                                                 store_factory: StoreFactory) -> None:
    """The client follows the slot map: a bot's keys may live on any primary, not just the seed."""
    seen_owners: set[int] = set()
    for i in range(40):
        prefix = f"{{bot{i}-{uuid.uuid4().hex[:6]}}}:"
        owner = slot_owner(redis_cluster, keyslot(redis_cluster, prefix + "x"))
        if owner in seen_owners:
            continue
        seen_owners.add(owner)
        store = await store_factory("redis", key_prefix=prefix)
        await store.put_blob("where", f"bot {i}", ttl_s=60)
        assert await store.get_blob("where") == f"bot {i}"
        # ...and the value really sits on the node that owns the slot.
        assert f"bot {i}" in command(owner, "GET", store.keys.blob("where"))
        if len(seen_owners) == len(redis_cluster.nodes):
            break
    assert len(seen_owners) == len(redis_cluster.nodes)


def slot_owner(cluster: ClusterTopology, slot: int) -> int:
    """The port of the primary serving ``slot``, read from the servers' CLUSTER NODES, not redis-py."""
    nodes = command(cluster.nodes[0].port, "CLUSTER", "NODES")
    for line in nodes.splitlines():
        fields = line.split()
        if len(fields) < 9 or "master" not in fields[2]:
            continue
        port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        for span in fields[8:]:
            low, _, high = span.partition("-")
            if low.isdigit() and int(low) <= slot <= int(high or low):
                return port
    raise AssertionError(f"no primary serves slot {slot}")


async def test_a_cluster_client_with_an_untagged_prefix_is_refused(redis_cluster: ClusterTopology) -> None:  # noqa: F811
    client = open_client(parse_redis_url(redis_cluster.url)).client
    try:
        assert isinstance(client, RedisCluster)
        with pytest.raises(ValueError, match="hash tag"):
            RedisStore(client, key_prefix="imagecheck:")
        assert await RedisStore(client, key_prefix="{imagecheck-probe}:").ping()
    finally:
        await client.aclose()


async def test_cluster_log_lines_never_show_the_password(redis_cluster: ClusterTopology,  # noqa: F811
                                                         caplog: pytest.LogCaptureFixture) -> None:
    secret_url = redis_cluster.url.replace("redis+cluster://", "redis+cluster://:hunter2-secret@")
    with caplog.at_level(logging.DEBUG):
        store = await open_store(secret_url)
    try:
        # The nodes have no password, so AUTH fails: an outage to the caller, and still no secret shown.
        with pytest.raises(StoreUnavailable) as info:
            await store.get_blob("x")
        assert "hunter2" not in str(info.value)
        assert "hunter2" not in caplog.text
        assert "not answering" in caplog.text
        assert "127.0.0.1" in caplog.text
    finally:
        await store.aclose()
