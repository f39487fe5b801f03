"""Drive the real app over HTTP: bot/web.py served on 127.0.0.1, Web API calls going to the emulator,
and requests signed exactly as Slack signs them (v0 HMAC over ``v0:<timestamp>:<body>``)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from bot.domain.errors import InvalidReference
from bot.domain.models import Diagnosis, ImageRef, Platform, TriageResult
from bot.domain.reference import parse_reference
from bot.slack.app import build_app
from bot.slack.posting import make_client
from bot.slack.services import Services, SlackOptions
from bot.web import create_web_app
from tests.fixtures.slack_emulator import TEAM_ID, SlackEmulator

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_ids = itertools.count(1)


class ScriptedChecks:
    """A check service whose registry answers are scripted per normalized reference.

    Used where the test is about Slack behaviour (threads, escaping, retries, signatures), not about
    what a registry says; tests/slack/test_end_to_end.py runs the same app against the real engine.
    """

    def __init__(self, answers: dict[str, Diagnosis] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, bool]] = []
        self.hang: asyncio.Event | None = None
        self.tags: list[str] = []
        self.mirror_answer: Diagnosis | None = None

    async def check(self, ref: ImageRef, *, platforms: Sequence[Platform] = (), deep: bool = False,
                    fresh: bool = False, credentials_id: str = "",
                    correlation_id: str | None = None) -> Diagnosis:
        self.calls.append((ref.normalized, fresh))
        if self.hang is not None:
            await self.hang.wait()
        answer = self.answers.get(ref.normalized)
        if answer is None:
            raise RuntimeError(f"no scripted answer for {ref.normalized}")
        return answer.model_copy(update={"correlation_id": correlation_id})

    async def nearest_tags(self, ref: ImageRef, limit: int) -> list[str]:
        return self.tags[:limit]

    async def compare_mirrors(self, ref: ImageRef) -> Diagnosis:
        assert self.mirror_answer is not None
        return self.mirror_answer


def no_triage(text: str, source: str | None = None) -> TriageResult:
    raise AssertionError("triage was not expected in this test")


def make_services(checks: Any, store: Any, *, options: SlackOptions | None = None,
                  triage: Any = None, redact: Any = None, reconcile: Any = None) -> Services:
    from bot.domain.pin import pin_snippets

    return Services(checks=checks, store=store, triage=triage or no_triage,
                    redact=redact or (lambda s: s), reconcile=reconcile or (lambda r, d: []),
                    pin_snippets=pin_snippets, options=options or SlackOptions())


def ref(text: str) -> ImageRef:
    try:
        return parse_reference(text)
    except InvalidReference as exc:  # pragma: no cover - a typo in a test
        raise AssertionError(text) from exc


@dataclass
class Harness:
    emulator: SlackEmulator
    services: Services
    url: str = ""
    http: aiohttp.ClientSession | None = None
    runner: web.AppRunner | None = None
    sent: list[str] = field(default_factory=list)

    async def start(self, *, per_channel_interval_s: float = 0.0) -> Harness:
        client = make_client("xoxb-test-token", self.emulator.api_url, max_429_retries=2)
        bolt = build_app(self.services, client, signing_secret=SECRET,
                         per_channel_interval_s=per_channel_interval_s)
        app = create_web_app(bolt, signing_secret=SECRET, store=self.services.store, backend="memory")
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession()
        return self

    async def close(self) -> None:
        if self.http:
            await self.http.close()
        if self.runner:
            await self.runner.cleanup()

    @staticmethod
    def sign(body: bytes, timestamp: str) -> str:
        return str(SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body.decode()))

    async def post_raw(self, body: bytes, content_type: str, *, headers: dict[str, str] | None = None,
                       path: str = "/slack/events") -> tuple[int, str]:
        assert self.http is not None
        async with self.http.post(self.url + path, data=body,
                                  headers={"Content-Type": content_type, **(headers or {})}) as resp:
            return resp.status, await resp.text()

    async def post_signed(self, body: bytes, content_type: str, *, extra: dict[str, str] | None = None,
                          timestamp: str | None = None) -> tuple[int, str]:
        ts = timestamp or str(int(time.time()))
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": self.sign(body, ts), **(extra or {})}
        return await self.post_raw(body, content_type, headers=headers)

    async def slash(self, text: str, *, user: str = "UALICE01", channel: str = "CCHAN001") -> tuple[int, str]:
        form = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "example", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": "alice", "command": "/imagecheck",
                "text": text, "api_app_id": "A0001", "is_enterprise_install": "false",
                "response_url": self.emulator.response_url(f"slash{next(_ids)}"),
                "trigger_id": f"trigger.{next(_ids)}"}
        return await self.post_signed(urlencode(form).encode(), "application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    retry_num: int | None = None) -> tuple[int, str]:
        body = {"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0001", "type": "event_callback",
                "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT0001", "is_bot": True}]}
        extra = ({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
                 if retry_num else {})
        return await self.post_signed(json.dumps(body).encode(), "application/json", extra=extra)

    async def interaction(self, payload: dict[str, Any]) -> tuple[int, str]:
        base = {"team": {"id": TEAM_ID, "domain": "example"}, "api_app_id": "A0001", "token": "legacy",
                "trigger_id": f"trigger.{next(_ids)}", "is_enterprise_install": False}
        body = urlencode({"payload": json.dumps({**base, **payload})}).encode()
        return await self.post_signed(body, "application/x-www-form-urlencoded")

    async def click(self, action_id: str, value: str, *, user: str = "UALICE01", channel: str = "CCHAN001",
                    message_ts: str = "1700000000.000002") -> tuple[int, str]:
        return await self.interaction({
            "type": "block_actions", "user": {"id": user, "username": "alice", "team_id": TEAM_ID},
            "channel": {"id": channel, "name": "general"},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "text": "diagnosis"},
            "response_url": self.emulator.response_url(f"click{next(_ids)}"),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "diagnosis_actions",
                         "value": value, "action_ts": str(time.time())}]})

    async def shortcut(self, message: dict[str, Any], *, user: str = "UALICE01",
                       channel: str = "CCHAN001") -> tuple[int, str]:
        return await self.interaction({
            "type": "message_action", "callback_id": "diagnose_image_error",
            "user": {"id": user, "username": "alice", "team_id": TEAM_ID},
            "channel": {"id": channel, "name": "general"}, "message": message,
            "message_ts": message.get("ts"), "response_url": self.emulator.response_url(f"sc{next(_ids)}")})


def button_value(call_blocks: list[dict[str, Any]], action_id: str) -> str:
    for block in call_blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {call_blocks}")
