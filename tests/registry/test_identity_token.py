"""Identity tokens: the OAuth2 refresh tokens that `az acr login` (and other OAuth-based logins) leave in
Docker's config.json as ``identitytoken``, or that a credential helper returns as Username ``<token>``.

Against the real distribution registry in its token flavour and the test token server's OAuth2 POST
endpoint (``POST /token``, ``grant_type=refresh_token``), counted from both servers' logs. Scripted
servers stand in only for realms no real local server behaves like: one without OAuth2 (405), one
that redirects the POST, and a registry that asks for Basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from aiohttp import web

from bot.domain.clock import ManualClock, SystemClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import EgressDenied, RegistryAuthError
from bot.domain.models import Diagnosis, Verdict
from bot.domain.reference import parse_reference
from bot.domain.remedy import FindingKind
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from bot.registry.auth import OAUTH_CLIENT_ID, Credentials
from bot.registry.credentials import CredentialStore, DockerConfig
from tests.domain.fake_registry import FakeRegistry, Repo
from tests.registry.conftest import StartServer
from tests.registry.fakes import BasicRegistry, manifest_body, manifest_response
from tests.registry.scripted import oci_error
from tests.support.local_registry import LocalRegistry
from tests.support.skopeo import SKOPEO
from tests.support.token_server import (
    OUTSIDER_IDENTITY_TOKEN,
    READER,
    READER_IDENTITY_TOKEN,
    TOKEN_SERVICE,
)

pytestmark = pytest.mark.timeout(120)

ACR_USER = "00000000-0000-0000-0000-000000000000"  # what `az acr login` stores as the username


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _acr_entry(identity_token: str) -> dict[str, str]:
    """An ``auths`` entry as docker writes it after an OAuth login: ``auth`` is "<user>:" (empty
    password) and the identity token sits beside it."""
    return {"auth": _b64(f"{ACR_USER}:"), "identitytoken": identity_token}


def _docker_dir(directory: Path, config: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return directory


def _write_helper(bin_dir: Path, name: str, answer: dict[str, str]) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(f"#!/bin/sh\nread server\necho '{json.dumps(answer)}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _client(docker_dir: Path, *endpoints: RegistryEndpoint) -> RegistryClient:
    return RegistryClient(RegistryClientConfig(endpoints={e.host: e for e in endpoints},
                                               docker_config_dir=docker_dir, use_docker_config=True))


def _token_registry_client(registry: LocalRegistry, docker_dir: Path) -> RegistryClient:
    # The realm is http://127.0.0.1:<token port>/token: the registry's own host name, so it may receive
    # the registry's credentials; listed under token_realms too, so the egress policy lets us reach it.
    assert registry.token_server is not None
    realm = f"127.0.0.1:{registry.token_server.port}"
    return _client(docker_dir, RegistryEndpoint(registry.host, insecure=True, token_realms=(realm,)))


def _everything(d: Diagnosis) -> str:
    return d.model_dump_json()


# --- reading identity tokens ---------------------------------------------------------------------


def test_an_oauth_login_entry_is_an_identity_token_not_an_empty_password() -> None:
    config = DockerConfig.from_json({"auths": {"r.example": _acr_entry("refresh-abc-123")}})
    creds = config.auths["r.example"]
    assert creds.identity_token == "refresh-abc-123"
    assert creds.username == ACR_USER
    assert creds.basic_header() is None  # never sent as a Basic password
    assert "refresh-abc-123" not in repr(creds)
    assert "refresh-abc-123" not in creds.identity()
    # a new login (a new token) must not reuse tokens or cached answers obtained with the old one
    other = DockerConfig.from_json({"auths": {"r.example": _acr_entry("refresh-xyz-789")}}).auths["r.example"]
    assert other.identity() != creds.identity()
    assert creds.secrets == ("refresh-abc-123",)


def test_the_identity_token_wins_over_a_password_beside_it() -> None:
    # moby hands out the identity token as the refresh token whenever it is set
    config = DockerConfig.from_json({"auths": {"r.example": {"auth": _b64("bob:old-pw"), "identitytoken": "tok-1"}}})
    creds = config.auths["r.example"]
    assert (creds.username, creds.identity_token) == ("bob", "tok-1")
    assert creds.password == ""


async def test_a_helper_answering_user_token_gives_an_identity_token(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _write_helper(bin_dir, "acr-like", {"Username": "<token>", "Secret": "helper-refresh-tok"})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    store = CredentialStore({}, docker_config_dir=_docker_dir(tmp_path / "docker",
                                                              {"credHelpers": {"r.example": "acr-like"}}))
    creds = await store.get("r.example")
    assert creds is not None
    assert creds.identity_token == "helper-refresh-tok"
    assert creds.username == ""
    assert creds.source == "helper:acr-like"


# --- the OAuth2 flow against the real registry ----------------------------------------------------


async def test_identity_token_from_docker_config_reads_a_private_repo_with_one_post(
        tmp_path: Path, registry_token: LocalRegistry) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    server = registry_token.token_server
    image = registry_token.private_scenarios.single_oci
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {registry_token.host: _acr_entry(READER_IDENTITY_TOKEN)}})
    posts_before = len(server.oauth_posts)
    async with _token_registry_client(registry_token, docker_dir) as client:
        mark = registry_token.mark()
        first = client.session()
        head = await first.head_manifest(registry_token.host, image.repository, "1.0")
        traffic = registry_token.traffic_since(mark)
        assert head.digest == image.digest
        assert head.meta.authenticated
        # challenge 401, one POST to the realm, the retried HEAD; no GET token request at all
        assert [(r.method, r.path) for r in traffic.token] == [("POST", "/token")]
        assert [(r.method, r.status) for r in traffic.registry] == [("HEAD", 401), ("HEAD", 200)]
        assert first.request_count == traffic.total == 3
        (post,) = server.oauth_posts[posts_before:]
        assert post.status == 200
        assert post.form == {"grant_type": "refresh_token", "refresh_token": READER_IDENTITY_TOKEN,
                             "client_id": OAUTH_CLIENT_ID, "service": TOKEN_SERVICE,
                             "scope": f"repository:{image.repository}:pull"}
        assert post.content_type.startswith("application/x-www-form-urlencoded")
        assert post.authorization is None  # the token travels in the body, nothing in a header
        # a repeat check in the same process reuses the access token: no new token request
        mark = registry_token.mark()
        repeat = client.session()
        await repeat.head_manifest(registry_token.host, image.repository, "1.0")
        manifest = await repeat.get_manifest(registry_token.host, image.repository, "1.0")
        traffic = registry_token.traffic_since(mark)
        assert traffic.token == []
        assert repeat.request_count == traffic.total == 2
        assert manifest.digest == image.digest


async def test_identity_token_from_a_credential_helper_reads_a_private_repo(
        tmp_path: Path, registry_token: LocalRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    image = registry_token.private_scenarios.multi_oci
    bin_dir = tmp_path / "bin"
    _write_helper(bin_dir, "oauth-test", {"Username": "<token>", "Secret": READER_IDENTITY_TOKEN})
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    docker_dir = _docker_dir(tmp_path / "docker", {"credHelpers": {registry_token.host: "oauth-test"}})
    posts_before = len(registry_token.token_server.oauth_posts)
    async with _token_registry_client(registry_token, docker_dir) as client:
        manifest = await client.session().get_manifest(registry_token.host, image.repository, "1.0")
    assert manifest.digest == image.digest
    assert manifest.meta is not None
    assert manifest.meta.authenticated
    (post,) = registry_token.token_server.oauth_posts[posts_before:]
    assert post.form["refresh_token"] == READER_IDENTITY_TOKEN


async def test_an_identity_token_gets_the_same_policy_as_a_password_login(
        tmp_path: Path, registry_token: LocalRegistry) -> None:
    """The outsider's token is valid but may not read private/: the answer is the registry's
    insufficient_scope with credentials used, not a rejected token."""
    assert registry_token.private_scenarios is not None
    image = registry_token.private_scenarios.single_oci
    docker_dir = _docker_dir(tmp_path / "docker",
                             {"auths": {registry_token.host: _acr_entry(OUTSIDER_IDENTITY_TOKEN)}})
    async with _token_registry_client(registry_token, docker_dir) as client:
        session = client.session()
        public = registry_token.scenarios.single_oci
        assert (await session.head_manifest(registry_token.host, public.repository, "1.0")).meta.authenticated
        with pytest.raises(RegistryAuthError) as info:
            await session.head_manifest(registry_token.host, image.repository, "1.0")
    assert info.value.insufficient_scope
    assert info.value.credentials_used
    assert info.value.oauth_refusal is None


async def test_a_revoked_identity_token_is_diagnosed_as_such_and_never_shown(
        tmp_path: Path, registry_token: LocalRegistry, caplog: pytest.LogCaptureFixture) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    server = registry_token.token_server
    stale = server.issue_identity_token(READER)
    server.revoke(stale)  # an `az acr login` from long ago
    image = registry_token.private_scenarios.single_oci
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {registry_token.host: _acr_entry(stale)}})
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG: none may carry it
    async with _token_registry_client(registry_token, docker_dir) as client:
        session = client.session()
        with pytest.raises(RegistryAuthError) as info:
            await session.head_manifest(registry_token.host, image.repository, "1.0")
        d = await diagnose(parse_reference(registry_token.ref(image.repository, "1.0")), client.session(),
                           clock=SystemClock())
    err = info.value
    assert err.oauth_refusal == "rejected"
    assert (err.status, err.code) == (400, "invalid_grant")
    assert err.credentials_used
    assert d.verdict is Verdict.auth_required
    kinds = [f.kind for f in d.findings]
    assert FindingKind.credentials_rejected in kinds
    assert FindingKind.identity_token_rejected in kinds
    assert "identity token" in d.summary
    assert "expired or was revoked" in d.summary
    assert "log in again" in d.summary
    assert "rejected the configured credentials" not in d.summary  # not "wrong password"
    rejected = next(f for f in d.findings if f.kind == FindingKind.credentials_rejected)
    assert "invalid_grant" in rejected.summary
    assert d.remediation[0].command == f"docker login {registry_token.host}"
    # the token appears nowhere: not in the error, the diagnosis, or any log record
    texts = [str(err), repr(err.__dict__), err.evidence.model_dump_json(), _everything(d), caplog.text,
             *(repr(r.__dict__) for r in caplog.records)]
    assert all(stale not in text for text in texts)
    assert any(r.name.startswith("http") for r in caplog.records)  # the logs were really captured


async def test_a_realm_that_may_not_receive_credentials_gets_no_post(
        tmp_path: Path, registry_token: LocalRegistry) -> None:
    """The registry named "localhost:PORT" has its realm on 127.0.0.1: another host name, so the
    identity token is withheld (an anonymous GET instead) until token_realms lists the realm."""
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    server = registry_token.token_server
    image = registry_token.private_scenarios.single_oci
    host = registry_token.host.replace("127.0.0.1", "localhost")
    realm = f"127.0.0.1:{server.port}"
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {host: _acr_entry(READER_IDENTITY_TOKEN)}})
    realm_endpoint = RegistryEndpoint(realm, insecure=True)  # reachable, but a party of its own
    posts_before = len(server.oauth_posts)
    mark = server.mark()
    async with _client(docker_dir, RegistryEndpoint(host, insecure=True), realm_endpoint) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(host, image.repository, "1.0")
    assert server.oauth_posts[posts_before:] == []
    assert [r.method for r in server.requests_since(mark)] == ["GET"]
    assert info.value.credentials_withheld_for_realm == realm
    assert not info.value.credentials_used
    # listed under token_realms, the same realm gets the POST and the check reads the image
    async with _client(docker_dir, RegistryEndpoint(host, insecure=True, token_realms=(realm,))) as client:
        head = await client.session().head_manifest(host, image.repository, "1.0")
    assert head.digest == image.digest
    assert [p.form["grant_type"] for p in server.oauth_posts[posts_before:]] == ["refresh_token"]


# --- realms and registries that are not like distribution's ---------------------------------------


def _oauth_less_registry(token_requests: list[tuple[str, str]], *, post_status: int = 405):
    """A registry whose realm (on the same server) has only the GET endpoint: POST gets ``post_status``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            token_requests.append((request.method, request.headers.get("Authorization", "")))
            if request.method == "POST":
                return web.Response(status=post_status, text="method not allowed")
            return web.json_response({"token": "anonymous-token", "expires_in": 300})
        challenge = f'Bearer realm="http://{request.host}/token",service="oauthless"'
        if request.headers.get("Authorization") != "Bearer anonymous-token":
            return oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})
        return oci_error(401, "UNAUTHORIZED", "authentication required",
                         {"WWW-Authenticate": challenge + ',error="insufficient_scope"'})

    return handler


