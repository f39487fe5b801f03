"""References Slack wrapped as links (``<http://foo.io/x:1|foo.io/x:1>``, ``<https://...>``) are checked as
the person typed them, through the slash command, an @mention and a pasted error."""

from __future__ import annotations

import json

import pytest

from bot.domain.triage import reconcile, redact, triage
from bot.slack.command_text import CheckRequest, Refusal, parse_command_text
from bot.slack.links import as_typed, unwrap_slack_links
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, make_services

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("wrapped", "typed"), [
    ("<http://foo.io/x:1|foo.io/x:1>", "foo.io/x:1"),
    ("<https://ghcr.io/org/app:1.2>", "ghcr.io/org/app:1.2"),
    ("<http://registry.local:5000/team/app:2|registry.local:5000/team/app:2>", "registry.local:5000/team/app:2"),
    (f"<http://foo.io/x:1|foo.io/x:1>@{DIGEST}", f"foo.io/x:1@{DIGEST}"),
    ("nginx <https://quay.io/a/b|quay.io/a/b> -p linux/arm64", "nginx quay.io/a/b -p linux/arm64"),
    ("<@U123ABC> <#C123|general> <!here>", "<@U123ABC> <#C123|general> <!here>"),  # not links: untouched
])
def test_unwrap_gives_back_what_was_typed(wrapped: str, typed: str) -> None:
    assert unwrap_slack_links(wrapped) == typed


def test_a_wrapped_reference_parses_like_the_bare_one() -> None:
    wrapped = parse_command_text("<http://foo.io/x:1|foo.io/x:1> --platform linux/arm64")
    bare = parse_command_text("foo.io/x:1 --platform linux/arm64")
    assert isinstance(wrapped, CheckRequest)
    assert wrapped == bare


def test_a_user_mention_is_still_not_a_reference() -> None:
    assert isinstance(parse_command_text("<@U123ABC>"), Refusal)


async def test_slash_command_checks_the_reference_inside_a_slack_link(harness: Harness,
                                                                      scripted: ScriptedChecks) -> None:
    scripted.answers["foo.io/x:1"] = not_found()
    scripted.answers["ghcr.io/org/app:1.2"] = ok()
    status, body = await harness.slash("<http://foo.io/x:1|foo.io/x:1> <https://ghcr.io/org/app:1.2>")
    assert status == 200
    ack = json.dumps(json.loads(body))
    assert "foo.io/x:1" in ack
    assert "not a valid image reference" not in ack
    posts = await harness.emulator.wait_for("chat.postMessage", 3)
    assert sorted(c[0] for c in scripted.calls) == ["foo.io/x:1", "ghcr.io/org/app:1.2"]
    replies = " ".join(p.all_text() for p in posts[1:])
    assert "Tag not found" in replies
    assert "http://" not in replies


async def test_mention_checks_the_reference_inside_a_slack_link(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"foo.io/x:1": not_found()})
    services = make_services(checks, MemoryStore(), triage=lambda text, source: triage(text, source=source),
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.event({"type": "app_mention", "channel": "CCHAN001", "user": "UALICE01",
                       "text": "<@UBOT0001> <http://foo.io/x:1|foo.io/x:1>", "ts": "1700000810.000100"})
        posts = await slack_emulator.wait_for("chat.postMessage", 1)
        assert posts[0].args["thread_ts"] == "1700000810.000100"
        assert "Tag not found" in posts[0].all_text()
        assert checks.calls == [("foo.io/x:1", False)]
    finally:
        await h.close()


def test_pasted_text_keeps_urls_whole() -> None:
    assert as_typed("GET <https://registry.example/v2/> then <http://foo.io/x:1|foo.io/x:1>") == \
        "GET https://registry.example/v2/ then foo.io/x:1"


async def test_a_pasted_error_with_a_linked_reference_is_checked(slack_emulator: SlackEmulator) -> None:
    wrapped = "<http://ghcr.io/acme/api:v9|ghcr.io/acme/api:v9>"
    paste = (f'Failed to pull image "{wrapped}": rpc error: code = NotFound desc = failed to resolve '
             f'reference "{wrapped}": {wrapped}: not found')
    checks = ScriptedChecks({"ghcr.io/acme/api:v9": not_found()})
    services = make_services(checks, MemoryStore(), triage=lambda text, source: triage(text, source=source),
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.event({"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": paste,
                       "ts": "1700000820.000100"})
        posts = await slack_emulator.wait_for("chat.postMessage", 2)
        assert checks.calls == [("ghcr.io/acme/api:v9", False)]
        assert "Tag not found" in posts[1].all_text()
    finally:
        await h.close()
