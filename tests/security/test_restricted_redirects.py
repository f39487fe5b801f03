"""A registry's redirect or token realm must not carry a check onto a registry the settings restrict to
certain channels (a confused deputy: the channel gate only sees the registry the user typed).

Everything here is real and on loopback: the restricted registry is the session's distribution 2.8
registry (``registry_open``); the registry being checked is this file's own small aiohttp server that
answers every ``/v2/<...>`` request with a 307 (or a token challenge) pointing at the restricted one.
The restricted registry's access log proves whether anything reached it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from bot.domain.errors import EgressDenied, HopToRestrictedRegistry, ImagecheckError
from bot.domain.models import Diagnosis, Verdict
from bot.domain.reference import parse_reference
from bot.domain.triage import reconcile, triage
from bot.registry.client import RegistryClient, RegistrySession
from bot.registry.config import RegistryClientConfig, RegistryEndpoint
from bot.registry.egress.restricted import RestrictedHosts
from bot.settings import RegistrySettings, Settings
from bot.slack.render import render_diagnosis
from bot.store.memory_store import MemoryStore
from bot.web import services_from_runtime
from bot.wiring import build_runtime
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness
from tests.support.local_registry import LocalRegistry

PRIVATE_CHANNEL = "CPRIV001"  # the only channel that may check the restricted registry
OTHER_CHANNEL = "CCHAN001"  # the harness's default channel


@dataclass
class Redirector:
    """This test's own registry stand-in: every ``/v2/<...>`` request is sent to ``target`` + the same
    path and query (``{host}`` in ``target`` is filled in per request, so tests can respell it)."""

    host: str
    requests: list[str]


RedirectorFactory = Callable[..., Awaitable[Redirector]]


@pytest_asyncio.fixture
async def redirector() -> AsyncIterator[RedirectorFactory]:
    runners: list[web.AppRunner] = []

    async def start(target: str, *, realm: str | None = None, status: int = 307) -> Redirector:
        requests: list[str] = []

        async def handle(request: web.Request) -> web.StreamResponse:
            requests.append(f"{request.method} {request.path_qs}")
            if request.path in ("/v2/", "/v2"):
                return web.json_response({})
            if realm is not None:  # a registry whose token realm lives elsewhere
                return web.json_response(
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}, status=401,
                    headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="redirector"'})
            return web.Response(status=status, headers={"Location": target + request.path_qs})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return Redirector(f"127.0.0.1:{port}", requests)

    yield start
    for runner in runners:
        await runner.cleanup()


def _settings(tmp_path: Path, registries: dict[str, RegistrySettings]) -> Settings:
    (tmp_path / "docker").mkdir(exist_ok=True)  # an empty docker config: no credentials from this machine
    return Settings(registries=registries, docker_config=tmp_path / "docker")


def _restricted(registry: LocalRegistry, redirect_host: str, tmp_path: Path, *,
                channels: tuple[str, ...] = (PRIVATE_CHANNEL,)) -> Settings:
    """The real registry limited to ``channels``; the redirecting registry open to every channel."""
    return _settings(tmp_path, {registry.host: RegistrySettings(insecure=True, channels=list(channels)),
                                redirect_host: RegistrySettings(insecure=True)})


def _client(settings: Settings) -> RegistryClient:
    return RegistryClient(RegistryClientConfig.from_settings(settings))


def _assert_unnamed(text: str, registry: LocalRegistry) -> None:
    """The restricted registry is neither named nor addressed (its port is what tells it apart here)."""
    port = registry.host.rpartition(":")[2]
    assert registry.host not in text
    assert f":{port}" not in text


Call = Callable[[RegistrySession, str, LocalRegistry], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "head manifest": lambda s, host, r: s.head_manifest(host, r.scenarios.single_oci.repository, "1.0"),
    "get manifest": lambda s, host, r: s.get_manifest(host, r.scenarios.single_oci.repository, "1.0"),
    "tags list": lambda s, host, r: s.list_tags(host, r.scenarios.single_oci.repository),
    "head blob": lambda s, host, r: s.head_blob(host, r.scenarios.single_oci.repository,
                                               r.scenarios.single_oci.layer_digests[0]),
    "image config": lambda s, host, r: s.get_image_config(host, r.scenarios.single_oci.repository,
                                                         r.scenarios.single_oci.config_digest),
}


# --- the registry client ------------------------------------------------------------------------


async def test_without_a_restriction_the_redirect_reaches_the_real_registry(
        tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    """The set-up really carries a check to the registry: this is the leak when it is restricted."""
    hop = await redirector(registry_open.base_url)
    image = registry_open.scenarios.single_oci
    mark = registry_open.mark()
    async with _client(_restricted(registry_open, hop.host, tmp_path, channels=())) as client:
        manifest = await client.session().get_manifest(hop.host, image.repository, "1.0")
    assert manifest.digest == image.digest
    assert registry_open.traffic_since(mark).total == 1


@pytest.mark.parametrize("call", list(CALLS))
async def test_redirect_onto_a_restricted_registry_is_refused_before_it_is_asked(
        call: str, tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    hop = await redirector(registry_open.base_url)
    mark = registry_open.mark()
    async with _client(_restricted(registry_open, hop.host, tmp_path)) as client:
        session = client.session()
        with pytest.raises(HopToRestrictedRegistry) as caught:
            await CALLS[call](session, hop.host, registry_open)
    assert isinstance(caught.value, EgressDenied)
    assert registry_open.traffic_since(mark).total == 0
    assert len(hop.requests) == 1
    assert session.request_count == 1  # the redirect itself; the refused hop is no request
    message = caught.value.message
    assert "redirected the request to a restricted registry" in message
    assert "refused" in message
    evidence = caught.value.evidence
    assert evidence.status == 307
    assert evidence.url is not None
    assert evidence.url.startswith(f"http://{hop.host}/v2/")  # the checked registry's own redirect
    _assert_unnamed(f"{message} {evidence.model_dump_json()}", registry_open)


@pytest.mark.parametrize("spelling", ["127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])
async def test_a_respelled_location_is_still_the_restricted_registry(
        spelling: str, tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    port = registry_open.host.rpartition(":")[2]
    hop = await redirector(f"http://{spelling}:{port}")
    mark = registry_open.mark()
    async with _client(_restricted(registry_open, hop.host, tmp_path)) as client:
        with pytest.raises(HopToRestrictedRegistry):
            await client.session().head_manifest(hop.host, registry_open.scenarios.single_oci.repository,
                                                 "1.0")
    assert registry_open.traffic_since(mark).total == 0


async def test_token_realm_on_a_restricted_registry_is_refused(
        tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    hop = await redirector("", realm=f"{registry_open.base_url}/token")
    mark = registry_open.mark()
    async with _client(_restricted(registry_open, hop.host, tmp_path)) as client:
        session = client.session()
        with pytest.raises(HopToRestrictedRegistry) as caught:
            await session.head_manifest(hop.host, registry_open.scenarios.single_oci.repository, "1.0")
    assert registry_open.traffic_since(mark).total == 0
    assert session.request_count == 1  # the 401 that named the realm
    assert "token realm is on a restricted registry" in caught.value.message
    assert caught.value.evidence.url == f"http://{hop.host}/v2/"
    _assert_unnamed(f"{caught.value.message} {caught.value.evidence.model_dump_json()}", registry_open)


async def test_a_restricted_registry_named_as_the_checked_registrys_own_realm_is_asked(
        tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    """The operators said the realm belongs to the checked registry: then it is not someone else's."""
    hop = await redirector("", realm=f"{registry_open.base_url}/token")
    settings = _settings(tmp_path, {
        registry_open.host: RegistrySettings(insecure=True, channels=[PRIVATE_CHANNEL]),
        hop.host: RegistrySettings(insecure=True, token_realms=[registry_open.host])})
    mark = registry_open.mark()
    async with _client(settings) as client:
        with pytest.raises(ImagecheckError) as caught:  # distribution serves no /token: a 404 there
            await client.session().head_manifest(hop.host, registry_open.scenarios.single_oci.repository, "1.0")
    assert not isinstance(caught.value, EgressDenied)
    assert [(r.method, r.path, r.status) for r in registry_open.traffic_since(mark).registry] == \
        [("GET", "/token", 404)]