@pytest.mark.parametrize("post_status", [404, 405])
async def test_a_realm_without_oauth2_says_identity_tokens_are_unusable_there(
        tmp_path: Path, start_server: StartServer, post_status: int) -> None:
    """No GET retry with the token as a Basic password (containerd's guess; docker doesn't): the
    diagnosis says the registry takes no identity tokens and what login to use instead."""
    token_requests: list[tuple[str, str]] = []
    server = await start_server(_oauth_less_registry(token_requests, post_status=post_status))
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {server.host: _acr_entry("secret-refresh-77")}})
    async with _client(docker_dir, RegistryEndpoint(server.host, insecure=True)) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
        d = await diagnose(parse_reference(f"{server.host}/team/app:1.0"), client.session(), clock=SystemClock())
    assert info.value.oauth_refusal == "unsupported"
    assert info.value.status == post_status
    posts = [m for m, _ in token_requests if m == "POST"]
    assert posts  # it was asked
    # the only GETs are the anonymous probe of the diagnosis: no Authorization header ever
    assert all(auth == "" for _, auth in token_requests)
    assert all("secret-refresh-77" not in json.dumps(s.headers) and "secret-refresh-77" not in s.path_qs
               for s in server.seen)
    assert d.verdict is Verdict.auth_required
    assert FindingKind.identity_token_unsupported in [f.kind for f in d.findings]
    assert "does not accept the stored identity token" in d.summary
    assert d.remediation[0].command is not None
    assert d.remediation[0].command.startswith(f"docker login {server.host}")
    assert "secret-refresh-77" not in _everything(d)


