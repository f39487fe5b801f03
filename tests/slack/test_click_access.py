"""Who may click pin_digest / resolve_incident when ``slack.pin_requires_channel_member`` is set: the
real app over signed HTTP, with channel membership answered by the Slack emulator's
``conversations.members`` (paginated with cursors, as Slack does)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from slack_sdk.errors import SlackApiError

from bot.domain.models import IncidentStatus
from bot.slack.click_access import MEMBERS_PAGE_SIZE
from bot.slack.posting import make_client
from bot.slack.services import SlackOptions
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import ok
from tests.slack.harness import Harness, ScriptedChecks, button_value, make_services

NGINX = "docker.io/library/nginx:1.27"
CHANNEL = "CCHAN001"
INCIDENT = f"{CHANNEL}:1700000000.000001"
MEMBER = "UMEMB001"
OUTSIDER = "UOUTS001"


def crowd(n: int) -> list[str]:
    return [f"UCROWD{i:05d}" for i in range(n)]


async def diagnose(h: Harness) -> str:
    await h.slash("nginx:1.27", channel=CHANNEL)
    posts = await h.emulator.wait_for("chat.postMessage", 2)
    await h.emulator.wait_for("chat.update", 1)
    return button_value(posts[1].blocks, "pin_digest")


@pytest_asyncio.fixture
async def gated(slack_emulator: SlackEmulator) -> AsyncIterator[Harness]:
    """An app where only members of the clicked channel may pin or resolve."""
    checks = ScriptedChecks({NGINX: ok()})
    options = SlackOptions(pin_requires_channel_member=True)
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        yield h
    finally:
        await h.close()


# --- the emulator answers conversations.members like Slack ---------------------------------------


async def test_emulator_pages_channel_members_with_cursors(slack_emulator: SlackEmulator) -> None:
    slack_emulator.channel_members[CHANNEL] = crowd(5)
    client = make_client("xoxb-test-token", slack_emulator.api_url)
    pages: list[list[str]] = []
    cursor = ""
    while True:
        resp = await client.conversations_members(channel=CHANNEL, limit=2, cursor=cursor or None)
        pages.append(list(resp["members"]))
        cursor = resp["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == [crowd(5)[0:2], crowd(5)[2:4], crowd(5)[4:5]]
    with pytest.raises(SlackApiError) as unknown:
        await client.conversations_members(channel="CNOPE001")
    assert unknown.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as bad_cursor:
        await client.conversations_members(channel=CHANNEL, cursor="not a cursor!")
    assert bad_cursor.value.response["error"] == "invalid_cursor"


# --- the rule end to end -------------------------------------------------------------------------


async def test_a_member_found_on_a_later_page_may_pin(gated: Harness) -> None:
    # The clicker is past the first page, so the bot must follow next_cursor to find them.
    gated.emulator.channel_members[CHANNEL] = [*crowd(MEMBERS_PAGE_SIZE + 200), MEMBER]
    value = await diagnose(gated)
    await gated.click("pin_digest", value, user=MEMBER, channel=CHANNEL)
    posts = await gated.emulator.wait_for("chat.postMessage", 3)
    assert "kubectl set image" in posts[2].all_text()
    walks = gated.emulator.calls_to("conversations.members")
    assert [c.args.get("channel") for c in walks] == [CHANNEL, CHANNEL]
    assert walks[1].args.get("cursor")  # the second page was asked for by cursor
    incident = await gated.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert [p.by for p in incident.pins] == [MEMBER]


async def test_a_non_member_gets_an_ephemeral_refusal_and_nothing_changes(gated: Harness) -> None:
    gated.emulator.channel_members[CHANNEL] = [MEMBER]
    value = await diagnose(gated)
    await gated.click("resolve_incident", value, user=OUTSIDER, channel=CHANNEL)
    refusal = await gated.emulator.wait_for("response_url", 2)
    assert refusal[-1].args.get("response_type") == "ephemeral"
    assert "Only the people configured" in refusal[-1].text
    await gated.emulator.settle()
    assert len(gated.emulator.posts()) == 2  # no "Resolved by" post
    incident = await gated.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.open


async def test_a_burst_of_clicks_reads_the_member_list_once(gated: Harness) -> None:
    gated.emulator.channel_members[CHANNEL] = [MEMBER, "UMEMB002"]
    value = await diagnose(gated)
    await gated.click("pin_digest", value, user=MEMBER, channel=CHANNEL)
    await gated.emulator.wait_for("chat.postMessage", 3)
    await gated.click("resolve_incident", value, user="UMEMB002", channel=CHANNEL,
                      message_ts="1700000000.000009")
    await gated.emulator.wait_for("chat.postMessage", 4)
    await gated.click("pin_digest", value, user=OUTSIDER, channel=CHANNEL, message_ts="1700000000.000010")
    await gated.emulator.wait_for("response_url", 2)
    assert len(gated.emulator.calls_to("conversations.members")) == 1
    incident = await gated.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.resolved


async def test_when_slack_cannot_say_who_is_in_the_channel_the_click_is_refused(gated: Harness) -> None:
    # No member list for the channel: the emulator answers channel_not_found, as Slack does for a
    # private channel the app was never added to.
    value = await diagnose(gated)
    await gated.click("pin_digest", value, user=MEMBER, channel=CHANNEL)
    refusal = await gated.emulator.wait_for("response_url", 2)
    assert refusal[-1].args.get("response_type") == "ephemeral"
    assert "Could not check channel membership" in refusal[-1].text
    await gated.emulator.settle()
    assert len(gated.emulator.posts()) == 2  # nothing pinned
    # Not cached as an empty list: once Slack answers, the same member may pin.
    gated.emulator.channel_members[CHANNEL] = [MEMBER]
    await gated.click("pin_digest", value, user=MEMBER, channel=CHANNEL, message_ts="1700000000.000009")
    posts = await gated.emulator.wait_for("chat.postMessage", 3)
    assert "kubectl set image" in posts[2].all_text()


async def test_unrestricted_buttons_never_ask_for_members(gated: Harness) -> None:
    scripted_value = await diagnose(gated)
    await gated.click("show_tags", scripted_value, user=OUTSIDER, channel=CHANNEL)
    await gated.emulator.wait_for("chat.postMessage", 3)
    assert gated.emulator.calls_to("conversations.members") == []


async def test_any_configured_rule_admits(slack_emulator: SlackEmulator) -> None:
    """User group and channel members together: in either one is enough; in neither is refused."""
    checks = ScriptedChecks({NGINX: ok()})
    options = SlackOptions(pin_allowed_usergroup="SOPS0001", pin_requires_channel_member=True)
    slack_emulator.usergroups["SOPS0001"] = ["UOPS0001"]  # on call, not in the channel
    slack_emulator.channel_members[CHANNEL] = [MEMBER]  # in the channel, not on call
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        value = await diagnose(h)
        await h.click("pin_digest", value, user=OUTSIDER, channel=CHANNEL)
        refusal = await slack_emulator.wait_for("response_url", 2)
        assert "Only the people configured" in refusal[-1].text
        await h.click("pin_digest", value, user="UOPS0001", channel=CHANNEL, message_ts="1700000000.000008")
        await slack_emulator.wait_for("chat.postMessage", 3)
        await h.click("pin_digest", value, user=MEMBER, channel=CHANNEL, message_ts="1700000000.000009")
        await slack_emulator.wait_for("chat.postMessage", 4)
        incident = await h.services.store.get_incident(INCIDENT)
        assert incident is not None
        assert [p.by for p in incident.pins] == ["UOPS0001", MEMBER]
    finally:
        await h.close()


async def test_a_broken_user_group_does_not_block_a_channel_member(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({NGINX: ok()})
    options = SlackOptions(pin_allowed_usergroup="SGONE001", pin_requires_channel_member=True)
    slack_emulator.channel_members[CHANNEL] = [MEMBER]  # SGONE001 is unknown: no_such_subteam
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        value = await diagnose(h)
        await h.click("pin_digest", value, user=MEMBER, channel=CHANNEL)
        await slack_emulator.wait_for("chat.postMessage", 3)
        await h.click("pin_digest", value, user=OUTSIDER, channel=CHANNEL, message_ts="1700000000.000009")
        refusal = await slack_emulator.wait_for("response_url", 2)
        # The outsider might have been in the group we could not read: say so, don't claim a refusal.
        assert "Could not check the user group" in refusal[-1].text
    finally:
        await h.close()


async def test_no_rule_configured_lets_anyone_pin_without_asking_slack(harness: Harness,
                                                                       scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    value = await diagnose(harness)
    await harness.click("pin_digest", value, user=OUTSIDER, channel=CHANNEL)
    await harness.emulator.wait_for("chat.postMessage", 3)
    assert harness.emulator.calls_to("conversations.members") == []
    assert harness.emulator.calls_to("usergroups.users.list") == []


def test_the_setting_reaches_the_listeners() -> None:
    from bot.settings import Settings, SlackSettings
    from bot.web import slack_options

    assert slack_options(Settings()).pin_requires_channel_member is False
    options = slack_options(Settings(slack=SlackSettings(pin_requires_channel_member=True)))
    assert options.pin_requires_channel_member is True
