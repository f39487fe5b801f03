"""``parse_redis_url`` refuses, at start-up and without quoting the password, the URLs redis-py would
choke on later (found in review): a single-server URL whose password holds an unescaped ``/``, ``?`` or
``#`` (redis-py's error quoted the password's start as the "port"), and ``ssl_*`` options on a plain,
non-TLS URL (a raw TypeError from redis-py's connection). Pure parsing: no server involved."""

from __future__ import annotations

import pytest

from bot.store.factory import open_store
from bot.store.redis_url import Topology, parse_redis_url


@pytest.mark.parametrize("url", [
    "redis://:Sup3r/Secret@127.0.0.1:6399/0",
    "redis://:Sup3r?Secret@127.0.0.1:6399/0",
    "redis://:Sup3r#Secret@127.0.0.1:6399/0",
    "rediss://user:Sup3r/Secret@redis.internal/0",
    "redis://:1234/Secret@127.0.0.1/0",  # an all-digit start would pass as a port: the rest is no db
    "redis://:1234#Secret@127.0.0.1/0",
    "redis://:Sup3rSecret@[::1:6379/0",
])
def test_a_single_server_url_that_does_not_read_as_host_port_db_is_refused_without_the_password(
        url: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_redis_url(url)
    message = str(refused.value)
    assert message.startswith("REDIS_URL ")
    assert "Sup3r" not in message
    assert "Secret" not in message
    assert "percent-encode" in message or "database must be a number" in message


def test_a_single_server_db_must_be_a_number() -> None:
    # redis-py would quietly use db 0 for "/abc"
    with pytest.raises(ValueError, match="database must be a number"):
        parse_redis_url("redis://:pw@127.0.0.1:6379/abc")


@pytest.mark.parametrize("url", [
    "redis+sentinel://:pw@127.0.0.1:26379/mymaster?ssl_cert_reqs=none",
    "redis+cluster://127.0.0.1:7000?ssl_ca_certs=/etc/ca.pem",
    "redis://127.0.0.1:6379/0?ssl_cert_reqs=required",
])
def test_tls_options_on_a_plain_url_are_refused_naming_the_option(url: str) -> None:
    with pytest.raises(ValueError, match=r"option ssl_\w+ needs TLS"):
        parse_redis_url(url)


@pytest.mark.parametrize("url", [
    "redis://:pa%2Fss%3Fw%23rd@127.0.0.1:6379/1",
    "rediss://127.0.0.1:6380/0?ssl_cert_reqs=none",
    "rediss+sentinel://127.0.0.1:26379/svc?ssl_ca_certs=/etc/ca.pem",
    "redis://localhost",
])
def test_well_formed_urls_still_pass(url: str) -> None:
    parse_redis_url(url)


def test_a_single_server_url_is_still_handed_over_unchanged() -> None:
    url = "redis://:pa%2Fss@127.0.0.1:6379/1?socket_timeout=2"
    target = parse_redis_url(url)
    assert target.topology is Topology.single
    assert target.node_url == url


async def test_redis_pys_own_option_errors_come_out_as_a_value_error_naming_redis_url() -> None:
    # Nothing listens there: the client is never built, so nothing is dialled.
    with pytest.raises(ValueError, match=r"^REDIS_URL redis\+cluster://127\.0\.0\.1:9/0: Invalid value "
                                         r"for 'socket_timeout'") as refused:
        await open_store("redis+cluster://:Sup3rSecret@127.0.0.1:9/0?socket_timeout=abc")
    assert "Sup3r" not in str(refused.value)
