"""Reading ``REDIS_URL`` (one server, Sentinel, Cluster), redacting it for logs, and the cluster key
prefix; the redis-py clients built from a URL; and a store whose Sentinel or Cluster is unreachable.
No server is started here: nothing listens on the ports these tests use."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.asyncio import Redis, RedisCluster

from bot.domain.errors import StoreUnavailable
from bot.store.factory import open_store, redacted_url
from bot.store.keys import cluster_prefix, has_hash_tag
from bot.store.redis_clients import data_node_options, open_client, sentinel_options
from bot.store.redis_url import Topology, parse_redis_url
from tests.fixtures.redis_server import free_port

# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "redis://:pw@redis.internal:6379/2",
    "rediss://redis.internal:6380/0?ssl_ca_certs=/etc/ca.pem",
    "unix:///run/redis.sock?db=1",
])
def test_a_single_server_url_is_handed_to_redis_py_unchanged(url: str) -> None:
    target = parse_redis_url(url)
    assert target.topology is Topology.single
    assert target.node_url == url


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_db() -> None:
    target = parse_redis_url("redis+sentinel://:s3cret@sentinel-0.redis:26380,sentinel-1.redis,"
                             "[fd00::7]:26381/payments-cache/3")

    assert target.topology is Topology.sentinel
    assert target.nodes == (("sentinel-0.redis", 26380), ("sentinel-1.redis", 26379), ("fd00::7", 26381))
    assert target.service == "payments-cache"
    assert target.tls is False
    options = data_node_options(target.node_url)
    assert options["password"] == "s3cret"  # the data nodes' password...
    assert options["db"] == 3
    assert "ssl" not in options


def test_sentinels_get_their_own_credentials_and_the_nodes_never_see_them() -> None:
    target = parse_redis_url("rediss+sentinel://app:node%2Fpw@s1:26379/svc"
                             "?sentinel_username=watch&sentinel_password=sent%40pw&ssl_ca_certs=/etc/ca.pem")
    nodes = data_node_options(target.node_url)
    sentinels = sentinel_options(target, nodes, socket_timeout_s=0.5)

    assert (nodes["username"], nodes["password"]) == ("app", "node/pw")
    assert nodes["ssl"] is True
    assert nodes["ssl_ca_certs"] == "/etc/ca.pem"
    assert "sentinel_password" not in nodes
    assert "sentinel_password" not in target.node_url
    assert (sentinels["username"], sentinels["password"]) == ("watch", "sent@pw")
    assert sentinels["ssl"] is True  # one CA covers the sentinels too
    assert sentinels["ssl_ca_certs"] == "/etc/ca.pem"
    assert sentinels["socket_timeout"] == 0.5


def test_a_parsed_url_does_not_show_its_passwords_when_printed() -> None:
    target = parse_redis_url("redis+sentinel://:hunter2@s1/svc?sentinel_password=hunter3")
    assert "hunter" not in repr(target)
    assert "s1" in repr(target)


def test_plain_sentinels_get_no_tls_and_no_password_unless_given() -> None:
    target = parse_redis_url("redis+sentinel://:nodepw@s1/svc")
    sentinels = sentinel_options(target, data_node_options(target.node_url), socket_timeout_s=0.5)
    assert "password" not in sentinels
    assert "ssl" not in sentinels


def test_a_cluster_url_names_its_seed_nodes() -> None:
    target = parse_redis_url("rediss+cluster://:pw@node-a:7000,node-b:7001,node-c/0?ssl_cert_reqs=none")

    assert target.topology is Topology.cluster
    assert target.nodes == (("node-a", 7000), ("node-b", 7001), ("node-c", 6379))
    assert target.tls is True
    options = data_node_options(target.node_url)
    assert options["password"] == "pw"
    assert options["ssl_cert_reqs"] == "none"


@pytest.mark.parametrize(("url", "complaint"), [
    ("redis+sentinel://s1:26379", "service name"),
    ("redis+sentinel://s1:26379/svc/0/extra", "service name"),
    ("redis+sentinel://s1:26379/svc/zero", "database must be a number"),
    ("redis+cluster://n1:7000/2", "only database 0"),
    ("redis+cluster://n1:7000?sentinel_password=x", "sentinel_"),
    ("redis+sentinel://s1:port/svc", "not a number"),
    ("redis+sentinel://s1:70000/svc", "not a number"),
    ("redis+sentinel://s1:26379,,s2/svc", "host is empty"),
    ("redis+cluster://[fd00::1/0", "bracketed"),
])
def test_malformed_ha_urls_are_refused_with_a_reason(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_redis_url(url)


@pytest.mark.parametrize("url", [
    "redis+sentinel://user:hunter2@s1:hunter2/svc",       # a password where a port goes
    "redis+sentinel://user:hunt/er2@s1:26379/svc",        # an unescaped "/" in the password
    "redis+cluster://user:hunt?er2@n1:7000",              # an unescaped "?"
])
def test_errors_never_quote_the_password(url: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_redis_url(url)
    assert "hunt" not in str(info.value)
    assert "er2" not in str(info.value)


# --- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("rediss://default:hunter2@cache.internal:6380/1?ssl_ca_certs=/ca.pem", "rediss://cache.internal:6380/1"),
    ("redis+sentinel://:hunter2@s1:26379,s2:26379/payments/2?sentinel_password=hunter3",
     "redis+sentinel://s1:26379,s2:26379/payments/2"),
    ("rediss+cluster://app:hunter2@[fd00::1]:7000,n2:7001", "rediss+cluster://[fd00::1]:7000,n2:7001"),
    ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
    ("redis+sentinel://:hun/ter2@s1:26379/svc", "redis+sentinel://s1:26379/svc"),  # unescaped "/"
    ("redis+sentinel://u:hun?ter2@s1:26379/svc", "redis+sentinel://<hidden>"),     # unescaped "?"
    ("redis://u:hun#ter2@h:6379/0", "redis://<hidden>"),                           # unescaped "#"
    ("redis+sentinel://u:a/b?c@s1/svc", "redis+sentinel://<hidden>"),
    ("redis+sentinel://s1/svc name", "redis+sentinel://s1/<hidden>"),
    ("hunter2", "<redis url without a scheme>"),
])
def test_redacted_urls_keep_hosts_and_path_and_drop_every_secret(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


# --- the cluster key prefix ----------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "tagged"), [
    ("imagecheck:", "{imagecheck}:"),
    ("staging:", "{staging}:"),
    ("bot:prod:", "{bot:prod}:"),
    ("imagecheck", "{imagecheck}:"),
    ("{imagecheck}:", "{imagecheck}:"),           # already a tag: kept as configured
    ("{team-a}:imagecheck:", "{team-a}:imagecheck:"),
    ("", "{imagecheck}:"),
    ("odd{}:", "{imagecheck}:odd{}:"),            # an empty {} is no tag: Redis hashes the whole key
    ("half{open:", "{imagecheck}:half{open:"),   # a "{" closed later, in the key, would vary per key
])
def test_cluster_prefix_always_carries_a_hash_tag(prefix: str, tagged: str) -> None:
    assert cluster_prefix(prefix) == tagged
    assert has_hash_tag(cluster_prefix(prefix))


def test_different_bots_keep_different_prefixes_on_a_cluster() -> None:
    assert cluster_prefix("bot-a:") != cluster_prefix("bot-b:")


# --- clients built from a URL, and unreachable topologies -----------------------------------------


async def test_a_urls_own_timeouts_win_over_the_fail_fast_defaults() -> None:
    sentinel = open_client(parse_redis_url("redis+sentinel://127.0.0.1:1/svc?socket_timeout=2"))
    cluster = open_client(parse_redis_url("redis+cluster://127.0.0.1:1?socket_connect_timeout=3"))
    try:
        assert isinstance(sentinel.client, Redis)
        assert sentinel.client.connection_pool.connection_kwargs["socket_timeout"] == 2.0
        assert sentinel.owned[0].connection_pool.connection_kwargs["socket_timeout"] == 2.0  # the sentinels too
        assert isinstance(cluster.client, RedisCluster)
        assert cluster.client.connection_kwargs["socket_connect_timeout"] == 3.0
        assert cluster.client.connection_kwargs["socket_timeout"] == 0.5  # the default, untouched
    finally:
        await sentinel.client.aclose()
        await cluster.client.aclose()


@pytest.mark.parametrize("scheme", ["redis+sentinel", "redis+cluster"])
async def test_the_bot_starts_when_its_sentinels_or_cluster_are_unreachable(
        scheme: str, caplog: pytest.LogCaptureFixture) -> None:
    hosts = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"  # nothing listens there
    url = f"{scheme}://{hosts}/svc" if scheme == "redis+sentinel" else f"{scheme}://{hosts}"
    with caplog.at_level(logging.INFO, logger="bot.store"):
        store = await open_store(url)
    try:
        assert store.backend == "redis"
        assert "not answering" in caplog.text
        for op in (store.get_blob("x"), store.claim_once("e", 5), store.list_incidents()):
            with pytest.raises(StoreUnavailable):  # an outage callers handle, never a redis-py exception
                await asyncio.wait_for(op, 5)
    finally:
        await store.aclose()