async def test_the_restricted_registry_itself_is_checked_and_may_redirect_elsewhere(
        tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    """Only hops onto a restricted registry from ANOTHER registry are refused: a restricted registry's
    own redirects (to its blob storage, say) are followed when it is the one being checked."""
    hop = await redirector(registry_open.base_url)
    settings = _settings(tmp_path, {
        hop.host: RegistrySettings(insecure=True, channels=[PRIVATE_CHANNEL]),
        registry_open.host: RegistrySettings(insecure=True)})
    image = registry_open.scenarios.single_oci
    async with _client(settings) as client:
        via_hop = await client.session().get_manifest(hop.host, image.repository, "1.0")
    assert via_hop.digest == image.digest
    direct_settings = _restricted(registry_open, hop.host, tmp_path)
    async with _client(direct_settings) as client:
        direct = await client.session().get_manifest(registry_open.host, image.repository, "1.0")
    assert direct.digest == image.digest


# --- the check service, the rendering and the Slack path ---------------------------------------


async def test_diagnosis_says_a_restricted_registry_was_refused_not_that_the_image_is_missing(
        tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory) -> None:
    hop = await redirector(registry_open.base_url)
    image = registry_open.scenarios.single_oci
    ref = parse_reference(f"{hop.host}/{image.repository}:1.0")
    mark = registry_open.mark()
    async with build_runtime(_restricted(registry_open, hop.host, tmp_path), store=MemoryStore()) as runtime:
        diagnosis: Diagnosis = await runtime.checks.check(ref)
    assert registry_open.traffic_since(mark).total == 0
    assert diagnosis.verdict is Verdict.blocked_by_policy
    assert diagnosis.digest is None
    assert "restricted registry" in diagnosis.summary
    assert hop.host in diagnosis.summary  # the registry the user asked about is named, as always
    rendered = render_diagnosis(diagnosis)
    shown = rendered.text + str(rendered.as_dicts())
    assert "restricted registry" in shown
    assert "manifest unknown" not in shown.lower()
    assert "name it under `registries:`" not in shown  # it IS named there: that advice would mislead
    _assert_unnamed(shown + diagnosis.model_dump_json(), registry_open)
    # a pasted pull failure for this image is reconciled with the refusal, not with "not found"
    paste = (f'Failed to pull image "{ref.input}": rpc error: code = NotFound desc = failed to resolve '
             f'reference "{ref.input}": {ref.input}: not found')
    [line] = reconcile(triage(paste), [diagnosis])
    assert "sent imagecheck on to a restricted registry" in line
    _assert_unnamed(line, registry_open)


@pytest.mark.slow
@pytest.mark.parametrize("channel", [OTHER_CHANNEL, PRIVATE_CHANNEL])
async def test_slash_command_in_any_channel_gets_the_refusal_not_the_restricted_answer(
        channel: str, tmp_path: Path, registry_open: LocalRegistry, redirector: RedirectorFactory,
        slack_emulator: SlackEmulator) -> None:
    """The real app, engine and registry client. The answer is the same in the channel that may check
    the restricted registry: the client cannot know who asked, and diagnoses are cached for everyone."""
    hop = await redirector(registry_open.base_url)
    image = registry_open.scenarios.single_oci
    mark = registry_open.mark()
    async with build_runtime(_restricted(registry_open, hop.host, tmp_path), store=MemoryStore()) as runtime:
        h = await Harness(slack_emulator, services_from_runtime(runtime)).start()
        try:
            await h.slash(f"{hop.host}/{image.repository}:1.0", channel=channel)
            posts = await h.emulator.wait_for("chat.postMessage", 2)
            await h.emulator.wait_for("chat.update", 1)
            seen = "\n".join(c.all_text() for c in [*posts, *h.emulator.calls_to("chat.update")])
        finally:
            await h.close()
    assert registry_open.traffic_since(mark).total == 0
    assert "restricted registry" in posts[1].all_text()
    assert image.digest not in seen
    _assert_unnamed(seen, registry_open)


# --- which destinations count as the restricted registry (pure: no network) ----------------------


@pytest.mark.parametrize(("restricted", "url", "checking", "refused"), [
    ("registry.corp", "https://REGISTRY.corp./v2/x/manifests/1", "quay.io", True),
    ("registry.corp", "https://registry.corp:443/v2/", "quay.io", True),
    ("registry.corp", "http://registry.corp:80/v2/", "quay.io", True),  # an insecure registry's default port
    ("registry.corp", "https://registry.corp:5000/v2/", "quay.io", False),  # another registry
    ("registry.corp", "https://evil.registry.corp/v2/", "quay.io", False),  # no suffix matching
    ("registry.corp", "https://registry.corp/v2/", "REGISTRY.corp:443", False),  # checking it itself
    ("registry.corp:5000", "http://registry.corp:5000/v2/", "quay.io", True),
    ("registry.corp:5000", "http://registry.corp/v2/", "quay.io", False),
    ("10.0.0.5:5000", "https://[::ffff:10.0.0.5]:5000/v2/", "quay.io", True),
    ("docker.io", "https://registry-1.docker.io/v2/library/nginx/manifests/1", "quay.io", True),
    ("docker.io", "https://index.docker.io/v2/", "ghcr.io", True),
    ("docker.io", "https://registry-1.docker.io/v2/", "docker.io", False),  # Docker Hub checked: its API host
])
def test_which_destinations_are_the_restricted_registry(restricted: str, url: str, checking: str,
                                                        refused: bool) -> None:
    config = RegistryClientConfig(endpoints={restricted: RegistryEndpoint(restricted, restricted=True)},
                                  use_docker_config=False)
    guard = RestrictedHosts.from_endpoints(config.endpoints.values())
    assert guard.refuses(httpx.URL(url), checking=config.endpoint(checking)) is refused


def test_restricted_hosts_come_only_from_registries_with_channels(tmp_path: Path) -> None:
    settings = _settings(tmp_path, {"Registry.Corp:443": RegistrySettings(channels=[PRIVATE_CHANNEL]),
                                    "open.corp": RegistrySettings()})
    config = RegistryClientConfig.from_settings(settings)
    assert config.endpoint("registry.corp").restricted
    assert not config.endpoint("open.corp").restricted
    guard = RestrictedHosts.from_endpoints(config.endpoints.values())
    quay = config.endpoint("quay.io")
    assert guard.refuses(httpx.URL("https://registry.corp/v2/"), checking=quay)
    assert not guard.refuses(httpx.URL("https://open.corp/v2/"), checking=quay)
