"""Verification and limits against scripted servers: lying digests, schema 1, inflating bodies,
trickling servers, 429s, redirects, tag pagination, concurrency caps. A real registry cannot be made
to misbehave like this on demand, which is why these use scripted servers."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging

import pytest
from aiohttp import web

from bot import metrics
from bot.domain.errors import (
    DigestMismatch,
    EgressDenied,
    ManifestInvalid,
    NameUnknown,
    NetworkTimeout,
    RateLimited,
    RegistryDenied,
    RegistryServerError,
    ResponseTooLarge,
)
from bot.domain.models import ManifestKind
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.registry.conftest import StartServer
from tests.registry.fakes import OCI_MANIFEST, digest, manifest_body, manifest_response
from tests.registry.scripted import ScriptedServer, make_certs, oci_error


def _client(*hosts: str, **config: object) -> RegistryClient:
    endpoints = {h: RegistryEndpoint(h, insecure=True) for h in hosts}
    return RegistryClient(RegistryClientConfig(endpoints=endpoints, use_docker_config=False,
                                               **config))  # type: ignore[arg-type]


async def test_head_then_get_with_all_four_media_types(start_server: StartServer) -> None:
    body = manifest_body()

    async def handler(request: web.Request) -> web.StreamResponse:
        return manifest_response(request, body)

    server = await start_server(handler)
    async with _client(server.host) as client:
        session = client.session()
        head = await session.head_manifest(server.host, "team/app", "1.0")
        manifest = await session.get_manifest(server.host, "team/app", "1.0")
    assert head.digest == manifest.digest == digest(body)
    assert manifest.kind is ManifestKind.image
    assert manifest.config is not None
    assert session.request_count == 2
    accept = server.seen[0].headers["Accept"]
    for media_type in ("application/vnd.oci.image.index.v1+json", OCI_MANIFEST,
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.docker.distribution.manifest.v2+json"):
        assert media_type in accept


async def test_announced_digest_that_does_not_match_the_body(start_server: StartServer) -> None:
    body = manifest_body()

    async def handler(request: web.Request) -> web.StreamResponse:
        return manifest_response(request, body, announced=digest(b"something else"))

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(DigestMismatch) as info:
            await client.session().get_manifest(server.host, "team/app", "1.0")
    assert info.value.evidence.headers["docker-content-digest"] == digest(b"something else")


async def test_body_that_is_not_the_digest_asked_for(start_server: StartServer) -> None:
    asked = digest(b"the real manifest")

    async def handler(request: web.Request) -> web.StreamResponse:
        # a proxy that serves another manifest and announces nothing
        return web.Response(body=manifest_body(), headers={"Content-Type": OCI_MANIFEST})

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(DigestMismatch):
            await client.session().get_manifest(server.host, "team/app", asked)


async def test_schema1_is_unsupported(start_server: StartServer) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "team/app", "tag": "old", "fsLayers": [],
                       "signatures": []}).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        return manifest_response(request, body, announced=digest(b"payload without signatures"),
                                 media_type="application/vnd.docker.distribution.manifest.v1+prettyjws")

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(ManifestInvalid) as info:
            await client.session().get_manifest(server.host, "team/app", "old")
    assert "schema 1" in str(info.value)


async def test_unknown_media_type_and_garbage_json(start_server: StartServer) -> None:
    bodies = {"weird": (b'{"schemaVersion":2,"mediaType":"application/x-weird"}', "application/x-weird"),
              "garbage": (b"<html>not json</html>", "text/html")}

    async def handler(request: web.Request) -> web.StreamResponse:
        body, media_type = bodies[request.path.rsplit("/", 1)[1]]
        return web.Response(body=body, headers={"Content-Type": media_type})

    server = await start_server(handler)
    async with _client(server.host) as client:
        for tag in bodies:
            with pytest.raises(ManifestInvalid):
                await client.session().get_manifest(server.host, "team/app", tag)


async def test_manifest_without_media_type_is_recognised_by_shape(start_server: StartServer) -> None:
    bodies = {
        "img": json.dumps({"schemaVersion": 2, "layers": [], "config": {
            "digest": digest(b"c"), "size": 1,
            "mediaType": "application/vnd.oci.image.config.v1+json"}}).encode(),
        "idx": json.dumps({"schemaVersion": 2, "manifests": [
            {"digest": digest(b"m"), "size": 1, "mediaType": OCI_MANIFEST,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}]}).encode(),
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bodies[request.path.rsplit("/", 1)[1]],
                            headers={"Content-Type": "application/json"})

    server = await start_server(handler)
    async with _client(server.host) as client:
        session = client.session()
        image = await session.get_manifest(server.host, "team/app", "img")
        index = await session.get_manifest(server.host, "team/app", "idx")
    assert (image.kind, image.media_type) == (ManifestKind.image, OCI_MANIFEST)
    assert index.kind is ManifestKind.index
    assert [str(e.platform) for e in index.entries] == ["linux/arm64/v8"]


async def test_gzip_bomb_is_cut_at_the_decoded_cap(start_server: StartServer) -> None:
    bomb = gzip.compress(b"{" + b" " * (8 * 1024 * 1024) + b"}")
    assert len(bomb) < 64 * 1024  # small on the wire

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"})

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(ResponseTooLarge) as info:
            await client.session().get_manifest(server.host, "team/app", "1.0")
    assert "decoded" in (info.value.evidence.message or "")


async def test_small_gzip_manifest_is_accepted_and_digest_is_of_decoded_body(
        start_server: StartServer) -> None:
    body = manifest_body()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=gzip.compress(body), headers={
            "Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip", "Docker-Content-Digest": digest(body)})

    server = await start_server(handler)
    async with _client(server.host) as client:
        manifest = await client.session().get_manifest(server.host, "team/app", "1.0")
    assert manifest.digest == digest(body)


async def test_declared_oversize_body_is_refused(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * 5000, headers={"Content-Type": OCI_MANIFEST})

    server = await start_server(handler)
    async with _client(server.host, max_manifest_bytes=4096) as client:
        with pytest.raises(ResponseTooLarge):
            await client.session().get_manifest(server.host, "team/app", "1.0")


async def test_trickling_server_hits_the_overall_deadline(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": OCI_MANIFEST})
        await response.prepare(request)
        try:
            for _ in range(600):  # one byte every 50 ms: each read is quick, the whole is not
                await response.write(b" ")
                await asyncio.sleep(0.05)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    server = await start_server(handler)
    async with _client(server.host, request_deadline_s=0.5, read_timeout_s=5.0) as client:
        with pytest.raises(NetworkTimeout) as info:
            await client.session().get_manifest(server.host, "team/app", "1.0")
    assert info.value.evidence.url == f"http://{server.host}/v2/team/app/manifests/1.0"


async def test_429_with_docker_hub_headers(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return oci_error(429, "TOOMANYREQUESTS", "You have reached your pull rate limit.", {
            "RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "0;w=21600", "Retry-After": "120"})

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(RateLimited) as info:
            await client.session().head_manifest(server.host, "library/nginx", "latest")
    limit = info.value.rate_limit
    assert (limit.limit, limit.remaining, limit.window_s, limit.retry_after_s) == (100, 0, 21600, 120.0)


async def test_rate_limit_headers_on_success_are_in_meta(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = manifest_response(request, manifest_body())
        response.headers["RateLimit-Limit"] = "100;w=21600"
        response.headers["RateLimit-Remaining"] = "76;w=21600"
        return response

    server = await start_server(handler)
    async with _client(server.host) as client:
        head = await client.session().head_manifest(server.host, "library/nginx", "latest")
    assert head.meta.rate_limit is not None
    assert head.meta.rate_limit.remaining == 76
    assert head.meta.date is not None


async def test_blob_redirect_to_another_host_drops_authorization(start_server: StartServer) -> None:
    config_blob = json.dumps({"os": "linux", "architecture": "arm64", "variant": "v8"}).encode()
    storage = await start_server(_serving(config_blob))

    async def registry(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != "Basic dTpw":
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        raise web.HTTPTemporaryRedirect(f"http://localhost:{storage.port}/blob?X-Amz-Signature=s3cr3t")

    server = await start_server(registry)
    endpoints = {server.host: RegistryEndpoint(server.host, insecure=True, username="u", password="p"),
                 f"localhost:{storage.port}": RegistryEndpoint(f"localhost:{storage.port}", insecure=True)}
    async with RegistryClient(RegistryClientConfig(endpoints=endpoints, use_docker_config=False)) as client:
        session = client.session()
        config = await session.get_image_config(server.host, "team/app", digest(config_blob))
    assert (config.os, config.architecture, config.variant) == ("linux", "arm64", "v8")
    assert "Authorization" not in storage.seen[0].headers
    assert config.meta is not None
    assert config.meta.url == f"http://localhost:{storage.port}/blob"  # no signature in evidence
    assert session.request_count == 3  # 401, retry (redirected), storage


async def test_signed_redirect_urls_never_reach_the_log(start_server: StartServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    config_blob = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    storage = await start_server(_serving(config_blob))

    async def registry(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"http://{storage.host}/blob?X-Amz-Signature=s3cr3t-sig")

    server = await start_server(registry)
    caplog.set_level(logging.INFO)  # httpcore DEBUG traces print raw headers: see the report
    async with _client(server.host, storage.host) as client:
        await client.session().get_image_config(server.host, "team/app", digest(config_blob))
    assert f"http://{storage.host}/blob" in caplog.text  # httpx did log the request...
    assert "s3cr3t-sig" not in caplog.text  # ...without its signature


async def test_image_config_with_a_long_history(start_server: StartServer) -> None:
    history = [{"created_by": f"RUN step {i} " + "x" * 200} for i in range(500)]
    blob = json.dumps({"os": "linux", "architecture": "amd64", "history": history}).encode()
    assert len(blob) > 64 * 1024
    server = await start_server(_serving(blob))
    async with _client(server.host) as client:
        config = await client.session().get_image_config(server.host, "team/app", digest(blob))
    assert config.architecture == "amd64"


async def test_https_to_http_redirect_is_refused(start_server: StartServer, tmp_path) -> None:
    certs = make_certs(tmp_path / "tls")
    plain = await start_server(_serving(b"{}"))

    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"http://{plain.host}/elsewhere")

    server = await start_server(handler, ssl_context=certs.server_context())
    endpoints = {server.host: RegistryEndpoint(server.host, ca_file=certs.ca_file),
                 plain.host: RegistryEndpoint(plain.host, insecure=True)}
    async with RegistryClient(RegistryClientConfig(endpoints=endpoints, use_docker_config=False)) as client:
        with pytest.raises(EgressDenied):
            await client.session().get_manifest(server.host, "team/app", "1.0")
    assert plain.seen == []


async def test_redirect_loop_stops_at_max_redirects(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(f"/v2/team/app/manifests/{len(request.path)}")

    server = await start_server(handler)
    async with _client(server.host, max_redirects=3) as client:
        session = client.session()
        with pytest.raises(RegistryServerError):
            await session.get_manifest(server.host, "team/app", "1.0")
    assert session.request_count == 4  # the request and three hops


def _serving(body: bytes):
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Type": "application/json"})

    return handler


def _tag_pages(tags: list[str], *, link_for: dict[str, str] | None = None):
    """A tags/list that honours ``n``/``last`` and sends RFC 5988 Links (distribution 3 does this)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        n = int(request.query.get("n", "100"))
        last = request.query.get("last")
        start = tags.index(last) + 1 if last else 0
        page = tags[start:start + n]
        headers = {}
        if start + n < len(tags):
            target = (link_for or {}).get(page[-1], f"/v2/team/app/tags/list?n={n}&last={page[-1]}")
            headers["Link"] = f'<{target}>; rel="next"'
        return web.json_response({"name": "team/app", "tags": page}, headers=headers)

    return handler


