"""Failures to get any answer: TLS trust, plain HTTP where HTTPS was expected, refused connections,
DNS. Local TLS servers with throwaway certificates; a fake resolver instead of real DNS."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp import web

from bot.domain.errors import ConnectionRefused, DNSFailure, EgressDenied, InsecureHTTP, TLSFailure
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.registry.conftest import StartServer
from tests.registry.fakes import manifest_body, manifest_response
from tests.registry.scripted import make_certs


async def _registry(request: web.Request) -> web.StreamResponse:
    return manifest_response(request, manifest_body())


def _client(host: str, **endpoint: object) -> RegistryClient:
    ep = RegistryEndpoint(host, **endpoint)  # type: ignore[arg-type]
    return RegistryClient(RegistryClientConfig(endpoints={host: ep}, use_docker_config=False))


async def test_tls_with_the_registry_ca_configured_works(start_server: StartServer, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls")
    server = await start_server(_registry, ssl_context=certs.server_context())
    async with _client(server.host, ca_file=certs.ca_file) as client:
        head = await client.session().head_manifest(server.host, "team/app", "1.0")
    assert head.meta.url == f"https://{server.host}/v2/team/app/manifests/1.0"


async def test_tls_unknown_authority(start_server: StartServer, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls")
    server = await start_server(_registry, ssl_context=certs.server_context())
    async with _client(server.host) as client:
        with pytest.raises(TLSFailure) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert info.value.reason == "unknown_authority"
    assert "certificate verify failed" in (info.value.evidence.exception or "")


async def test_tls_expired(start_server: StartServer, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls", expired=True)
    server = await start_server(_registry, ssl_context=certs.server_context())
    async with _client(server.host, ca_file=certs.ca_file) as client:
        with pytest.raises(TLSFailure) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert info.value.reason == "expired"


async def test_tls_hostname_mismatch(start_server: StartServer, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls", names=("registry.other.example",))
    server = await start_server(_registry, ssl_context=certs.server_context())
    async with _client(server.host, ca_file=certs.ca_file) as client:
        with pytest.raises(TLSFailure) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert info.value.reason == "hostname_mismatch"


async def test_https_request_to_a_plain_http_registry(start_server: StartServer) -> None:
    server = await start_server(_registry)  # plain HTTP
    async with _client(server.host) as client:  # not marked insecure: https is used
        with pytest.raises(InsecureHTTP) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert info.value.evidence.url == f"https://{server.host}/v2/team/app/manifests/1.0"


async def test_http_request_to_a_tls_registry(start_server: StartServer, tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls")
    server = await start_server(_registry, ssl_context=certs.server_context())
    async with _client(server.host, insecure=True) as client:
        with pytest.raises(InsecureHTTP) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    # aiohttp hangs up on a request it cannot read as TLS; Go's net/http answers 400 "Client sent an
    # HTTP request to an HTTPS server" instead, which maps the same way (see test_errors_map)
    assert "HTTPS" in str(info.value)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"127.0.0.1:{port}"  # nothing listens there any more
    async with _client(host, insecure=True) as client:
        with pytest.raises(ConnectionRefused) as info:
            await client.session().head_manifest(host, "team/app", "1.0")
    assert info.value.evidence.exception


class _NoSuchName:
    async def resolve(self, host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class _Rebinding:
    async def resolve(self, host: str, port: int) -> list[str]:
        return ["169.254.169.254"]


async def test_dns_failure_with_a_fake_resolver() -> None:
    config = RegistryClientConfig(use_docker_config=False)
    async with RegistryClient(config, resolver=_NoSuchName()) as client:
        session = client.session()
        with pytest.raises(DNSFailure) as info:
            await session.head_manifest("registry.invalid", "team/app", "1.0")
    assert session.request_count == 1
    assert info.value.evidence.url == "https://registry.invalid/v2/team/app/manifests/1.0"


async def test_public_name_resolving_to_metadata_address_is_blocked() -> None:
    config = RegistryClientConfig(use_docker_config=False)
    async with RegistryClient(config, resolver=_Rebinding()) as client:
        with pytest.raises(EgressDenied) as info:
            await client.session().head_manifest("registry.example.com", "team/app", "1.0")
    assert "169.254" not in str(info.value)


async def test_unnamed_private_host_is_blocked_without_connecting() -> None:
    async with RegistryClient(RegistryClientConfig(use_docker_config=False)) as client:
        with pytest.raises(EgressDenied):
            await client.session().head_manifest("127.0.0.1:5000", "team/app", "1.0")
