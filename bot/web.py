"""The HTTP face of the bot: ``POST /slack/events`` (events, commands, interactivity on one URL),
``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.

Slack's signature is checked here, before Bolt sees the request, so that every unsigned, stale,
tampered or malformed request (including a non-integer timestamp, which Bolt 1.30 answers with a 500)
gets a 401. A byte-identical replay of a valid request inside the 5-minute window is acknowledged but
not processed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.domain.errors import StoreUnavailable
from bot.domain.models import TriageResult
from bot.domain.ports import StatePort
from bot.metrics import REGISTRY, SLACK_ACK_SECONDS
from bot.slack.services import Services, SlackOptions

if TYPE_CHECKING:
    from pydantic import SecretStr

    from bot.settings import Settings
    from bot.wiring import Runtime

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_S = 5 * 60
MAX_BODY_BYTES = 1024 * 1024
BODY_READ_TIMEOUT_S = 10.0  # Slack sends small bodies at once; a trickle is someone holding sockets
READY_TIMEOUT_S = 2.0

Liveness = Callable[[], Awaitable[bool]]
Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def signature_problem(secret: str, headers: Any, body: bytes, *, now: float | None = None) -> str | None:
    """Why this request is not a valid Slack request, or ``None`` when it is (Slack's v0 scheme)."""
    if not secret:
        return "no signing secret configured"  # an empty HMAC key is one anyone can compute
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        return "unsigned"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return "malformed timestamp"
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_CLOCK_SKEW_S:
        return "stale"
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "bad signature"
    return None


def default_readiness(store: StatePort, backend: str) -> Readiness:
    async def ready() -> tuple[bool, dict[str, Any]]:
        try:
            ok = await asyncio.wait_for(store.ping(), READY_TIMEOUT_S)
        except (StoreUnavailable, TimeoutError, OSError):
            ok = False
        return ok, {"store": backend, "store_ok": ok}
    return ready


def create_web_app(bolt_app: AsyncApp, *, signing_secret: str, store: StatePort,
                   readiness: Readiness | None = None, liveness: Liveness | None = None,
                   backend: str = "unknown", slack_events_route: bool = True,
                   body_read_timeout_s: float = BODY_READ_TIMEOUT_S) -> web.Application:
    """HTTP mode serves Slack's requests and the probes; Socket Mode's health port
    (``slack_events_route=False``) serves only the probes: Slack reaches it over the socket, and a
    route without a signing secret to check would take anyone's forged request."""
    ready = readiness or default_readiness(store, backend)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        # Refuse what the headers already disqualify before reading a byte of the body, then read it
        # under a deadline: an unsigned client must not be able to hold connections open for free.
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "request too large"}, status=413)
        early = signature_problem(signing_secret, request.headers, b"")
        if early is not None and early != "bad signature":
            log.warning("rejected a Slack request: %s", early)
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            # (the app's client_max_size caps what read() accepts)
            body = await asyncio.wait_for(request.read(), body_read_timeout_s)
        except TimeoutError:
            log.warning("rejected a Slack request: body not sent within %s s", body_read_timeout_s)
            return web.json_response({"error": "request body too slow"}, status=408)
        if len(body) > MAX_BODY_BYTES:
            return web.json_response({"error": "request too large"}, status=413)
        problem = signature_problem(signing_secret, request.headers, body)
        if problem is not None:
            log.warning("rejected a Slack request: %s", problem)
            return web.json_response({"error": "invalid request signature"}, status=401)
        replay_key = "replay:" + hashlib.sha256(request.headers["X-Slack-Signature"].encode()).hexdigest()
        try:
            first = await store.claim_once(replay_key, MAX_CLOCK_SKEW_S + 60)
        except StoreUnavailable:
            first = True
        if not first:
            log.warning("ignored a replayed Slack request")
            return web.Response(status=200, text="")
        bolt_request = await to_bolt_request(request)
        response = await to_aiohttp_response(await bolt_app.async_dispatch(bolt_request))
        SLACK_ACK_SECONDS.observe(time.perf_counter() - started)
        return response

    async def healthz(_: web.Request) -> web.StreamResponse:
        alive = await liveness() if liveness else True
        return web.json_response({"status": "ok" if alive else "down"}, status=200 if alive else 503)

    async def readyz(_: web.Request) -> web.StreamResponse:
        ok, detail = await ready()
        return web.json_response({"ready": ok, **detail}, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    if slack_events_route:
        app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


# --- composition: settings and runtime -> the running app ----------------------------------------


def slack_options(settings: Settings) -> SlackOptions:
    from bot.registry.config import normalize_registry
    from bot.wiring import mirrors_by_registry

    s = settings.slack
    return SlackOptions(
        triage_threshold=s.triage_threshold, channels_include=tuple(s.channels_include),
        channels_exclude=tuple(s.channels_exclude), user_checks_per_minute=s.user_checks_per_minute,
        channel_checks_per_minute=s.channel_checks_per_minute, pin_allowed_users=tuple(s.pin_allowed_users),
        pin_allowed_usergroup=s.pin_allowed_usergroup,
        pin_requires_channel_member=s.pin_requires_channel_member, max_slash_chars=s.max_slash_chars,
        incident_ttl_days=settings.cache.incident_ttl_days, mirrors=mirrors_by_registry(settings),
        registry_channels={normalize_registry(host): tuple(entry.channels)
                           for host, entry in settings.registries.items() if entry.channels})


def services_from_runtime(runtime: Runtime) -> Services:
    from bot.domain.pin import pin_snippets
    from bot.domain.triage import reconcile, redact, triage

    def triage_text(text: str, source: str | None) -> TriageResult:
        return triage(text, source=source)

    return Services(checks=runtime.checks, store=runtime.store, triage=triage_text,
                    redact=lambda text: redact(text).text, reconcile=reconcile, pin_snippets=pin_snippets,
                    options=slack_options(runtime.settings))


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container must listen beyond its own loopback


async def serve_http(settings: Settings, port: int, *, host: str = ALL_INTERFACES,
                     started: asyncio.Event | None = None) -> None:
    """Serve until cancelled. Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (checked by the caller)."""
    from bot.slack.app import build_app
    from bot.slack.posting import make_client
    from bot.wiring import build_runtime

    signing_secret = secret(settings.slack_signing_secret)
    assert signing_secret is not None
    async with build_runtime(settings) as runtime:
        client = make_client(secret(settings.slack_bot_token), settings.slack_api_url)
        bolt = build_app(services_from_runtime(runtime), client, signing_secret=signing_secret)
        app = create_web_app(bolt, signing_secret=signing_secret, store=runtime.store,
                             backend=runtime.store.backend)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("serving Slack events on %s:%s/slack/events", host, port)
        if started is not None:
            started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


async def run_socket_mode(settings: Settings, *, health_port: int | None = None) -> None:
    """Socket Mode (development): no public URL; /healthz reports whether the socket is connected."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.slack.app import build_app
    from bot.slack.posting import make_client
    from bot.wiring import build_runtime

    app_token = secret(settings.slack_app_token)
    async with build_runtime(settings) as runtime:
        client = make_client(secret(settings.slack_bot_token), settings.slack_api_url)
        bolt = build_app(services_from_runtime(runtime), client, signing_secret=None)
        handler = AsyncSocketModeHandler(bolt, app_token)
        runner: web.AppRunner | None = None
        if health_port is not None:
            async def connected() -> bool:
                return bool(await handler.client.is_connected())

            health = create_web_app(bolt, signing_secret="", store=runtime.store, liveness=connected,
                                    backend=runtime.store.backend, slack_events_route=False)
            runner = web.AppRunner(health, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, ALL_INTERFACES, health_port).start()
        try:
            await handler.start_async()  # type: ignore[no-untyped-call]
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            if runner is not None:
                await runner.cleanup()
