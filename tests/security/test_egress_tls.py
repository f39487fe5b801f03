"""TLS through the pinned transport: we dial an address, yet SNI and certificate checks use the name.

A local TLS server with a certificate from a throwaway CA; the scripted resolver maps the name to
127.0.0.1 (no DNS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.registry.egress import EgressPolicy, EgressTransport, ssl_contexts_from_settings
from bot.settings import RegistrySettings, Settings
from tests.security.egress_support import RecordingServer, ScriptedResolver, ThrowawayCA


@pytest.fixture(scope="module")
def ca() -> ThrowawayCA:
    return ThrowawayCA.create()


async def tls_server(ca: ThrowawayCA, tmp_path: Path, names: list[str]) -> RecordingServer:
    return await RecordingServer(ssl_context=ca.server_context(tmp_path, names)).start()


@pytest.fixture
async def registry_test(ca: ThrowawayCA, tmp_path: Path) -> AsyncIterator[RecordingServer]:
    server = await tls_server(ca, tmp_path, ["registry.test"])
    yield server
    await server.stop()


def resolver() -> ScriptedResolver:
    return ScriptedResolver({"registry.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})


async def get(transport: EgressTransport, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=5.0) as http:
        return await http.get(url)


async def test_sni_and_host_are_the_name_and_the_registry_ca_verifies(
        registry_test: RecordingServer, ca: ThrowawayCA, tmp_path: Path) -> None:
    authority = f"registry.test:{registry_test.port}"
    transport = EgressTransport(EgressPolicy(allowed=frozenset({authority})), resolver(),
                                ssl_contexts={authority: ca.client_context(tmp_path)})
    response = await get(transport, f"https://{authority}/v2/")
    assert response.status_code == 200
    seen = registry_test.requests[0]
    assert seen.sni == "registry.test"
    assert seen.headers["host"] == authority
    assert seen.local_address == "127.0.0.1"


async def test_certificate_for_another_name_is_refused_although_the_address_matches(
        ca: ThrowawayCA, tmp_path: Path) -> None:
    # The server's certificate names other.test and 127.0.0.1 (the very address we dial): only
    # checking against the name we asked for catches it.
    server = await tls_server(ca, tmp_path, ["other.test", "127.0.0.1"])
    try:
        authority = f"registry.test:{server.port}"
        transport = EgressTransport(EgressPolicy(allowed=frozenset({authority})), resolver(),
                                    ssl_contexts={authority: ca.client_context(tmp_path)})
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await get(transport, f"https://{authority}/v2/")
        assert server.requests == []
    finally:
        await server.stop()


async def test_default_trust_store_refuses_an_unknown_ca(registry_test: RecordingServer) -> None:
    authority = f"registry.test:{registry_test.port}"
    transport = EgressTransport(EgressPolicy(allowed=frozenset({authority})), resolver())
    with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        await get(transport, f"https://{authority}/v2/")
    assert registry_test.requests == []


async def test_a_registry_ca_is_not_used_for_other_hosts(
        registry_test: RecordingServer, ca: ThrowawayCA, tmp_path: Path) -> None:
    # other.test is allowed too, but only registry.test was given the test CA.
    port = registry_test.port
    policy = EgressPolicy(allowed=frozenset({f"registry.test:{port}", f"other.test:{port}"}))
    transport = EgressTransport(policy, resolver(),
                                ssl_contexts={f"registry.test:{port}": ca.client_context(tmp_path)})
    assert (await get(transport, f"https://registry.test:{port}/v2/")).status_code == 200
    with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
        await get(transport, f"https://other.test:{port}/v2/")


async def test_ca_file_from_settings_end_to_end(
        registry_test: RecordingServer, ca: ThrowawayCA, tmp_path: Path) -> None:
    authority = f"registry.test:{registry_test.port}"
    settings = Settings(registries={authority: RegistrySettings(ca_file=ca.write_ca(tmp_path))})
    transport = EgressTransport(EgressPolicy.from_settings(settings), resolver(),
                                ssl_contexts=ssl_contexts_from_settings(settings))
    assert (await get(transport, f"https://{authority}/v2/")).status_code == 200


async def test_literal_address_is_verified_against_the_address(ca: ThrowawayCA, tmp_path: Path) -> None:
    server = await tls_server(ca, tmp_path, ["127.0.0.1"])
    try:
        authority = f"127.0.0.1:{server.port}"
        transport = EgressTransport(EgressPolicy(allowed=frozenset({authority})), ScriptedResolver({}),
                                    ssl_contexts={authority: ca.client_context(tmp_path)})
        assert (await get(transport, f"https://{authority}/v2/")).status_code == 200
        assert server.requests[0].sni is None  # no SNI for an address, as RFC 6066 says
    finally:
        await server.stop()


async def test_ipv4_mapped_spelling_is_verified_as_the_ipv4_address(ca: ThrowawayCA, tmp_path: Path) -> None:
    server = await tls_server(ca, tmp_path, ["127.0.0.1"])
    try:
        authority = f"127.0.0.1:{server.port}"
        transport = EgressTransport(EgressPolicy(allowed=frozenset({authority})), ScriptedResolver({}),
                                    ssl_contexts={authority: ca.client_context(tmp_path)})
        response = await get(transport, f"https://[::ffff:127.0.0.1]:{server.port}/v2/")
        assert response.status_code == 200
        assert server.requests[0].local_address == "127.0.0.1"
    finally:
        await server.stop()
