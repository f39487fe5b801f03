"""Diagnosis buttons end to end: pin_digest, show_tags, recheck, bypass_mirror, resolve_incident."""

from __future__ import annotations

import asyncio

from bot.domain.models import IncidentStatus, TimelineKind
from bot.slack.payloads import ActionPayload
from bot.slack.services import SlackOptions
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import DIGEST_A, DIGEST_ARM, DIGEST_B, not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, button_value, make_services

NGINX = "docker.io/library/nginx:1.27"
PARENT_TS = "1700000000.000001"
INCIDENT = f"CCHAN001:{PARENT_TS}"


async def diagnose(harness: Harness, scripted: ScriptedChecks, text: str = "nginx:1.27") -> str:
    """Run /imagecheck and return the diagnosis message's button value."""
    await harness.slash(text)
    posts = await harness.emulator.wait_for("chat.postMessage", 2)
    await harness.emulator.wait_for("chat.update", 1)
    return button_value(posts[1].blocks, "recheck")


async def test_pin_digest_posts_snippets_records_the_pin_and_updates_the_parent(
        harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    value = await diagnose(harness, scripted)
    await harness.click("pin_digest", value)
    posts = await harness.emulator.wait_for("chat.postMessage", 3)
    pin = posts[2]
    assert pin.args["thread_ts"] == PARENT_TS
    text = pin.all_text()
    assert f"docker.io/library/nginx@{DIGEST_A}" in text
    for snippet in ("kubectl set image", "FROM ", "images:", "image:"):
        assert snippet in text, snippet
    assert DIGEST_ARM in text  # per-platform alternative of the multi-arch index
    assert scripted.calls[-1] == (NGINX, True)  # re-resolved now, bypassing the cache
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert [p.digest for p in incident.pins] == [DIGEST_A]
    assert incident.pins[0].by == "UALICE01"
    assert incident.timeline[-1].kind is TimelineKind.pinned
    updates = await harness.emulator.wait_for("chat.update", 2)
    assert updates[-1].args["ts"] == PARENT_TS
    assert f"nginx@{DIGEST_A}" in updates[-1].all_text()


async def test_pin_when_the_tag_moved_offers_both_digests(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok(digest=DIGEST_A)
    value = await diagnose(harness, scripted)
    scripted.answers[NGINX] = ok(digest=DIGEST_B)  # someone re-pushed the tag
    await harness.click("pin_digest", value)
    posts = await harness.emulator.wait_for("chat.postMessage", 3)
    moved = posts[2]
    assert "moved" in moved.text
    assert DIGEST_A in moved.all_text()
    assert DIGEST_B in moved.all_text()
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.pins == []  # nothing pinned until the user chooses
    choice = button_value(moved.blocks, "pin_digest")
    assert ActionPayload.model_validate_json(choice).digest == DIGEST_B
    await harness.click("pin_digest", choice, message_ts=moved.args.get("ts", "1700000000.000003"))
    posts = await harness.emulator.wait_for("chat.postMessage", 4)
    assert f"nginx@{DIGEST_B}" in posts[3].all_text()
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert [p.digest for p in incident.pins] == [DIGEST_B]


async def test_double_click_acts_once(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    value = await diagnose(harness, scripted)
    await asyncio.gather(harness.click("pin_digest", value), harness.click("pin_digest", value))
    await harness.emulator.wait_for("chat.postMessage", 3)
    await harness.emulator.settle()
    assert len(harness.emulator.posts()) == 3
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert len(incident.pins) == 1
    answers = [c.text for c in harness.emulator.calls_to("response_url")]
    assert sum("clicked a moment ago" in a for a in answers) == 1  # the second click isn't met with silence


async def test_a_click_refused_for_expired_state_can_be_retried_at_once(harness: Harness) -> None:
    # A refused click changed nothing, so it must not count as the click the dedupe window protects.
    value = ActionPayload(incident="CCHAN001:1700000000.999999", ref="docker.io/library/nginx:1.27").model_dump_json()
    await harness.click("pin_digest", value)
    await harness.click("pin_digest", value)
    await harness.emulator.wait_for("response_url", 2)
    await harness.emulator.settle()
    answers = [c.text for c in harness.emulator.calls_to("response_url")]
    assert len(answers) == 2
    assert all("expired" in a for a in answers)


async def test_show_tags_lists_valid_tags_only(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    scripted.tags = ["1.27", "1.26", "<!channel>", "bad tag"]
    value = await diagnose(harness, scripted, "nginx:1.99")
    await harness.click("show_tags", value)
    posts = await harness.emulator.wait_for("chat.postMessage", 3)
    text = posts[2].all_text()
    assert "1.27" in text
    assert "1.26" in text
    assert "channel" not in text
    assert "bad tag" not in text


async def test_recheck_bypasses_the_cache_and_says_what_changed(harness: Harness,
                                                                scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok(digest=DIGEST_A)
    value = await diagnose(harness, scripted)
    scripted.answers[NGINX] = ok(digest=DIGEST_B)
    await harness.click("recheck", value)
    posts = await harness.emulator.wait_for("chat.postMessage", 4)
    assert f"digest: {DIGEST_A} -> {DIGEST_B}" in posts[2].all_text().replace("&gt;", ">")
    assert posts[3].args["thread_ts"] == PARENT_TS
    assert scripted.calls[-1] == (NGINX, True)
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.diagnoses[NGINX].digest == DIGEST_B
    assert incident.timeline[-1].kind is TimelineKind.rechecked


async def test_bypass_mirror_button_only_with_mirrors_and_compares(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({NGINX: ok()})
    checks.mirror_answer = ok().model_copy(update={"summary": "Upstream and mirror.example agree"})
    options = SlackOptions(mirrors={"docker.io": ["mirror.example"]})
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        value = await diagnose(h, checks)
        await h.click("bypass_mirror", value)
        posts = await slack_emulator.wait_for("chat.postMessage", 3)
        assert "mirror.example agree" in posts[2].all_text()
        incident = await h.services.store.get_incident(INCIDENT)
        assert incident is not None
        assert incident.timeline[-1].kind is TimelineKind.mirror_compared
    finally:
        await h.close()


async def test_no_bypass_mirror_button_without_mirrors(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    await diagnose(harness, scripted)
    actions = [e["action_id"] for b in harness.emulator.posts()[1].blocks if b["type"] == "actions"
               for e in b["elements"]]
    assert actions == ["pin_digest", "show_tags", "recheck", "resolve_incident"]


async def test_resolve_marks_the_incident_and_updates_the_parent(harness: Harness,
                                                                 scripted: ScriptedChecks) -> None:
    scripted.answers[NGINX] = ok()
    value = await diagnose(harness, scripted)
    await harness.click("resolve_incident", value)
    updates = await harness.emulator.wait_for("chat.update", 2)
    assert "Resolved" in updates[-1].all_text()
    incident = await harness.services.store.get_incident(INCIDENT)
    assert incident is not None
    assert incident.status is IncidentStatus.resolved
    assert incident.timeline[-1].kind is TimelineKind.resolved


async def test_click_on_an_expired_incident_answers_clearly(harness: Harness,
                                                            scripted: ScriptedChecks) -> None:
    value = ActionPayload(incident="CCHAN001:1600000000.000001", ref=NGINX, digest=DIGEST_A).model_dump_json()
    await harness.click("pin_digest", value)
    responses = await harness.emulator.wait_for("response_url", 1)
    assert "expired" in responses[-1].text
    assert scripted.calls == []


async def test_a_foreign_button_value_is_refused(harness: Harness, scripted: ScriptedChecks) -> None:
    await harness.click("recheck", '{"something": "else"}')
    responses = await harness.emulator.wait_for("response_url", 1)
    assert "expired" in responses[-1].text
    assert scripted.calls == []


async def test_pin_and_resolve_can_be_limited_to_a_user_group(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({NGINX: ok()})
    options = SlackOptions(pin_allowed_users=("UBOSS001",), pin_allowed_usergroup="SOPS0001")
    slack_emulator.usergroups["SOPS0001"] = ["UOPS0001"]
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        value = await diagnose(h, checks)
        await h.click("pin_digest", value, user="UALICE01")
        refusal = await slack_emulator.wait_for("response_url", 2)
        assert "Only the people configured" in refusal[-1].text
        await h.click("pin_digest", value, user="UOPS0001")  # in the group
        await slack_emulator.wait_for("chat.postMessage", 3)
        await h.click("resolve_incident", value, user="UBOSS001", message_ts="1700000000.000009")  # listed
        await slack_emulator.wait_for("chat.update", 3)
        incident = await h.services.store.get_incident(INCIDENT)
        assert incident is not None
        assert [p.by for p in incident.pins] == ["UOPS0001"]
        assert incident.status is IncidentStatus.resolved
    finally:
        await h.close()
