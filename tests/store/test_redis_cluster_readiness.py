"""``/readyz`` on Redis Cluster reports on the node that holds the bot's keys (found in review).

redis-py sends PING to a default primary picked at random, so the store's ``ping`` said "ready" while
the primary owning the bot's slot was down, and "not ready" when an unrelated primary was. A real
three-primary cluster of its own (nodes get killed here, so not the module-wide fixture), with
``cluster-require-full-coverage no`` so that the surviving primaries keep serving their own slots, as a
cluster configured for partial availability does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import RedisCluster

from bot.store import RedisStore, open_store
from tests.fixtures.redis_ha import ClusterTopology, RedisProcess

pytestmark = pytest.mark.slow  # forms a cluster of its own (about 2 s)


@pytest.fixture
def partial_cluster(tmp_path: Path) -> Iterator[ClusterTopology]:
    cluster = ClusterTopology(tmp_path / "cluster")
    for node in cluster.nodes:
        node.extra = (*node.extra, "--cluster-require-full-coverage", "no")
    cluster.start()
    yield cluster
    cluster.stop()


async def test_readiness_follows_the_primary_that_owns_the_bots_slot(partial_cluster: ClusterTopology) -> None:
    store = await open_store(partial_cluster.url, key_prefix="imagecheck:")
    try:
        assert isinstance(store, RedisStore)
        client = store._r
        assert isinstance(client, RedisCluster)
        assert await store.ping() is True
        owner_node = client.get_node_from_key(store.keys.incident_index())
        assert owner_node is not None
        by_port: dict[int, RedisProcess] = {n.port: n for n in partial_cluster.nodes}
        owner = by_port[int(owner_node.port)]
        bystander = next(n for n in partial_cluster.nodes if n is not owner)
        # Make redis-py's "default node" (otherwise chosen at random) the bystander, so every run starts
        # the same way. (A PING to the default node fails over to any primary still answering, so it
        # said "ready" after the owner died, every run.)
        default = client.get_node(host="127.0.0.1", port=bystander.port)
        assert default is not None
        client.set_default_node(default)

        bystander.stop()
        assert await store.ping() is True  # the bot's keys are all still served
        await store.put_blob("still-here", "yes", 60)
        assert await store.get_blob("still-here") == "yes"

        owner.stop()
        assert await store.ping() is False  # nothing of the bot's state is reachable
    finally:
        await store.aclose()
