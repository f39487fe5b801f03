"""A registry or token realm that echoes the secret it was sent must not get it into imagecheck's output.

Found in review: only the realm's 400/401/403 answers were scrubbed with the login's secrets. Any other
answer (a 500, a 429, a proxy's 502 OCI envelope) went into the error's evidence as the server wrote it,
and from there into the Diagnosis, Slack, the Redis cache and ``--json``; the generic ``token=…`` scrub
does not recognise a bare token in prose. The servers here are scripted loopback servers: no real
registry echoes secrets on purpose, which is exactly the misbehaviour under test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.domain.clock import SystemClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import ImagecheckError, RateLimited, RegistryServerError
from bot.domain.reference import parse_reference
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.support.fault_servers import HttpFaultServer, Reply, Request, ScriptedServer, oci_error

pytestmark = pytest.mark.timeout(60)

IDENTITY_TOKEN = "leaky-refresh-token-5150"
PASSWORD = "hunter2-registry-password"
USER = "ci-bot"
BASIC_BLOB = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
MANIFEST = "/v2/team/app/manifests/1.0"


def _echoes(secret: str) -> list[tuple[int, Reply]]:
    """Three ways a server's error answer quotes what it was sent."""
    return [
        (500, Reply(500, f"lookup of refresh token {secret} could not be completed".encode(),
                    {"Content-Type": "text/plain"})),
        (502, oci_error(502, "UNKNOWN", f"upstream refused credential {secret}")),
        (429, Reply(429, f"too many requests for {secret}, slow down".encode(),
                    {"Content-Type": "text/plain", "Retry-After": "5"})),
    ]


ECHO_IDS = ["500-text", "502-oci-envelope", "429-text"]


def _client(tmp_path: Path, host: str, auth_entry: dict[str, str]) -> RegistryClient:
    docker_dir = tmp_path / "docker"
    docker_dir.mkdir()
    (docker_dir / "config.json").write_text(json.dumps({"auths": {host: auth_entry}}))
    endpoint = RegistryEndpoint(host, insecure=True)
    return RegistryClient(RegistryClientConfig(endpoints={host: endpoint}, docker_config_dir=docker_dir,
                                               use_docker_config=True))


def _identity_token_entry() -> dict[str, str]:
    # as `az acr login` leaves it: "<all-zero guid>:" plus the identity token beside it
    return {"auth": base64.b64encode(b"00000000-0000-0000-0000-000000000000:").decode(),
            "identitytoken": IDENTITY_TOKEN}


def _password_entry() -> dict[str, str]:
    return {"auth": BASIC_BLOB}


def _with_token_realm(server: ScriptedServer, realm_reply: Reply) -> None:
    challenge = f'Bearer realm="{server.base_url}/token",service="echo"'
    server.routes[MANIFEST] = oci_error(401, "UNAUTHORIZED", "authentication required",
                                        {"WWW-Authenticate": challenge})
    server.routes["/token"] = realm_reply


async def _outputs(client: RegistryClient, host: str, check: Callable[..., object]) -> tuple[
        ImagecheckError, str]:
    """The failed call's exception and the whole diagnosis, as a user or the cache would see them."""
    with pytest.raises(ImagecheckError) as info:
        await check(client.session())  # type: ignore[misc]
    diagnosis = await diagnose(parse_reference(f"{host}/team/app:1.0"), client.session(), clock=SystemClock())
    return info.value, diagnosis.model_dump_json()


def _assert_absent(secrets: tuple[str, ...], exc: ImagecheckError, diagnosis_json: str) -> None:
    seen = {"str": str(exc), "repr": repr(exc), "evidence": exc.evidence.model_dump_json(),
            "diagnosis": diagnosis_json}
    for secret in secrets:
        leaks = [where for where, text in seen.items() if secret in text]
        assert not leaks, f"secret found in {leaks}"


def _expected_type(status: int) -> type[ImagecheckError]:
    return RateLimited if status == 429 else RegistryServerError