async def test_an_identity_token_is_never_sent_as_a_basic_password(tmp_path: Path,
                                                                   start_server: StartServer) -> None:
    server = await start_server(BasicRegistry())
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {server.host: _acr_entry("secret-refresh-88")}})
    async with _client(docker_dir, RegistryEndpoint(server.host, insecure=True)) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert info.value.oauth_refusal == "unsupported"
    assert [s.headers.get("Authorization") for s in server.seen] == [None]


async def test_the_token_post_is_not_redirected_to_another_host(tmp_path: Path, start_server: StartServer) -> None:
    """A body is not a header the cross-host redirect rule can strip: a 307 elsewhere is refused."""
    elsewhere = await start_server(_oauth_less_registry([]))

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            raise web.HTTPTemporaryRedirect(f"http://localhost:{elsewhere.port}/token")
        challenge = f'Bearer realm="http://{request.host}/token",service="redirecting"'
        return oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})

    server = await start_server(handler)
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {server.host: _acr_entry("secret-refresh-99")}})
    # the other host is named in the settings, so only the redirect rule can stop the token going there
    async with _client(docker_dir, RegistryEndpoint(server.host, insecure=True),
                       RegistryEndpoint(f"localhost:{elsewhere.port}", insecure=True)) as client:
        with pytest.raises(EgressDenied):
            await client.session().head_manifest(server.host, "team/app", "1.0")
    assert elsewhere.seen == []
    assert [s.method for s in server.seen if s.path_qs == "/token"] == ["POST"]


