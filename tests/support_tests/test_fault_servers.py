"""Each fault server misbehaves exactly as documented (checked with plain httpx / ssl)."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.support.fault_servers import (
    REALM_LOOPBACK_OTHER_NAME,
    REALM_METADATA,
    SCHEMA1_MEDIA_TYPE,
    BlackholeServer,
    DigestLyingServer,
    GzipBombServer,
    HostileRealmServer,
    PaginatedTagsServer,
    PlainHttpServer,
    RateLimitedServer,
    RedirectServer,
    RefusedEndpoint,
    Reply,
    ScriptedServer,
    SkewedClockServer,
    TlsServer,
    TrickleServer,
    oci_error,
    schema1_manifest,
)
from tests.support.tls import TestCA


def test_good_tls_server_is_trusted_through_the_test_ca(tls_good_server: TlsServer, test_ca: TestCA) -> None:
    reply = httpx.get(f"{tls_good_server.base_url}/v2/", verify=test_ca.client_context())
    assert reply.status_code == 200
    assert tls_good_server.base_url.startswith("https://127.0.0.1:")


def test_self_signed_server_fails_as_unknown_authority(tls_unknown_ca_server: TlsServer) -> None:
    with pytest.raises(httpx.ConnectError, match=r"self.signed certificate"):
        httpx.get(f"{tls_unknown_ca_server.base_url}/v2/", verify=ssl.create_default_context())
    trusting = ssl.create_default_context(cafile=tls_unknown_ca_server.ca_pem_path)
    assert httpx.get(f"{tls_unknown_ca_server.base_url}/v2/", verify=trusting).status_code == 200


def test_expired_server_fails_only_on_expiry(tls_expired_server: TlsServer, test_ca: TestCA) -> None:
    with pytest.raises(httpx.ConnectError, match="certificate has expired"):
        httpx.get(f"{tls_expired_server.base_url}/v2/", verify=test_ca.client_context())


def test_wrong_host_server_fails_only_on_the_name(tls_wrong_host_server: TlsServer, test_ca: TestCA) -> None:
    with pytest.raises(httpx.ConnectError, match="mismatch"):
        httpx.get(f"{tls_wrong_host_server.base_url}/v2/", verify=test_ca.client_context())
    # Under the name the certificate is for, the same server verifies fine.
    context = test_ca.client_context()
    with (
        socket.create_connection(("127.0.0.1", tls_wrong_host_server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="registry.other.test") as tls,
    ):
        assert tls.version() is not None


def test_plain_http_server_breaks_a_tls_client(plain_http_server: PlainHttpServer) -> None:
    assert httpx.get(f"{plain_http_server.base_url}/v2/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{plain_http_server.https_url}/v2/", verify=ssl.create_default_context())


def test_refused_endpoint_refuses(refused_endpoint: RefusedEndpoint) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{refused_endpoint.base_url}/v2/")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", refused_endpoint.port), timeout=5).close()


def test_blackhole_accepts_and_never_answers(blackhole_server: BlackholeServer) -> None:
    before = blackhole_server.accepted
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{blackhole_server.base_url}/v2/", timeout=httpx.Timeout(5.0, read=0.2))
    # The accept thread may run a moment after the kernel completed the handshake.
    deadline = time.monotonic() + 5
    while blackhole_server.accepted == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blackhole_server.accepted == before + 1


def test_trickle_server_outlasts_a_read_timeout(trickle_server: TrickleServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{trickle_server.base_url}/v2/", timeout=httpx.Timeout(5.0, read=0.3))
    assert trickle_server.interval == 1.0


def test_trickle_server_sends_a_whole_valid_response_eventually() -> None:
    with TrickleServer(interval=0.001) as server:
        reply = httpx.get(f"{server.base_url}/v2/", timeout=10)
        assert reply.status_code == 200
        assert reply.json() == {}
        assert server.bytes_sent == len(server.response)


def test_rate_limited_server_speaks_docker_hub(rate_limited_server: RateLimitedServer) -> None:
    assert httpx.get(f"{rate_limited_server.base_url}/v2/").status_code == 200
    reply = httpx.head(f"{rate_limited_server.base_url}/v2/library/nginx/manifests/latest")
    assert reply.status_code == 429
    assert reply.headers["RateLimit-Limit"] == "100;w=21600"
    assert reply.headers["RateLimit-Remaining"] == "0;w=21600"
    assert reply.headers["Retry-After"] == "3600"
    body = httpx.get(f"{rate_limited_server.base_url}/v2/library/nginx/manifests/latest").json()
    assert body["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert [r.status for r in rate_limited_server.log.requests[-3:]] == [200, 429, 429]


def test_redirect_chain_is_followed_hop_by_hop(redirect_server: Callable[..., RedirectServer]) -> None:
    server = redirect_server({"/hop1": "{base}/hop2", "/hop2": "{base}/end"}, default="{base}/hop1")
    reply = httpx.get(f"{server.base_url}/v2/app/manifests/1", follow_redirects=True)
    assert reply.json() == {"path": "/end"}
    assert [r.headers["Location"] for r in reply.history] == [
        f"{server.base_url}/hop1",
        f"{server.base_url}/hop2",
        f"{server.base_url}/end",
    ]
    assert httpx.get(f"{server.base_url}/v2/").status_code == 200  # the ping is not redirected


def test_redirect_can_point_at_a_metadata_address(redirect_server: Callable[..., RedirectServer]) -> None:
    server = redirect_server({}, default="http://169.254.169.254/latest/meta-data/", status=302)
    reply = httpx.get(f"{server.base_url}/v2/app/manifests/1")  # not followed: no traffic leaves loopback
    assert reply.status_code == 302
    assert reply.headers["Location"] == "http://169.254.169.254/latest/meta-data/"


def test_digest_lying_server_header_does_not_match_body(digest_lying_server: DigestLyingServer) -> None:
    reply = httpx.get(f"{digest_lying_server.base_url}/v2/app/manifests/1.0")
    actual = "sha256:" + hashlib.sha256(reply.content).hexdigest()
    assert actual == digest_lying_server.true_digest
    assert reply.headers["Docker-Content-Digest"] == digest_lying_server.claimed_digest != actual


def test_gzip_bomb_is_small_on_the_wire_and_huge_decoded(gzip_bomb_server: GzipBombServer) -> None:
    url = f"{gzip_bomb_server.base_url}/v2/app/manifests/1.0"
    with httpx.stream("GET", url) as reply:
        wire = b"".join(reply.iter_raw())
    assert reply.headers["Content-Encoding"] == "gzip"
    assert len(wire) == gzip_bomb_server.encoded_size < 64 * 1024
    decoded = httpx.get(url).content
    assert len(decoded) == gzip_bomb_server.decoded_size > 4 * 1024 * 1024


def test_hostile_realm_server_hands_out_the_configured_realm(
    hostile_realm_server: Callable[..., HostileRealmServer],
) -> None:
    metadata = hostile_realm_server(REALM_METADATA)
    challenge = httpx.get(f"{metadata.base_url}/v2/app/manifests/1").headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM_METADATA}"')
    assert 'scope="repository:app:pull"' in challenge

    other_name = hostile_realm_server(REALM_LOOPBACK_OTHER_NAME)
    assert other_name.realm == f"http://localhost:{other_name.port}/token"
    assert f'realm="{other_name.realm}"' in httpx.get(f"{other_name.base_url}/v2/").headers["WWW-Authenticate"]
    # What a careless client would send to the realm is recorded.
    httpx.get(f"{other_name.base_url}/token", auth=("user", "secret"))
    httpx.get(f"{other_name.base_url}/token")
    assert other_name.token_requests[0] is not None
    assert other_name.token_requests[0].startswith("Basic ")
    assert other_name.token_requests[1] is None


def test_skewed_clock_server_date_is_ten_minutes_ahead(skewed_clock_server: SkewedClockServer) -> None:
    reply = httpx.get(f"{skewed_clock_server.base_url}/v2/")
    skew = parsedate_to_datetime(reply.headers["Date"]) - datetime.now(UTC)
    assert skewed_clock_server.skew == timedelta(minutes=10)
    assert timedelta(minutes=9) < skew <= timedelta(minutes=10, seconds=1)


def test_paginated_tags_follow_links_to_every_tag(
    paginated_tags_server: Callable[..., PaginatedTagsServer],
) -> None:
    tags = [f"t{i:03d}" for i in range(250)]
    server = paginated_tags_server("payments/api", tags, page_size=100)
    seen: list[str] = []
    url: str | None = f"{server.base_url}/v2/payments/api/tags/list?n=100"
    pages = 0
    while url:
        reply = httpx.get(url)
        seen += reply.json()["tags"]
        pages += 1
        link = reply.headers.get("Link")
        url = server.base_url + link.split(";")[0].strip("<>") if link else None
    assert seen == tags
    assert pages == 3


def test_paginated_tags_can_loop_or_leave_the_host(
    paginated_tags_server: Callable[..., PaginatedTagsServer],
) -> None:
    tags = [f"t{i:03d}" for i in range(30)]
    looping = paginated_tags_server("a/b", tags, page_size=10, repeat_link=True)
    first = httpx.get(f"{looping.base_url}/v2/a/b/tags/list?n=10").headers["Link"]
    again = httpx.get(looping.base_url + first.split(";")[0].strip("<>")).headers["Link"]
    assert first == again
    offsite = paginated_tags_server("a/b", tags, page_size=10, link_base="http://169.254.169.254")
    link = httpx.get(f"{offsite.base_url}/v2/a/b/tags/list?n=10").headers["Link"]
    assert link.startswith("<http://169.254.169.254/v2/a/b/tags/list?n=10&last=t009>")


def test_scripted_server_answers_what_it_is_told(scripted_server: Callable[..., ScriptedServer]) -> None:
    schema1 = schema1_manifest()
    server = scripted_server(
        {
            "/v2/private/app/manifests/1.0": oci_error(403, "DENIED", "requested access to the resource is denied"),
            "/v2/legacy/app/manifests/1.0": Reply(200, schema1, {"Content-Type": SCHEMA1_MEDIA_TYPE}),
        }
    )
    denied = httpx.get(f"{server.base_url}/v2/private/app/manifests/1.0")
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["code"] == "DENIED"
    legacy = httpx.get(f"{server.base_url}/v2/legacy/app/manifests/1.0")
    assert legacy.headers["Content-Type"] == SCHEMA1_MEDIA_TYPE
    assert legacy.json()["schemaVersion"] == 1
    assert httpx.get(f"{server.base_url}/v2/").status_code == 200
    assert httpx.get(f"{server.base_url}/v2/other/manifests/1").json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert [r.status for r in server.log.requests] == [403, 200, 200, 404]
