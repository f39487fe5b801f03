"""Auth flows of the registry client against scripted token and basic-auth registries.

Scripted servers stand in where request counts and realm behaviour must be exact; the same flows
against the real distribution registry are in test_client_real.py.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.clock import SystemClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import EgressDenied, RegistryAuthError
from bot.domain.models import Verdict
from bot.domain.reference import parse_reference
from bot.domain.remedy import FindingKind
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from bot.registry.auth import TokenCache
from tests.registry.conftest import StartServer
from tests.registry.fakes import BasicRegistry, TokenRegistry
from tests.registry.scripted import ScriptedServer


def _client(host: str, *, username: str | None = None, password: str | None = None,
            other_registry: str | None = None, token_realms: tuple[str, ...] = (),
            insecure: bool = True) -> RegistryClient:
    endpoints = {host: RegistryEndpoint(host, insecure=insecure, username=username, password=password,
                                        token_realms=token_realms)}
    if other_registry:  # named in settings (so reachable), but a party of its own
        endpoints[other_registry] = RegistryEndpoint(other_registry, insecure=True)
    return RegistryClient(RegistryClientConfig(endpoints=endpoints, use_docker_config=False))

async def _registry_with_realm_on(start_server: StartServer,
                                  realm_host: str) -> tuple[TokenRegistry, ScriptedServer, ScriptedServer]:
    """A token registry whose realm is a second server on ``realm_host`` (sharing its tokens): the
    realm fake, the realm's server and the registry's server."""
    realm_fake = TokenRegistry()
    realm_server = await start_server(realm_fake)
    fake = TokenRegistry(realm=f"http://{realm_host}:{realm_server.port}/token")
    fake.tokens = realm_fake.tokens
    return realm_fake, realm_server, await start_server(fake)



async def test_first_request_gets_challenge_from_401_then_token_is_reused(start_server: StartServer) -> None:
    fake = TokenRegistry()
    server = await start_server(fake)
    async with _client(server.host) as client:
        first = client.session()
        head = await first.head_manifest(server.host, "public/app", "1.0")
        assert head.digest is not None
        assert head.meta.auth_scheme == "bearer"
        assert not head.meta.authenticated
        # 401 (challenge) + token + retry: no separate /v2/ ping
        assert first.request_count == 3
        assert server.paths() == ["HEAD /v2/public/app/manifests/1.0",
                                  "GET /token?service=test-registry&scope=repository%3Apublic%2Fapp%3Apull",
                                  "HEAD /v2/public/app/manifests/1.0"]
        second = client.session()
        await second.head_manifest(server.host, "public/app", "1.0")
        await second.get_manifest(server.host, "public/app", "1.0")
        assert second.request_count == 2  # cached challenge and token: no token request
        assert len(fake.token_requests) == 1
        # a new repository needs a new scope, but the cached challenge saves the 401
        third = client.session()
        await third.head_manifest(server.host, "public/other", "1.0")
        assert third.request_count == 2


async def test_concurrent_first_requests_share_one_challenge_and_tokens(start_server: StartServer) -> None:
    fake = TokenRegistry()
    server = await start_server(fake)
    repos = [f"public/app{i}" for i in range(6)]
    async with _client(server.host) as client:
        session = client.session()
        await asyncio.gather(*(session.head_manifest(server.host, r, "1.0") for r in repos),
                             *(session.get_manifest(server.host, "public/app0", "1.0") for _ in range(3)))
    unauthorized = [s for s in server.seen if s.path_qs.startswith("/v2/") and "Authorization" not in s.headers]
    assert len(unauthorized) == 1  # one 401 discovered the challenge for everyone
    assert len(fake.token_requests) == len(repos)  # one token per repository, shared within it
    assert session.request_count == 1 + len(repos) + len(repos) + 3


def test_token_cache_forgets_expired_entries() -> None:
    now = [0.0]
    cache = TokenCache(monotonic=lambda: now[0])
    for i in range(600):
        cache.put(("r", f"repository:a{i}:pull", "anonymous"), "t", 60.0)
        now[0] += 1.0
    assert len(cache) < 600  # entries that expired were swept out on the way


async def test_private_repo_anonymous_is_insufficient_scope(start_server: StartServer) -> None:
    fake = TokenRegistry()
    server = await start_server(fake)
    async with _client(server.host) as client:
        session = client.session()
        with pytest.raises(RegistryAuthError) as info:
            await session.head_manifest(server.host, "private/app", "1.0")
        assert info.value.insufficient_scope
        assert not info.value.credentials_used
        assert info.value.evidence.status == 401
        assert "insufficient_scope" in info.value.evidence.headers["www-authenticate"]
        # asking again reuses the (scope-less) token: one request, no token request
        again = client.session()
        with pytest.raises(RegistryAuthError):
            await again.head_manifest(server.host, "private/app", "1.0")
        assert again.request_count == 1


async def test_credentials_vs_anonymous_use_separate_tokens(start_server: StartServer) -> None:
    fake = TokenRegistry()
    server = await start_server(fake)
    async with _client(server.host, username="alice", password="wonderland-pw") as client:
        session = client.session()
        assert session.has_credentials(server.host)
        head = await session.head_manifest(server.host, "private/app", "1.0")
        assert head.meta.authenticated
        assert fake.token_requests[-1]["authorization"].startswith("Basic ")
        with pytest.raises(RegistryAuthError) as info:
            await session.head_manifest(server.host, "private/app", "1.0", anonymous=True)
        assert info.value.insufficient_scope
        assert not info.value.credentials_used
        assert fake.token_requests[-1]["authorization"] == ""  # anonymous never sends credentials
        assert len(fake.token_requests) == 2
        # both tokens are cached under their own identity
        repeat = client.session()
        await repeat.head_manifest(server.host, "private/app", "1.0")
        with pytest.raises(RegistryAuthError):
            await repeat.head_manifest(server.host, "private/app", "1.0", anonymous=True)
        assert repeat.request_count == 2
        assert len(fake.token_requests) == 2


async def test_wrong_password_is_reported_without_the_password(start_server: StartServer) -> None:
    server = await start_server(TokenRegistry())
    async with _client(server.host, username="alice", password="not-the-pw-xyzzy") as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "private/app", "1.0")
    err = info.value
    assert err.credentials_used
    text = str(err) + err.evidence.model_dump_json() + repr(err.__dict__)
    assert "not-the-pw-xyzzy" not in text
    assert "alice:" not in text


async def test_credentials_are_not_sent_to_a_foreign_realm(start_server: StartServer) -> None:
    realm_fake = TokenRegistry()
    realm_server = await start_server(realm_fake)
    # same machine, but "localhost" is not the registry's host name: a different party as far as
    # credential scoping is concerned
    fake = TokenRegistry(realm=f"http://localhost:{realm_server.port}/token")
    fake.tokens = realm_fake.tokens  # the registry trusts that token server
    server = await start_server(fake)
    async with _client(server.host, username="alice", password="wonderland-pw",
                       other_registry=f"localhost:{realm_server.port}") as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "private/app", "1.0")
    assert realm_fake.token_requests[0]["authorization"] == ""
    # the refusal says the credentials were withheld, and from which realm, not that they failed
    assert not info.value.credentials_used
    assert info.value.credentials_withheld_for_realm == f"localhost:{realm_server.port}"


async def test_diagnosis_says_credentials_were_withheld_from_a_foreign_realm(start_server: StartServer) -> None:
    """The GitLab shape (registry on one host, its realm on another, not listed): the diagnosis must
    not blame credentials it never sent, and must name the setting that would send them."""
    realm_fake, realm_server, server = await _registry_with_realm_on(start_server, "localhost")
    realm = f"localhost:{realm_server.port}"
    async with _client(server.host, username="alice", password="wonderland-pw", other_registry=realm) as client:
        d = await diagnose(parse_reference(f"{server.host}/private/app:1.0"), client.session(),
                           clock=SystemClock())
    assert realm_fake.token_requests[0]["authorization"] == ""
    assert d.verdict is Verdict.repo_not_found_or_denied
    kinds = [f.kind for f in d.findings]
    assert FindingKind.credentials_withheld in kinds
    assert FindingKind.credentials_rejected not in kinds
    withheld = next(f for f in d.findings if f.kind == FindingKind.credentials_withheld)
    assert f"Credentials for {server.host} exist but were not sent to its token realm {realm}" in withheld.summary
    everything = d.summary + " ".join(f.summary for f in d.findings)
    assert "with the configured credentials" not in everything
    assert "rejected the configured credentials" not in everything
    assert "not sent" in d.summary
    first = d.remediation[0]
    assert first.command == f'token_realms: ["{realm}"]'
    assert "wonderland-pw" not in d.model_dump_json()


async def test_diagnosis_with_the_realm_listed_uses_the_credentials(start_server: StartServer) -> None:
    _realm_fake, realm_server, server = await _registry_with_realm_on(start_server, "localhost")
    async with _client(server.host, username="alice", password="wonderland-pw",
                       token_realms=(f"localhost:{realm_server.port}",)) as client:
        d = await diagnose(parse_reference(f"{server.host}/private/app:1.0"), client.session(),
                           clock=SystemClock())
    assert d.verdict is Verdict.ok
    assert all(f.kind != FindingKind.credentials_withheld for f in d.findings)
    assert all(s.command is None or "token_realms" not in s.command for s in d.remediation)


async def test_realm_on_another_port_of_the_registry_host_receives_credentials(
        start_server: StartServer) -> None:
    """Intended (issue 6, docs/security.md): the registry's own host name on any port is its realm."""
    realm_fake, realm_server, server = await _registry_with_realm_on(start_server, "127.0.0.1")
    assert server.host.startswith("127.0.0.1:")
    assert server.port != realm_server.port
    # the realm's port is named in settings (egress policy), with no credentials of its own
    async with _client(server.host, username="alice", password="wonderland-pw",
                       other_registry=f"127.0.0.1:{realm_server.port}") as client:
        head = await client.session().head_manifest(server.host, "private/app", "1.0")
    assert head.meta.authenticated
    assert realm_fake.token_requests[0]["authorization"].startswith("Basic ")


