"""Hostile registries from B1's fault servers: realms that point at metadata services, other hosts or
another name for the same socket; lying digests; gzip bombs; tag Links that leave the registry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.domain.errors import DigestMismatch, EgressDenied, RegistryAuthError, ResponseTooLarge
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.support.fault_servers import (
    REALM_LOOPBACK_OTHER_NAME,
    REALM_METADATA,
    REALM_OTHER_HOST,
    DigestLyingServer,
    GzipBombServer,
    HostileRealmServer,
    PaginatedTagsServer,
)


class _EverythingIsLoopback:
    """No real DNS in tests: every name 'resolves' to loopback, which the egress policy must refuse
    for hosts the settings don't name."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return ["127.0.0.1"]


def _client(host: str, *, others: tuple[str, ...] = (), resolver: _EverythingIsLoopback | None = None,
            ) -> RegistryClient:
    endpoints = {host: RegistryEndpoint(host, insecure=True, username="ci", password="ci-secret-pw")}
    endpoints.update({o: RegistryEndpoint(o, insecure=True) for o in others})
    return RegistryClient(RegistryClientConfig(endpoints=endpoints, use_docker_config=False),
                          resolver=resolver)


async def test_metadata_realm_is_never_contacted(
        hostile_realm_server: Callable[..., HostileRealmServer]) -> None:
    server = hostile_realm_server(REALM_METADATA)
    async with _client(server.host) as client:
        session = client.session()
        with pytest.raises(EgressDenied) as info:
            await session.head_manifest(server.host, "team/app", "1.0")
    assert "ci-secret-pw" not in str(info.value) + info.value.evidence.model_dump_json()
    assert session.request_count == 1  # the 401; the realm request was refused before connecting
    assert server.token_requests == []


async def test_realm_on_another_host_is_refused_by_policy(
        hostile_realm_server: Callable[..., HostileRealmServer]) -> None:
    server = hostile_realm_server(REALM_OTHER_HOST)
    resolver = _EverythingIsLoopback()
    async with _client(server.host, resolver=resolver) as client:
        with pytest.raises(EgressDenied):
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert server.token_requests == []


async def test_realm_under_another_name_gets_no_credentials(
        hostile_realm_server: Callable[..., HostileRealmServer]) -> None:
    server = hostile_realm_server(REALM_LOOPBACK_OTHER_NAME)
    other_name = f"localhost:{server.port}"
    async with _client(server.host, others=(other_name,)) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert server.token_requests == [None]  # asked anonymously, never with ci's password
    assert not info.value.credentials_used
    assert "ci-secret-pw" not in str(info.value) + info.value.evidence.model_dump_json()


async def test_realm_under_another_name_not_in_settings_is_refused(
        hostile_realm_server: Callable[..., HostileRealmServer]) -> None:
    server = hostile_realm_server(REALM_LOOPBACK_OTHER_NAME)
    async with _client(server.host) as client:
        with pytest.raises(EgressDenied):
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert server.token_requests == []


async def test_lying_digest_server(digest_lying_server: DigestLyingServer) -> None:
    server = digest_lying_server
    async with _client(server.host) as client:
        session = client.session()
        with pytest.raises(DigestMismatch):
            await session.get_manifest(server.host, "team/app", "1.0")
        with pytest.raises(DigestMismatch):
            await session.get_manifest(server.host, "team/app", server.claimed_digest)
        with pytest.raises(DigestMismatch):  # right body, but the header contradicts it
            await session.get_manifest(server.host, "team/app", server.true_digest)


async def test_gzip_bomb_server(gzip_bomb_server: GzipBombServer) -> None:
    async with _client(gzip_bomb_server.host) as client:
        with pytest.raises(ResponseTooLarge):
            await client.session().get_manifest(gzip_bomb_server.host, "team/app", "1.0")


async def test_off_host_tag_link_is_not_followed(
        paginated_tags_server: Callable[..., PaginatedTagsServer]) -> None:
    elsewhere = paginated_tags_server("team/app", ["zzz"])
    server = paginated_tags_server("team/app", [f"v{i}" for i in range(10)], page_size=3,
                                   link_base=elsewhere.base_url)
    async with _client(server.host, others=(elsewhere.host,)) as client:
        listed = await client.session().list_tags(server.host, "team/app", page_size=3)
    assert listed.tags == ["v0", "v1", "v2"]
    assert listed.truncated
    assert elsewhere.log.requests == []


async def test_looping_tag_links_stop(paginated_tags_server: Callable[..., PaginatedTagsServer]) -> None:
    server = paginated_tags_server("team/app", [f"v{i}" for i in range(10)], page_size=3, repeat_link=True)
    async with _client(server.host) as client:
        session = client.session()
        listed = await session.list_tags(server.host, "team/app", page_size=3, max_pages=10)
    assert listed.truncated
    assert session.request_count <= 3