async def test_tag_pagination_follows_links(start_server: StartServer) -> None:
    tags = [f"1.{i}" for i in range(7)]
    server = await start_server(_tag_pages(tags))
    async with _client(server.host) as client:
        session = client.session()
        listed = await session.list_tags(server.host, "team/app", page_size=3)
    assert listed.tags == tags
    assert listed.pages == 3
    assert not listed.truncated
    assert session.request_count == 3


async def test_tag_pagination_stops_at_page_and_tag_caps(start_server: StartServer) -> None:
    tags = [f"t{i:02d}" for i in range(20)]
    server = await start_server(_tag_pages(tags))
    async with _client(server.host) as client:
        by_pages = await client.session().list_tags(server.host, "team/app", page_size=2, max_pages=3)
        by_tags = await client.session().list_tags(server.host, "team/app", page_size=4, max_tags=6)
    assert (by_pages.tags, by_pages.pages, by_pages.truncated) == (tags[:6], 3, True)
    assert (by_tags.tags, by_tags.truncated) == (tags[:6], True)


async def test_tag_pagination_refuses_cross_host_link_and_repeated_link(start_server: StartServer) -> None:
    other = await start_server(_tag_pages(["x"]))
    tags = ["a", "b", "c", "d"]
    cross = await start_server(_tag_pages(tags, link_for={"b": f"http://{other.host}/v2/team/app/tags/list"}))
    loop = await start_server(_tag_pages(tags, link_for={"b": "/v2/team/app/tags/list?n=2"}))
    async with _client(cross.host, loop.host, other.host) as client:
        crossed = await client.session().list_tags(cross.host, "team/app", page_size=2)
        looped = await client.session().list_tags(loop.host, "team/app", page_size=2)
    assert (crossed.tags, crossed.truncated) == (["a", "b"], True)
    assert other.seen == []  # never contacted
    assert looped.truncated
    assert looped.pages <= 2


