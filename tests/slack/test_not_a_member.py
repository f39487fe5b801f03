"""Where the bot is not a member (posting fails with not_in_channel) the user still gets every answer,
privately, through the response_url: successes, failures and channel-restricted registries alike."""

from __future__ import annotations

from bot.domain.triage import reconcile, redact, triage
from bot.slack.services import SlackOptions
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks, make_services

PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


async def test_slash_answers_a_restricted_registry_privately(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    options = SlackOptions(registry_channels={"docker.io": ("GPRIV001",)})
    slack_emulator.not_member_channels.add("CNOTIN01")
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        await h.slash("nginx:1.99", channel="CNOTIN01")
        responses = await slack_emulator.wait_for("response_url", 1)
        assert responses[0].args["response_type"] == "ephemeral"
        assert "limited to certain channels" in responses[0].all_text()
        assert str(responses[0].args["replace_original"]).lower() == "true"  # "Checking…" does not linger
        assert checks.calls == []
    finally:
        await h.close()


async def test_slash_answers_a_failed_check_privately_next_to_the_good_ones(
        slack_emulator: SlackEmulator) -> None:
    # ScriptedChecks raises for a reference it has no answer for: the "check failed unexpectedly" path.
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    slack_emulator.not_member_channels.add("CNOTIN01")
    h = await Harness(slack_emulator, make_services(checks, MemoryStore())).start()
    try:
        await h.slash("nginx:1.99 redis:7", channel="CNOTIN01")
        responses = await slack_emulator.wait_for("response_url", 2)
        texts = [r.all_text() for r in responses]
        assert any("Tag not found" in t for t in texts)
        assert any("docker.io/library/redis:7" in t and "failed unexpectedly" in t for t in texts)
        assert all(r.args["response_type"] == "ephemeral" for r in responses)
    finally:
        await h.close()


async def test_shortcut_where_the_bot_is_not_a_member_answers_privately(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    services = make_services(checks, MemoryStore(), triage=lambda t, s: triage(t, source=s),
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    slack_emulator.not_member_channels.add("CNOTIN01")
    h = await Harness(slack_emulator, services).start()
    try:
        status, _ = await h.shortcut({"type": "message", "user": "UBOB0001", "text": PASTE,
                                      "ts": "1700000970.000100"}, channel="CNOTIN01")
        assert status == 200
        responses = await slack_emulator.wait_for("response_url", 2)
        first, diagnosis = responses[0].all_text(), responses[1].all_text()
        assert "invite" in first.lower()
        assert "Looks like" in first  # the triage itself, not only an apology
        assert "Tag not found" in diagnosis
        assert "docker.io/library/nginx:1.99" in diagnosis
        assert all(r.args["response_type"] == "ephemeral" for r in responses)
    finally:
        await h.close()
