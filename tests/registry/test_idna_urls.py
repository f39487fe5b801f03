"""Hosts that are not valid IDNA (``xn--registry.example``, ``xn--ls8h.la``) in a token realm, a redirect
or the registry name itself: a diagnosis, never a bare ``idna.IDNAError`` / ``UnicodeError``.

Found in review: httpx decodes a URL's punycode host only when the host is read, which first
happened while building the request, outside every ``except`` that turns failures into domain
errors, so ``head_manifest`` and ``diagnose()`` ended in an unexpected failure. The registries here
are scripted loopback servers (a real registry's challenge and redirects are not scriptable).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import DNSFailure, EgressDenied, RegistryServerError
from bot.domain.models import Verdict
from bot.domain.reference import parse_reference
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.security.egress_support import ScriptedResolver
from tests.support.fault_servers import Reply, ScriptedServer, oci_error

pytestmark = pytest.mark.timeout(60)

MANIFEST = "/v2/team/app/manifests/1.0"
BAD_HOSTS = ["xn--registry.example", "xn--ls8h.la", "xn--a.example"]


def _client(host: str, tmp_path: Path | None = None) -> RegistryClient:
    endpoint = RegistryEndpoint(host, insecure=True)
    if tmp_path is None:
        return RegistryClient(RegistryClientConfig(endpoints={host: endpoint}))
    # with a stored password, so the credentialed path is taken too
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    entry = {"auth": base64.b64encode(b"ci-bot:not-a-real-password").decode()}
    (docker_dir / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    return RegistryClient(RegistryClientConfig(endpoints={host: endpoint}, docker_config_dir=docker_dir,
                                               use_docker_config=True))


@pytest.mark.parametrize("realm", [f"https://{BAD_HOSTS[0]}/token", f"http://{BAD_HOSTS[1]}:5000/token",
                                   f"https://{BAD_HOSTS[2]}/token"])
@pytest.mark.parametrize("with_login", [False, True], ids=["anonymous", "with-login"])
async def test_a_token_realm_with_a_bad_idna_host_is_the_registrys_failure(
        tmp_path: Path, scripted_server: Callable[..., ScriptedServer], realm: str, with_login: bool) -> None:
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"'}
    server = scripted_server({MANIFEST: oci_error(401, "UNAUTHORIZED", "authentication required", challenge)})
    async with _client(server.host, tmp_path if with_login else None) as client:
        with pytest.raises(RegistryServerError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
        diagnosis = await diagnose(parse_reference(f"{server.host}/team/app:1.0"), client.session(),
                                   clock=SystemClock())
    assert not isinstance(info.value, EgressDenied)  # our policy refused nothing: the realm is broken
    assert "token realm is not a valid URL" in str(info.value)
    assert diagnosis.verdict is Verdict.registry_error
    assert "token realm is not a valid URL" in diagnosis.summary
    assert {r.path for r in server.log.requests} == {MANIFEST}  # no token request was attempted


@pytest.mark.parametrize("location", [f"https://{BAD_HOSTS[0]}/v2/team/app/manifests/1.0",
                                      f"http://{BAD_HOSTS[1]}/", f"//{BAD_HOSTS[2]}/blob"])
async def test_a_redirect_to_a_bad_idna_host_is_the_registrys_failure(
        scripted_server: Callable[..., ScriptedServer], location: str) -> None:
    server = scripted_server({MANIFEST: Reply(307, b"", {"Location": location})})
    async with _client(server.host) as client:
        with pytest.raises(RegistryServerError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
        diagnosis = await diagnose(parse_reference(f"{server.host}/team/app:1.0"), client.session(),
                                   clock=SystemClock())
    # httpx reads the Location while still inside send() and drops the answer: the evidence names the
    # request that was redirected
    assert info.value.evidence.url == f"{server.base_url}{MANIFEST}"
    assert "redirected to a URL that is not valid" in str(info.value)
    assert diagnosis.verdict is Verdict.registry_error
    assert "redirected to a URL that is not valid" in diagnosis.summary


async def test_a_registry_name_that_is_not_valid_idna_is_a_name_that_cannot_resolve() -> None:
    # The user typed the bad name: no host by that name can exist. The resolver is scripted so a
    # regression could never send a real DNS query; it must not be asked at all.
    resolver = ScriptedResolver({})
    host = BAD_HOSTS[1]
    config = RegistryClientConfig(endpoints={host: RegistryEndpoint(host)})
    async with RegistryClient(config, resolver=resolver) as client:
        with pytest.raises(DNSFailure) as info:
            await client.session().head_manifest(host, "team/app", "1.0")
        diagnosis = await diagnose(parse_reference(f"{host}/team/app:1.0"), client.session(),
                                   clock=SystemClock())
    assert "not a valid host name" in str(info.value)
    assert diagnosis.verdict is Verdict.dns_error
    assert resolver.calls == []


async def test_a_tag_list_next_link_with_a_bad_idna_host_ends_the_listing(
        scripted_server: Callable[..., ScriptedServer]) -> None:
    link = f'<https://{BAD_HOSTS[0]}/v2/team/app/tags/list?n=2&last=b>; rel="next"'
    server = scripted_server({"/v2/team/app/tags/list": Reply(200, b'{"name":"team/app","tags":["a","b"]}',
                                                              {"Content-Type": "application/json",
                                                               "Link": link})})
    async with _client(server.host) as client:
        listed = await client.session().list_tags(server.host, "team/app", page_size=2)
    assert listed.tags == ["a", "b"]
    assert listed.pages == 1
