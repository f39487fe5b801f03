"""The slash command's parent message: its plain-text fallback (notifications, screen readers) names
what is being checked, including while only the placeholder incident exists."""

from __future__ import annotations

from bot.domain.models import Incident
from bot.slack.render import render_parent
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found
from tests.slack.harness import Harness, ScriptedChecks

NGINX = "docker.io/library/nginx:1.99"
REDIS = "docker.io/library/redis:7"


def test_pending_parent_text_names_the_references() -> None:
    pending = Incident(id="pending", channel="C1", thread_ts="pending", created_by="UALICE01")
    text = render_parent(pending, "UALICE01", pending=[NGINX, REDIS]).text
    assert NGINX in text
    assert REDIS in text
    assert "checking" in text


def test_half_checked_parent_text_has_verdicts_and_what_is_still_checking() -> None:
    incident = Incident(id="C1:1.2", channel="C1", thread_ts="1.2", references=[NGINX, REDIS],
                        diagnoses={NGINX: not_found()})
    text = render_parent(incident, "UALICE01").text
    assert f"Tag not found: {NGINX}" in text
    assert f"checking {REDIS}" in text


async def test_slash_parent_post_carries_the_reference_in_its_text(harness: Harness,
                                                                   scripted: ScriptedChecks,
                                                                   slack_emulator: SlackEmulator) -> None:
    scripted.answers[NGINX] = not_found()
    await harness.slash("nginx:1.99")
    parent = (await slack_emulator.wait_for("chat.postMessage", 1))[0]
    assert NGINX in parent.text
