"""The pure renderer: limits, fallbacks and that untrusted text can never ping or link."""

from __future__ import annotations

import json
import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.domain.models import (
    Category,
    CategoryScore,
    Diagnosis,
    Evidence,
    ExtractedReference,
    Finding,
    Incident,
    Pin,
    RemediationStep,
    Severity,
    TriageEvidence,
    TriageResult,
    Verdict,
)
from bot.slack.escape import escape
from bot.slack.render import render_diagnosis, render_parent, render_triage
from bot.slack.render_followups import render_home, render_tags
from tests.slack.diagnoses import DIGEST_A, not_found, ok
from tests.slack.harness import ref

LIVE = re.compile(r"<(!channel|!here|!everyone|!subteam\^[^>]*|@[UW][A-Z0-9]*|#C[A-Z0-9]*|https?:[^>]*)[|>]")
HOSTILE = ["<!channel>", "<!here|here>", "<!everyone>", "<@U12345678>", "&lt;!channel&gt;",
           "&amp;lt;!here&amp;gt;", "<https://evil.example|click me>", "<!subteam^S123>", "@channel",
           "```<!channel>```", "`<@U1>`"]


def _without_button_values(node: object) -> object:
    # A button's value is opaque data Slack hands back to us on a click; it is never displayed.
    if isinstance(node, dict):
        return {k: _without_button_values(v) for k, v in node.items() if k != "value"}
    if isinstance(node, list):
        return [_without_button_values(v) for v in node]
    return node


def strings(rendered_blocks: list[dict[str, object]], text: str) -> str:
    """Everything Slack would display (and parse for mentions): the fallback and the blocks."""
    return text + json.dumps(_without_button_values(rendered_blocks))


def live_tokens(blob: str) -> list[str]:
    return LIVE.findall(blob)


def hostile_diagnosis(message: str) -> Diagnosis:
    return not_found(message=message).model_copy(update={
        "summary": message, "suggested_tags": [message, "1.27"], "degraded": [message],
        "remediation": [RemediationStep(text=message, command=message)],
        "findings": [Finding(kind="x", severity=Severity.error, summary=message,
                             evidence=Evidence(status=404, error_code=message, message=message,
                                               log_line=message))],
    })


def test_hostile_registry_messages_never_become_live() -> None:
    for bad in HOSTILE:
        r = render_diagnosis(hostile_diagnosis(bad), incident_id="C1:1.2")
        assert live_tokens(strings(r.as_dicts(), r.text)) == [], bad
        assert "@channel" not in strings(r.as_dicts(), r.text)


def test_pre_escaped_input_stays_inert() -> None:
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert escape("<!here>") == "&lt;!here&gt;"


def test_only_the_bots_own_mentions_are_live() -> None:
    nginx = "docker.io/library/nginx:1.27"
    pin = Pin(reference=nginx, pinned="docker.io/library/nginx@" + DIGEST_A, digest=DIGEST_A, by="UBOB0001")
    incident = Incident(id="C1:1.2", channel="C1", thread_ts="1.2", references=[nginx],
                        diagnoses={nginx: ok()}, pins=[pin])
    r = render_parent(incident, "UALICE01")
    blob = strings(r.as_dicts(), r.text)
    assert sorted(live_tokens(blob)) == ["@UALICE01", "@UBOB0001"]
    r = render_parent(incident, "<!channel>")  # an id that isn't an id is shown as text
    assert "@UALICE01" not in json.dumps(r.as_dicts())
    assert live_tokens(strings(r.as_dicts(), r.text)) == ["@UBOB0001"]


def test_many_findings_and_huge_evidence_stay_within_slack_limits() -> None:
    huge = "x&<>" * 5000
    d = not_found().model_copy(update={
        "findings": [Finding(kind=f"k{i}", severity=Severity.warning, summary=f"finding {i} " + huge[:900],
                             evidence=Evidence(status=500, message=huge, log_line=huge)) for i in range(80)],
        "remediation": [RemediationStep(text=huge, command=huge) for _ in range(30)],
        "suggested_tags": [f"1.{i}" for i in range(500)],
        "summary": huge})
    r = render_diagnosis(d, incident_id="C1:1.2", mirrors_configured=True)
    blocks = r.as_dicts()  # to_dict() validates Slack's limits
    assert len(blocks) <= 50
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= 3000
    assert "truncated" in json.dumps(blocks)
    assert "more finding" in json.dumps(blocks)
    assert blocks[-1]["type"] == "actions"  # the buttons survive truncation
    assert 0 < len(r.text) <= 3000


def test_diagnosis_shows_the_facts_a_reader_needs() -> None:
    r = render_diagnosis(ok(), incident_id="C1:1.2")
    blob = json.dumps(r.as_dicts())
    assert r.as_dicts()[0]["type"] == "header"
    assert "Image is pullable" in blob
    assert "docker.io/library/nginx:1.27" in blob
    assert "linux/arm64" in blob
    assert "registry-1.docker.io" in blob
    assert "3 registry request" in blob
    assert "1. Pin it" in blob
    missing = not_found().model_copy(update={"missing_platforms": ["linux/arm64"], "from_cache": True,
                                             "cache_age_s": 12.0, "correlation_id": "abc123"})
    blob = json.dumps(render_diagnosis(missing).as_dicts())
    assert "Missing" in blob
    assert "linux/arm64" in blob
    assert "12s old" in blob
    assert "abc123" in blob
    assert "1.27" in blob  # nearest tags
    assert '"actions"' not in blob  # no incident, no buttons


