"""A slow triage (a huge or hostile paste) must not hold up other Slack requests, and a message delivered
twice is not triaged twice.

The slow paste is simulated by a triage function that blocks its thread until the test releases it: no
real paste can be made to stay slow on cue. If the listener ran that triage on the event loop, the second
request could not be served while the first is held, the hold would time out, and the test would fail
on ``released`` (not on a timing threshold).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.domain.models import TriageResult
from bot.domain.triage import reconcile, redact, triage
from bot.slack.services import Services
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks, make_services

HOLD = "hold-this-paste"
PASTE_A = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
           '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')
PASTE_B = ('Failed to pull image "ghcr.io/acme/api:v9": rpc error: code = NotFound desc = failed to resolve '
           'reference "ghcr.io/acme/api:v9": ghcr.io/acme/api:v9: not found')
HOLD_LIMIT_S = 30.0  # only reached when the test is failing


class HeldTriage:
    """Real triage, except that a paste containing ``HOLD`` waits for ``release``."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.released: list[bool] = []
        self.texts: list[str] = []

    def __call__(self, text: str, source: str | None = None) -> TriageResult:
        self.texts.append(text)
        if HOLD in text:
            self.released.append(self.release.wait(HOLD_LIMIT_S))
        return triage(text, source=source)


def services_with(held: Callable[..., TriageResult]) -> tuple[ScriptedChecks, Services]:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found(), "ghcr.io/acme/api:v9": not_found()})
    services = make_services(checks, MemoryStore(), triage=held, redact=lambda t: redact(t).text,
                             reconcile=reconcile)
    return checks, services


async def test_a_held_paste_does_not_stop_another_message_being_answered(slack_emulator: SlackEmulator) -> None:
    held = HeldTriage()
    checks, services = services_with(held)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01",
                       "text": f"{PASTE_A}\n{HOLD}", "ts": "1700001000.000100"})
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UBOB0001", "text": PASTE_B,
                       "ts": "1700001001.000100"})
        first = await slack_emulator.wait_for("chat.postMessage", 1, timeout=HOLD_LIMIT_S)
        assert first[0].args["thread_ts"] == "1700001001.000100"  # B answered while A was still held
        held.release.set()
        posts = await slack_emulator.wait_for("chat.postMessage", 4, timeout=HOLD_LIMIT_S)
        assert held.released == [True]
        assert {p.args["thread_ts"] for p in posts} == {"1700001000.000100", "1700001001.000100"}
        assert sorted(checks.calls) == [("docker.io/library/nginx:1.99", False), ("ghcr.io/acme/api:v9", False)]
    finally:
        held.release.set()
        await h.close()


async def test_a_held_shortcut_does_not_stop_a_message_being_answered(slack_emulator: SlackEmulator) -> None:
    held = HeldTriage()
    _checks, services = services_with(held)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.shortcut({"type": "message", "user": "UBOB0001", "text": f"{PASTE_A}\n{HOLD}",
                          "ts": "1700001010.000100"})
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UBOB0001", "text": PASTE_B,
                       "ts": "1700001011.000100"})
        first = await slack_emulator.wait_for("chat.postMessage", 1, timeout=HOLD_LIMIT_S)
        assert first[0].args["thread_ts"] == "1700001011.000100"
        held.release.set()
        posts = await slack_emulator.wait_for("chat.postMessage", 4, timeout=HOLD_LIMIT_S)
        assert held.released == [True]
        assert "1700001010.000100" in {p.args["thread_ts"] for p in posts}  # the shortcut still answered
    finally:
        held.release.set()
        await h.close()


async def test_a_message_delivered_twice_is_triaged_once(slack_emulator: SlackEmulator) -> None:
    # The same event id arriving again (a redelivery, or a second replica): the dedupe claim comes
    # before the triage, so a hostile paste costs its triage once.
    held = HeldTriage()
    held.release.set()
    checks, services = services_with(held)
    h = await Harness(slack_emulator, services).start()
    try:
        event = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE_A,
                 "ts": "1700001020.000100"}
        await h.event(event, event_id="EvRETRY001")
        await slack_emulator.wait_for("chat.postMessage", 2)
        await h.event(event, event_id="EvRETRY001")
        await slack_emulator.settle()
        assert len(held.texts) == 1
        assert len(slack_emulator.calls_to("chat.postMessage")) == 2
        assert checks.calls == [("docker.io/library/nginx:1.99", False)]
    finally:
        await h.close()


async def test_chatter_does_not_use_up_the_channel_rate(slack_emulator: SlackEmulator) -> None:
    held = HeldTriage()
    held.release.set()
    _checks, services = services_with(held)
    limit = services.options.channel_checks_per_minute
    h = await Harness(slack_emulator, services).start()
    try:
        for i in range(limit + 2):
            await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01",
                           "text": f"lunch at {i}?", "ts": f"1700001030.{i:06d}"})
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": PASTE_A,
                       "ts": "1700001040.000100"})
        posts = await slack_emulator.wait_for("chat.postMessage", 1)
        assert posts[0].args["thread_ts"] == "1700001040.000100"
    finally:
        await h.close()