async def test_a_same_origin_307_keeps_the_post_and_its_body(tmp_path: Path, start_server: StartServer) -> None:
    posted: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            raise web.HTTPTemporaryRedirect("/oauth2/token")
        if request.path == "/oauth2/token":
            posted.append(dict(await request.post()))  # type: ignore[arg-type]
            return web.json_response({"access_token": "granted", "expires_in": 300})
        challenge = f'Bearer realm="http://{request.host}/token",service="moved"'
        if request.headers.get("Authorization") != "Bearer granted":
            return oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})
        return manifest_response(request, manifest_body())

    server = await start_server(handler)
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {server.host: _acr_entry("moved-refresh-1")}})
    async with _client(docker_dir, RegistryEndpoint(server.host, insecure=True)) as client:
        head = await client.session().head_manifest(server.host, "team/app", "1.0")
    assert head.meta.authenticated
    assert [p["refresh_token"] for p in posted] == ["moved-refresh-1"]


async def test_a_realm_that_quotes_the_token_back_has_it_scrubbed_from_the_evidence(
        tmp_path: Path, start_server: StartServer) -> None:
    token = "echoed-refresh-token-4242"

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            echoed = (await request.post()).get("refresh_token")
            assert isinstance(echoed, str)
            return web.json_response({"error": "invalid_grant",
                                      "error_description": f"refresh token {echoed} expired"},
                                     status=400)
        challenge = f'Bearer realm="http://{request.host}/token",service="echo"'
        return oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})

    server = await start_server(handler)
    docker_dir = _docker_dir(tmp_path / "docker", {"auths": {server.host: _acr_entry(token)}})
    async with _client(docker_dir, RegistryEndpoint(server.host, insecure=True)) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(server.host, "team/app", "1.0")
    evidence = info.value.evidence
    assert info.value.oauth_refusal == "rejected"
    assert evidence.error_code == "invalid_grant"
    assert evidence.message is not None
    assert "expired" in evidence.message  # the server's words are kept ...
    assert token not in evidence.model_dump_json()  # ... without the token
    assert token not in str(info.value)


# --- skopeo reads identitytoken from its auth file: the same answer -------------------------------