def test_an_answer_the_summary_already_quotes_is_not_repeated() -> None:
    summary = "registry has no manifest for tag 1.99 (404 MANIFEST_UNKNOWN)"
    quoting = not_found().model_copy(update={"findings": [Finding(
        kind="tag_missing", severity=Severity.error, summary=summary,
        evidence=Evidence(status=404, error_code="MANIFEST_UNKNOWN"))]})
    blob = json.dumps(render_diagnosis(quoting).as_dicts())
    assert blob.count("MANIFEST_UNKNOWN") == 1
    assert "HTTP 404" not in blob
    blob = json.dumps(render_diagnosis(not_found()).as_dicts())  # a summary that doesn't quote it: cited
    assert "HTTP 404" in blob
    assert "MANIFEST_UNKNOWN" in blob
    # digits of a status inside a tag or digest are no quote: the status is still cited
    tagged = not_found().model_copy(update={"findings": [Finding(
        kind="resolved", summary="nginx:1.200 resolves to sha256:200abc", evidence=Evidence(status=200))]})
    assert "HTTP 200" in json.dumps(render_diagnosis(tagged).as_dicts())


def test_tags_that_break_the_grammar_are_not_shown() -> None:
    r = render_tags("docker.io/library/nginx:1.99", ["1.27", "<!here>", "a b", "-bad", "ok_tag"])
    blob = json.dumps(r.as_dicts())
    assert "1.27" in blob
    assert "ok_tag" in blob
    assert "here" not in blob
    assert "-bad" not in blob


def test_home_lists_open_incidents_most_recent_first() -> None:
    older = Incident(id="C1:1.1", channel="C1", thread_ts="1.1", references=["docker.io/library/a:1"])
    newer = Incident(id="C2:2.2", channel="C2", thread_ts="2.2", references=["docker.io/library/b:1"])
    blob = json.dumps([b.to_dict() for b in render_home([older, newer])])
    assert blob.index("library/b:1") < blob.index("library/a:1")


def triage_with(text: str) -> TriageResult:
    return TriageResult(
        category=Category.tag_not_found, confidence=0.9, meaning=text, redacted=text,
        categories=[CategoryScore(category=Category.tag_not_found, confidence=0.9, evidence=[
            TriageEvidence(line_no=1, line=text, start=0, end=len(text), rule="r")])],
        references=[ExtractedReference(as_written=text, valid=False, error=text)],
        reconciliation=[text], next_steps=[RemediationStep(text=text, command=text)])


_PIECES = [*"<>&!@#|^;:/ ahcnelUWS0123", "channel", "here", "everyone", "&lt;", "&gt;", "&amp;", "```",
           "<!channel>", "<@U123>", "&lt;!here&gt;"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=120).map("".join))
def test_no_rendered_message_contains_a_live_mention_from_untrusted_text(text: str) -> None:
    rendered = (render_diagnosis(hostile_diagnosis(text), incident_id="C1:1.2"),
                render_triage(triage_with(text)))
    for r in rendered:
        assert live_tokens(strings(r.as_dicts(), r.text)) == []


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=4000))
def test_render_never_crashes_and_stays_valid_on_arbitrary_text(text: str) -> None:
    r = render_diagnosis(hostile_diagnosis(text), incident_id="C1:1.2")
    assert len(r.as_dicts()) <= 50
    r = render_triage(triage_with(text))
    assert len(r.as_dicts()) <= 50


def test_reference_from_a_user_is_escaped_in_the_header() -> None:
    d = Diagnosis(reference=ref("example.com/a/b:c"), verdict=Verdict.invalid_reference, summary="<!channel>")
    r = render_diagnosis(d)
    assert live_tokens(strings(r.as_dicts(), r.text)) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=80).map("".join))
def test_follow_up_messages_never_contain_a_live_mention_from_untrusted_text(text: str) -> None:
    from bot.domain.pin import PinSnippets, PlatformPin
    from bot.slack.render_followups import (
        render_mirror_comparison,
        render_pin,
        render_recheck_summary,
        render_tag_moved,
    )

    # ``by`` and the channel are Slack's own ids from a signed payload and are mentioned on purpose when
    # id-shaped (render.mention_user); text shaped like one ("UU") is not the untrusted case tested here.
    assume(re.fullmatch(r"[A-Z0-9]{2,20}", text) is None)
    snippets = PinSnippets(reference=text, digest=text, pinned=text, kubectl=text, helm=text, kustomize=text,
                           compose=text, dockerfile=text, index_note=text,
                           alternatives=[PlatformPin(platform=text, digest=text, pinned=text)])
    hostile = hostile_diagnosis(text)
    rendered = [render_pin(snippets, by=text), render_tag_moved(text, text, text, incident_id="C1:1.2"),
                render_tags(text, [text]), render_recheck_summary(hostile, ok(), by=text),
                render_mirror_comparison(text, [hostile, ok()]), render_mirror_comparison(text, text)]
    for r in rendered:
        assert live_tokens(strings(r.as_dicts(), r.text)) == []
    home = render_home([Incident(id=text, channel=text, thread_ts="1.2", references=[text],
                                 pins=[Pin(reference=text, pinned=text, digest=text, by=text)])])
    assert live_tokens(json.dumps([b.to_dict() for b in home])) == []
