"""The message shortcut keeps an incident only for a thread it answered in.

Where the bot is not a member of the channel, the user gets the triage and the checks privately and
nothing is kept: an incident there would be a thread with none of the bot's messages, listed on the
user's App Home with nothing to click through to. Where the bot is a member, the thread becomes an
incident as before.
"""

from __future__ import annotations

import json
from typing import Any

from bot.domain.triage import reconcile, redact, triage
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks, make_services

PASTE = ('Failed to pull image "nginx:1.99": rpc error: code = NotFound desc = failed to resolve reference '
         '"docker.io/library/nginx:1.99": docker.io/library/nginx:1.99: not found')


def harness_parts() -> tuple[ScriptedChecks, MemoryStore, Any]:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found()})
    store = MemoryStore()
    services = make_services(checks, store, triage=lambda t, s: triage(t, source=s),
                             redact=lambda t: redact(t).text, reconcile=reconcile)
    return checks, store, services


def has_buttons(blocks: list[dict[str, Any]]) -> bool:
    return any(block.get("type") == "actions" for block in blocks)


async def home_of(h: Harness, user: str) -> str:
    await h.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"})
    views = await h.emulator.wait_for("views.publish", 1)
    return json.dumps(views[-1].args["view"])


async def test_not_a_member_answers_privately_and_keeps_no_incident(slack_emulator: SlackEmulator) -> None:
    checks, store, services = harness_parts()
    slack_emulator.not_member_channels.add("CNOTIN01")
    h = await Harness(slack_emulator, services).start()
    try:
        await h.shortcut({"type": "message", "user": "UBOB0001", "text": PASTE, "ts": "1700000970.000100"},
                         user="UALICE01", channel="CNOTIN01")
        responses = await slack_emulator.wait_for("response_url", 2)
        await slack_emulator.settle()

        assert "not kept as an incident" in responses[0].all_text()
        assert "Tag not found" in responses[1].all_text()
        assert not any(has_buttons(r.blocks) for r in responses)  # no incident for a button to act on
        assert await store.get_incident("CNOTIN01:1700000970.000100") is None
        assert await store.list_incidents(include_resolved=True) == []
        assert await store.list_user_incidents("UALICE01", include_resolved=True) == []
        assert checks.calls == [("docker.io/library/nginx:1.99", False)]  # checked once, not again privately
        assert "no open incidents" in await home_of(h, "UALICE01")
    finally:
        await h.close()


async def test_a_member_answers_in_the_thread_and_keeps_the_incident(slack_emulator: SlackEmulator) -> None:
    _, store, services = harness_parts()
    h = await Harness(slack_emulator, services).start()
    try:
        # A reply inside a thread: the incident is the thread's, keyed by its root.
        await h.shortcut({"type": "message", "user": "UBOB0001", "text": PASTE, "ts": "1700000990.000200",
                          "thread_ts": "1700000980.000100"}, user="UALICE01", channel="CCHAN001")
        posts = await slack_emulator.wait_for("chat.postMessage", 2)

        assert all(p.args["thread_ts"] == "1700000980.000100" for p in posts)
        assert has_buttons(posts[1].blocks)
        incident = await store.get_incident("CCHAN001:1700000980.000100")
        assert incident is not None
        assert incident.created_by == "UALICE01"
        assert "docker.io/library/nginx:1.99" in incident.references
        assert [i.id for i in await store.list_user_incidents("UALICE01")] == [incident.id]
        assert "CCHAN001:1700000980.000100" in await home_of(h, "UALICE01")
        assert slack_emulator.calls_to("response_url") == []  # nothing private when the thread has it
    finally:
        await h.close()


async def test_a_later_refused_post_in_a_member_channel_is_not_called_not_a_member(
        slack_emulator: SlackEmulator) -> None:
    # Fault injection (the emulator's ``refuse``): Slack refuses the diagnosis, the second post, with
    # msg_too_long, which our renderer never provokes. The thread is ours and the incident kept, so the
    # asker must not be told privately "I can't reply in this channel ... not kept" (found in review).
    _, store, services = harness_parts()
    slack_emulator.refuse("chat.postMessage", "msg_too_long", nth=2)
    h = await Harness(slack_emulator, services).start()
    try:
        await h.shortcut({"type": "message", "user": "UBOB0001", "text": PASTE, "ts": "1700000990.000200"},
                         user="UALICE01", channel="CCHAN001")
        await slack_emulator.wait_for("chat.postMessage", 1)
        await slack_emulator.settle()
        assert slack_emulator.calls_to("response_url") == []  # no private second answer
        assert await store.get_incident("CCHAN001:1700000990.000200") is not None
    finally:
        await h.close()