def _skopeo_with_auth_file(reference: str, auths: Mapping[str, object]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="imagecheck-skopeo-") as home:
        auth_file = Path(home) / "auth.json"
        auth_file.write_text(json.dumps({"auths": auths}))
        env = {"HOME": home, "XDG_RUNTIME_DIR": home, "XDG_CONFIG_HOME": home, "PATH": "/usr/bin:/bin"}
        return subprocess.run([SKOPEO, "inspect", "--tls-verify=false", "--no-tags", "--authfile", str(auth_file),
                               f"docker://{reference}"], capture_output=True, text=True, timeout=60, env=env,
                              check=False)


async def test_skopeo_and_imagecheck_agree_on_an_identity_token(tmp_path: Path,
                                                                registry_token: LocalRegistry) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    image = registry_token.private_scenarios.single_docker
    ref = registry_token.ref(image.repository, "1.0")
    good = {registry_token.host: _acr_entry(READER_IDENTITY_TOKEN)}
    posts_before = len(registry_token.token_server.oauth_posts)
    done = await asyncio.to_thread(_skopeo_with_auth_file, ref, good)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Digest"] == image.digest
    # skopeo (containers/image) used the same OAuth2 POST
    skopeo_posts = registry_token.token_server.oauth_posts[posts_before:]
    assert skopeo_posts
    assert all(p.form["grant_type"] == "refresh_token" for p in skopeo_posts)
    async with _token_registry_client(registry_token, _docker_dir(tmp_path / "docker", {"auths": good})) as client:
        head = await client.session().head_manifest(registry_token.host, image.repository, "1.0")
    assert head.digest == image.digest
    # and both refuse a revoked one
    stale = registry_token.token_server.issue_identity_token(READER)
    registry_token.token_server.revoke(stale)
    refused = await asyncio.to_thread(_skopeo_with_auth_file, ref, {registry_token.host: _acr_entry(stale)})
    assert refused.returncode != 0
    async with _token_registry_client(
            registry_token, _docker_dir(tmp_path / "docker-stale", {"auths": {registry_token.host: _acr_entry(stale)}})
    ) as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(registry_token.host, image.repository, "1.0")
    assert info.value.oauth_refusal == "rejected"


def test_credentials_from_an_identity_token_have_no_password() -> None:
    creds = Credentials.from_identity_token("t0k3n-value", source="docker-config")
    assert creds.password == ""
    assert creds.uses_identity_token
    assert creds.identity().startswith("<token>#")


# --- the wording, for an ACR host (the domain with its in-memory fake registry: no *.azurecr.io here) --


async def test_an_expired_acr_login_names_az_acr_login_and_public_images_say_only_the_login_is_stale() -> None:
    host = "myteam.azurecr.io"
    repo = Repo()
    repo.push_image("svc", "linux/amd64", tag="1.0")
    refused = RegistryAuthError("the token server rejected the identity token (400 invalid_grant): it expired "
                                "or was revoked", status=400, code="invalid_grant", credentials_used=True,
                                oauth_refusal="rejected")

    def fail(op: str, registry: str, repository: str, reference: str, anonymous: bool) -> RegistryAuthError | None:
        return None if anonymous else refused  # the image itself is public

    reg = FakeRegistry({host: {"team/svc": repo}}, credentials_for={host}, fail=fail)
    d = await diagnose(parse_reference(f"{host}/team/svc:1.0"), reg, clock=ManualClock())
    assert d.verdict is Verdict.auth_required
    assert d.summary == (f"{host} rejected the stored identity token for team/svc (anonymous pulls work: "
                         "log in again, or remove the stale login).")
    assert d.remediation[0].command == "az acr login --name myteam"
    assert "`az acr login`" in d.remediation[0].text
    # the anonymous probe ran once, and only after the refusal
    assert [c[4] for c in reg.calls] == [False, True]


async def test_a_registry_that_takes_no_identity_tokens_asks_for_a_password_login() -> None:
    host = "registry.corp.test"
    refused = RegistryAuthError("the token server does not accept identity tokens (its OAuth2 endpoint "
                                "answered 405)", status=405, credentials_used=True, oauth_refusal="unsupported")
    reg = FakeRegistry({host: {}}, credentials_for={host},
                       fail=lambda op, registry, repository, reference, anonymous: refused if not anonymous else
                       RegistryAuthError("the registry requires authentication (401 Unauthorized)"))
    d = await diagnose(parse_reference(f"{host}/team/svc:1.0"), reg, clock=ManualClock())
    assert d.verdict is Verdict.auth_required
    assert d.summary.startswith(f"{host} does not accept the stored identity token for team/svc")
    assert "username and password" in d.summary
    assert d.remediation[0].command == f"docker login {host} --username <user> --password-stdin"
    kinds = [f.kind for f in d.findings]
    assert FindingKind.identity_token_unsupported in kinds
    assert FindingKind.identity_token_rejected not in kinds