async def test_missing_repository_on_tags_list(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return oci_error(404, "NAME_UNKNOWN", "repository name not known to registry")

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(NameUnknown) as info:
            await client.session().list_tags(server.host, "team/nope")
    assert info.value.code == "NAME_UNKNOWN"


class _InFlight:
    """A slow manifest handler that records the most requests it ever had in flight at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.05)
        self.now -= 1
        return manifest_response(request, manifest_body())


async def test_per_registry_concurrency_cap(start_server: StartServer) -> None:
    counter = _InFlight()
    server = await start_server(counter.handler)
    async with _client(server.host, per_registry_concurrency=2) as client:
        session = client.session()
        await asyncio.gather(*(session.head_manifest(server.host, "team/app", f"t{i}") for i in range(8)))
    assert session.request_count == 8
    assert 1 <= counter.peak <= 2


async def test_global_concurrency_cap_holds_across_registries(start_server: StartServer) -> None:
    counter = _InFlight()  # one counter behind both servers: it sees the total in flight
    first, second = await start_server(counter.handler), await start_server(counter.handler)
    async with _client(first.host, second.host, max_connections=3, per_registry_concurrency=8) as client:
        session = client.session()
        await asyncio.gather(*(session.head_manifest(host, "team/app", f"t{i}")
                               for i in range(6) for host in (first.host, second.host)))
    assert session.request_count == 12
    assert 2 <= counter.peak <= 3  # both registries were busy at once, never more than the global cap


async def test_requests_are_counted_in_metrics(start_server: StartServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return oci_error(404, "MANIFEST_UNKNOWN")

    server: ScriptedServer = await start_server(handler)
    labels = {"registry": server.host, "status": "404"}
    before = metrics.REGISTRY.get_sample_value("imagecheck_registry_requests_total", labels) or 0.0
    async with _client(server.host) as client:
        for _ in range(2):
            with pytest.raises(Exception, match="manifest unknown"):
                await client.session().head_manifest(server.host, "team/app", "gone")
    after = metrics.REGISTRY.get_sample_value("imagecheck_registry_requests_total", labels)
    assert after == before + 2


async def test_cookies_a_registry_sets_are_never_sent_back(start_server: StartServer) -> None:
    # A session cookie set after a credentialed request would otherwise ride along on anonymous probes
    # and on other users' checks through the one shared client.
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Cookie"))
        response = manifest_response(request, manifest_body())
        response.headers["Set-Cookie"] = "NXSESSIONID=session-of-ci-user; Path=/"
        return response

    server = await start_server(handler)
    async with _client(server.host) as client:
        session = client.session()
        await session.head_manifest(server.host, "team/app", "1.0")
        await session.head_manifest(server.host, "team/app", "1.0", anonymous=True)
        await client.session().head_manifest(server.host, "team/app", "2.0")
    assert len(seen) == 3
    assert seen == [None, None, None]


async def test_registry_error_text_is_kept_without_the_secrets_it_quotes(start_server: StartServer) -> None:
    # Proxy registries quote upstream URLs in their errors; that text reaches Slack, Redis and incidents.
    message = ("upstream said 403 for https://uploader:hunter2pw@blobs.example.com/x?X-Amz-Signature="
               "deadbeefcafe&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE password=Sup3rSecret! (ask ops)")

    async def handler(request: web.Request) -> web.StreamResponse:
        return oci_error(403, "DENIED", message)

    server = await start_server(handler)
    async with _client(server.host) as client:
        with pytest.raises(RegistryDenied) as info:
            await client.session().get_manifest(server.host, "team/app", "1.0")
    kept = info.value.evidence.message or ""
    assert "DENIED" in kept
    assert "(ask ops)" in kept  # the useful words stay
    for secret in ("hunter2pw", "deadbeefcafe", "AKIAIOSFODNN7EXAMPLE", "Sup3rSecret!"):
        assert secret not in kept
