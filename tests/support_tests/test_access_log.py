"""Request counting from the registry's access log and the token server is exact."""

from __future__ import annotations

import httpx

from tests.support.access_log import count_by, parse_combined_line
from tests.support.image_builder import ACCEPT_ALL
from tests.support.local_registry import LocalRegistry
from tests.support.token_server import TokenServer


def test_parses_a_distribution_access_log_line() -> None:
    line = (
        '127.0.0.1 - - [29/Nov/2026:23:20:41 +0000] "GET /v2/payments/api/tags/list?n=100&last=a HTTP/1.1" '
        '200 109 "" "imagecheck/0.1"'
    )
    parsed = parse_combined_line(line)
    assert parsed is not None
    assert (parsed.method, parsed.path, parsed.query, parsed.status) == (
        "GET",
        "/v2/payments/api/tags/list",
        "n=100&last=a",
        200,
    )
    assert parsed.user_agent == "imagecheck/0.1"
    assert parse_combined_line('time="2026-11-29T23:20:37Z" level=info msg="listening on 127.0.0.1:1"') is None


def test_counts_exactly_the_requests_since_a_mark(registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_oci
    log = registry_open.process.access_log
    mark = log.mark()
    with httpx.Client(base_url=registry_open.base_url) as client:
        client.get("/v2/")
        client.head(f"/v2/{image.repository}/manifests/1.0", headers={"Accept": ACCEPT_ALL})
        client.head(f"/v2/{image.repository}/manifests/1.0", headers={"Accept": ACCEPT_ALL})
        client.get(f"/v2/{image.repository}/tags/list")
    seen = log.requests_since(mark)
    assert [(r.method, r.path, r.status) for r in seen] == [
        ("GET", "/v2/", 200),
        ("HEAD", f"/v2/{image.repository}/manifests/1.0", 200),
        ("HEAD", f"/v2/{image.repository}/manifests/1.0", 200),
        ("GET", f"/v2/{image.repository}/tags/list", 200),
    ]
    assert count_by(seen)[("HEAD", f"/v2/{image.repository}/manifests/1.0")] == 2
    assert log.count_since(mark, method="HEAD") == 2
    # Asking again from the same mark still sees the same four (the sentinels are never counted).
    assert len(log.requests_since(mark)) == 4
    assert log.count_since(log.mark()) == 0


def test_counts_registry_and_token_requests_of_a_bearer_flow(
    registry_token: LocalRegistry, token_server: TokenServer
) -> None:
    image = registry_token.scenarios.single_oci
    mark = registry_token.mark()
    with httpx.Client() as client:
        challenge = client.get(f"{registry_token.base_url}/v2/{image.repository}/manifests/1.0")
        assert challenge.status_code == 401
        token = client.get(
            token_server.realm,
            params={"service": token_server.service, "scope": f"repository:{image.repository}:pull"},
        ).json()["token"]
        ok = client.get(
            f"{registry_token.base_url}/v2/{image.repository}/manifests/1.0",
            headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT_ALL},
        )
        assert ok.status_code == 200
    traffic = registry_token.traffic_since(mark)
    assert [(r.method, r.status) for r in traffic.registry] == [("GET", 401), ("GET", 200)]
    assert [(r.method, r.path, r.status) for r in traffic.token] == [("GET", "/token", 200)]
    assert traffic.total == 3