async def test_realm_listed_in_settings_receives_credentials(start_server: StartServer) -> None:
    realm_fake, realm_server, server = await _registry_with_realm_on(start_server, "localhost")
    async with _client(server.host, username="alice", password="wonderland-pw",
                       token_realms=(f"localhost:{realm_server.port}",)) as client:
        head = await client.session().head_manifest(server.host, "private/app", "1.0")
    assert head.meta.authenticated
    assert realm_fake.token_requests[0]["authorization"].startswith("Basic ")


async def test_token_ttl_is_clamped_and_refetched_after_expiry(start_server: StartServer) -> None:
    fake = TokenRegistry(expires_in=1)  # clamped up to 60 s
    server = await start_server(fake)
    now = [0.0]
    endpoint = RegistryEndpoint(server.host, insecure=True)
    config = RegistryClientConfig(endpoints={server.host: endpoint}, use_docker_config=False)
    async with RegistryClient(config, monotonic=lambda: now[0]) as client:
        await client.session().head_manifest(server.host, "public/app", "1.0")
        now[0] = 45.0
        await client.session().head_manifest(server.host, "public/app", "1.0")
        assert len(fake.token_requests) == 1  # a 1 s token is still used 45 s later
        now[0] = 61.0
        session = client.session()
        await session.head_manifest(server.host, "public/app", "1.0")
        assert len(fake.token_requests) == 2
        assert session.request_count == 2  # the challenge is still cached: token + request