@pytest.mark.parametrize(("status", "echo"), _echoes(IDENTITY_TOKEN), ids=ECHO_IDS)
async def test_a_token_realm_echoing_the_identity_token_does_not_leak_it(
        tmp_path: Path, scripted_server: Callable[..., ScriptedServer], status: int, echo: Reply) -> None:
    server = scripted_server({})
    _with_token_realm(server, echo)
    async with _client(tmp_path, server.host, _identity_token_entry()) as client:
        exc, diagnosis = await _outputs(client, server.host,
                                        lambda s: s.head_manifest(server.host, "team/app", "1.0"))
    assert [r.method for r in server.log.requests if r.path == "/token"][:1] == ["POST"]  # the OAuth path
    assert isinstance(exc, _expected_type(status))
    assert exc.evidence.status == status
    assert "***" in (exc.evidence.message or "")  # the answer is kept, the secret not
    _assert_absent((IDENTITY_TOKEN,), exc, diagnosis)


@pytest.mark.parametrize(("status", "echo"), _echoes(PASSWORD), ids=ECHO_IDS)
async def test_a_token_realm_echoing_the_password_does_not_leak_it(
        tmp_path: Path, scripted_server: Callable[..., ScriptedServer], status: int, echo: Reply) -> None:
    server = scripted_server({})
    _with_token_realm(server, echo)
    async with _client(tmp_path, server.host, _password_entry()) as client:
        exc, diagnosis = await _outputs(client, server.host,
                                        lambda s: s.head_manifest(server.host, "team/app", "1.0"))
    assert [r.method for r in server.log.requests if r.path == "/token"][:1] == ["GET"]  # Basic GET path
    assert isinstance(exc, _expected_type(status))
    assert "***" in (exc.evidence.message or "")
    _assert_absent((PASSWORD,), exc, diagnosis)


class _BasicEchoRegistry(HttpFaultServer):
    """Asks for Basic auth, then answers the authenticated request with ``echo``: the password and the
    Authorization header's base64 quoted back (a misconfigured proxy in front of a registry)."""

    def __init__(self, echo: Reply) -> None:
        super().__init__()
        self.echo = echo

    def respond(self, request: Request) -> Reply:
        if not request.path.startswith("/v2/team/app/"):
            return super().respond(request)
        if "authorization" not in {k.lower() for k in request.headers}:
            return oci_error(401, "UNAUTHORIZED", "authentication required",
                             {"WWW-Authenticate": 'Basic realm="registry"'})
        text = self.echo.body.decode().replace("SECRET", f"{PASSWORD} (Authorization: Basic {BASIC_BLOB})")
        return Reply(self.echo.status, text.encode(), self.echo.headers)


@pytest.mark.parametrize(("status", "echo"), _echoes("SECRET"), ids=ECHO_IDS)
async def test_a_registry_echoing_the_basic_password_does_not_leak_it(
        tmp_path: Path, status: int, echo: Reply) -> None:
    with _BasicEchoRegistry(echo) as server:
        async with _client(tmp_path, server.host, _password_entry()) as client:
            # a GET: a HEAD answer has no body to echo anything in
            exc, diagnosis = await _outputs(client, server.host,
                                            lambda s: s.get_manifest(server.host, "team/app", "1.0"))
    assert isinstance(exc, _expected_type(status))
    assert "***" in (exc.evidence.message or "")
    _assert_absent((PASSWORD, BASIC_BLOB), exc, diagnosis)


async def test_a_secret_straddling_the_kept_excerpt_is_not_kept_in_part(
        tmp_path: Path, scripted_server: Callable[..., ScriptedServer]) -> None:
    # Only the first 200 characters of a plain-text answer are kept: cutting before scrubbing would
    # keep the first half of a token that crosses the cut.
    body = ("x" * (200 - len(IDENTITY_TOKEN) // 2) + IDENTITY_TOKEN + " trailing").encode()
    server = scripted_server({})
    _with_token_realm(server, Reply(503, body, {"Content-Type": "text/plain"}))
    async with _client(tmp_path, server.host, _identity_token_entry()) as client:
        exc, diagnosis = await _outputs(client, server.host,
                                        lambda s: s.head_manifest(server.host, "team/app", "1.0"))
    half = IDENTITY_TOKEN[: len(IDENTITY_TOKEN) // 2]
    _assert_absent((half,), exc, diagnosis)
