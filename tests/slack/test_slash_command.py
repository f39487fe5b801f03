"""/imagecheck end to end over HTTP: ack, parent message, threaded diagnosis, errors, rate limits."""

from __future__ import annotations

import asyncio
import json
import time

from bot.slack.services import SlackOptions
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, make_services


async def test_slash_command_acks_ephemerally_then_threads_the_diagnosis(harness: Harness,
                                                                         scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    status, body = await harness.slash("nginx:1.99")
    assert status == 200
    ack = json.loads(body)
    assert ack["response_type"] == "ephemeral"
    assert "Checking" in ack["text"] or "Checking" in json.dumps(ack["blocks"])

    posts = await harness.emulator.wait_for("chat.postMessage", 2)
    parent, reply = posts[0], posts[1]
    assert parent.args["channel"] == "CCHAN001"
    assert "thread_ts" not in parent.args
    assert "<@UALICE01>" in parent.all_text()  # who asked
    parent_ts = "1700000000.000001"
    assert reply.args["thread_ts"] == parent_ts
    assert "Tag not found" in reply.all_text()
    assert "docker.io/library/nginx:1.99" in reply.all_text()
    assert "MANIFEST_UNKNOWN" in reply.all_text()
    for call in (parent, reply):
        assert str(call.args["unfurl_links"]).lower() == "false"
        assert str(call.args["unfurl_media"]).lower() == "false"
        assert str(call.args["link_names"]).lower() in {"false", "0"}
    # the parent is updated to show the verdict
    updates = await harness.emulator.wait_for("chat.update", 1)
    assert updates[0].args["ts"] == parent_ts
    assert "Tag not found" in updates[0].all_text()
    done = await harness.emulator.wait_for("response_url", 1)
    assert done[-1].args.get("replace_original") in (True, "true")


async def test_help_and_empty_text_answer_usage_without_checking(harness: Harness,
                                                                 scripted: ScriptedChecks) -> None:
    for text in ("", "help"):
        status, body = await harness.slash(text)
        assert status == 200
        assert "Usage" in json.loads(body)["text"]
    await harness.emulator.settle()
    assert scripted.calls == []
    assert harness.emulator.posts() == []


async def test_invalid_reference_answers_with_the_parse_error_and_hint(harness: Harness,
                                                                        scripted: ScriptedChecks) -> None:
    status, body = await harness.slash("Nginx:latest")
    assert status == 200
    text = json.dumps(json.loads(body))
    assert "not a valid image reference" in text
    assert "nginx:latest" in text  # the suggestion
    await harness.emulator.settle()
    assert scripted.calls == []


async def test_overlong_slash_text_is_refused(harness: Harness, scripted: ScriptedChecks) -> None:
    status, body = await harness.slash("nginx " * 300)
    assert status == 200
    assert "at most 1024" in json.loads(body)["text"]
    await harness.emulator.settle()
    assert scripted.calls == []


async def test_several_references_are_checked_concurrently_into_one_thread(harness: Harness,
                                                                           scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    scripted.answers["docker.io/library/nginx:1.27"] = ok()
    scripted.hang = asyncio.Event()
    await harness.slash("nginx:1.99 nginx:1.27 --platform linux/arm64")
    # both checks are in flight at once before either finishes
    for _ in range(200):
        if len(scripted.calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert sorted(c[0] for c in scripted.calls) == ["docker.io/library/nginx:1.27",
                                                     "docker.io/library/nginx:1.99"]
    scripted.hang.set()
    posts = await harness.emulator.wait_for("chat.postMessage", 3)
    parent_ts = "1700000000.000001"
    assert [p.args.get("thread_ts") for p in posts[1:]] == [parent_ts, parent_ts]
    update = (await harness.emulator.wait_for("chat.update", 1))[-1]
    assert "Tag not found" in update.all_text()
    assert "Image is pullable" in update.all_text()


async def test_a_refused_diagnosis_post_still_ends_in_done_and_the_other_reference_posts(
        harness: Harness, scripted: ScriptedChecks) -> None:
    # Fault injection (the emulator's ``refuse``): Slack refuses the first diagnosis post (msg_too_long,
    # which our renderer never provokes). Before, the error escaped the listener and left the asker's
    # "Checking…" up with no "Done" (found in review).
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    scripted.answers["docker.io/library/nginx:1.27"] = ok()
    harness.emulator.refuse("chat.postMessage", "msg_too_long", nth=2)  # 1 is the thread's root
    await harness.slash("nginx:1.99 nginx:1.27")
    responses = await harness.emulator.wait_for("response_url", 1)
    await harness.emulator.settle()
    assert any("Done" in r.text for r in responses)
    threaded = [p.all_text() for p in harness.emulator.posts() if p.args.get("thread_ts")]
    assert len(threaded) == 2  # both diagnoses were tried; Slack took one of them
    assert any("Image is pullable" in t for t in threaded)
    assert any("Tag not found" in t for t in threaded)


async def test_ack_is_immediate_while_the_registry_hangs(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    scripted.hang = asyncio.Event()  # the check never returns until released
    started = time.monotonic()
    status, _ = await harness.slash("nginx:1.99")
    assert status == 200
    assert time.monotonic() - started < 3.0  # Slack's deadline, not a speed target
    scripted.hang.set()
    await harness.emulator.wait_for("chat.postMessage", 2)


async def test_rate_limited_user_gets_a_friendly_ephemeral(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.27": ok()})
    services = make_services(checks, MemoryStore(), options=SlackOptions(user_checks_per_minute=1))
    h = await Harness(slack_emulator, services).start()
    try:
        await h.slash("nginx:1.27")
        await slack_emulator.wait_for("chat.postMessage", 2)
        await h.slash("nginx:1.27")
        responses = await slack_emulator.wait_for("response_url", 2)
        assert any("faster than this workspace allows" in r.text for r in responses)
        await slack_emulator.settle()
        assert len(checks.calls) == 1
    finally:
        await h.close()


async def test_not_a_member_answers_privately(harness: Harness, scripted: ScriptedChecks) -> None:
    scripted.answers["docker.io/library/nginx:1.99"] = not_found()
    harness.emulator.not_member_channels.add("CPRIVATE")
    await harness.slash("nginx:1.99", channel="CPRIVATE")
    responses = await harness.emulator.wait_for("response_url", 1)
    assert "Tag not found" in responses[-1].all_text()
    assert responses[-1].args["response_type"] == "ephemeral"