async def test_token_revoked_by_registry_is_refetched_once(start_server: StartServer) -> None:
    fake = TokenRegistry()
    server = await start_server(fake)
    async with _client(server.host) as client:
        await client.session().head_manifest(server.host, "public/app", "1.0")
        fake.tokens.clear()  # the registry forgot every token (restart, key rotation)
        session = client.session()
        await session.head_manifest(server.host, "public/app", "1.0")
        assert session.request_count == 3  # refused cached token, new token, retry


async def test_plain_http_realm_refused_for_https_registry(start_server: StartServer, tmp_path) -> None:
    from tests.registry.scripted import make_certs

    certs = make_certs(tmp_path / "tls")
    fake = TokenRegistry(realm="http://127.0.0.1:9/token")
    server = await start_server(fake, ssl_context=certs.server_context())
    endpoint = RegistryEndpoint(server.host, ca_file=certs.ca_file, username="alice",
                                password="wonderland-pw")
    config = RegistryClientConfig(endpoints={server.host: endpoint}, use_docker_config=False)
    async with RegistryClient(config) as client:
        with pytest.raises(EgressDenied):
            await client.session().head_manifest(server.host, "public/app", "1.0")
    assert fake.token_requests == []


async def test_basic_auth_challenge_then_preemptive(start_server: StartServer) -> None:
    server = await start_server(BasicRegistry())
    async with _client(server.host, username="bob", password="builder-pw") as client:
        first = client.session()
        head = await first.head_manifest(server.host, "app", "1.0")
        assert head.meta.auth_scheme == "basic"
        assert head.meta.authenticated
        assert first.request_count == 2
        second = client.session()
        await second.head_manifest(server.host, "app", "1.0")
        assert second.request_count == 1
        with pytest.raises(RegistryAuthError) as info:
            await second.head_manifest(server.host, "app", "1.0", anonymous=True)
        assert not info.value.credentials_used


async def test_basic_auth_without_credentials_is_auth_required(start_server: StartServer) -> None:
    server = await start_server(BasicRegistry())
    async with _client(server.host) as client:
        session = client.session()
        assert not session.has_credentials(server.host)
        with pytest.raises(RegistryAuthError) as info:
            await session.head_manifest(server.host, "app", "1.0")
        assert not info.value.credentials_used
        assert not info.value.insufficient_scope
        assert session.request_count == 1
