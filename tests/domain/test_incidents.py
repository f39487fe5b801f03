"""Incident domain logic: pure functions over Incident, and the Markdown postmortem export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.incidents import (
    add_event,
    new_incident,
    record_diagnosis,
    record_pin,
    record_triage,
    set_status,
    to_markdown,
)
from bot.domain.models import (
    Category,
    Diagnosis,
    ExtractedReference,
    ImageRef,
    Incident,
    IncidentStatus,
    Pin,
    TimelineKind,
    TriageResult,
    Verdict,
)

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def diagnosis(verdict: Verdict, *, digest: str | None = OLD, summary: str | None = None) -> Diagnosis:
    ref = ImageRef(input="payments/api:1.9.0", domain="docker.io", path="payments/api", tag="1.9.0")
    return Diagnosis(reference=ref, verdict=verdict, summary=summary or f"verdict {verdict.value}",
                     digest=digest)


def incident() -> Incident:
    return new_incident("C0PAY", "1700000000.000100", at=T0, created_by="U_ALICE")


def test_new_incident_is_keyed_by_channel_and_thread() -> None:
    inc = incident()
    assert inc.id == "C0PAY:1700000000.000100"
    assert (inc.status, inc.created_at, inc.updated_at, inc.created_by) == (
        IncidentStatus.open, T0, T0, "U_ALICE")
    assert inc.timeline == []


def test_record_diagnosis_keeps_the_latest_per_reference_and_logs_each_check() -> None:
    first = record_diagnosis(incident(), diagnosis(Verdict.platform_mismatch), at=T0, actor="U_ALICE")
    second = record_diagnosis(first, diagnosis(Verdict.ok, digest=NEW), at=T0 + timedelta(minutes=7),
                              actor="U_BOB", recheck=True)

    ref = "docker.io/payments/api:1.9.0"
    assert second.references == [ref]  # listed once however often it is checked
    assert second.diagnoses[ref].verdict is Verdict.ok
    assert [(e.kind, e.actor, e.verdict, e.digest) for e in second.timeline] == [
        (TimelineKind.checked, "U_ALICE", Verdict.platform_mismatch, OLD),
        (TimelineKind.rechecked, "U_BOB", Verdict.ok, NEW),
    ]
    assert second.updated_at == T0 + timedelta(minutes=7)


def test_changes_return_a_copy_and_leave_the_original_alone() -> None:
    original = incident()
    changed = add_event(original, TimelineKind.note, "rolled back", at=T0 + timedelta(minutes=1))
    assert original.timeline == []
    assert original.updated_at == T0
    assert [e.summary for e in changed.timeline] == ["rolled back"]


def test_an_out_of_order_event_does_not_move_updated_at_back() -> None:
    later = add_event(incident(), TimelineKind.note, "late", at=T0 + timedelta(hours=1))
    earlier = add_event(later, TimelineKind.note, "delayed delivery", at=T0 + timedelta(minutes=5))
    assert earlier.updated_at == T0 + timedelta(hours=1)


def test_record_triage_notes_the_category_and_each_diagnosis() -> None:
    triage = TriageResult(
        category=Category.platform_mismatch, confidence=0.92,
        meaning="the image has no linux/arm64 variant",
        references=[ExtractedReference(as_written="payments/api:1.9.0",
                                       normalized="docker.io/payments/api:1.9.0"),
                    ExtractedReference(as_written="bad//ref", valid=False, error="invalid")],
        diagnoses=[diagnosis(Verdict.platform_mismatch)])

    inc = record_triage(incident(), triage, at=T0, actor="U_ALICE")

    assert inc.references == ["docker.io/payments/api:1.9.0"]
    assert [e.kind for e in inc.timeline] == [TimelineKind.triaged, TimelineKind.checked]
    assert "platform_mismatch (92%)" in inc.timeline[0].summary
    assert "linux/arm64" in inc.timeline[0].summary


def test_record_pin_adds_the_pin_and_a_timeline_event() -> None:
    pin = Pin(reference="docker.io/payments/api:1.9.0", pinned=f"docker.io/payments/api@{OLD}", digest=OLD,
              by="U_BOB", at=T0 + timedelta(minutes=3))

    inc = record_pin(incident(), pin)

    assert inc.pins == [pin]
    event = inc.timeline[-1]
    assert (event.kind, event.actor, event.digest, event.at) == (TimelineKind.pinned, "U_BOB", OLD, pin.at)


def test_status_changes_are_logged_and_repeating_one_is_a_no_op() -> None:
    mitigated = set_status(incident(), IncidentStatus.mitigated, at=T0 + timedelta(minutes=5), actor="U_BOB",
                           note="pinned to the old digest")
    resolved = set_status(mitigated, IncidentStatus.resolved, at=T0 + timedelta(minutes=9), actor="U_BOB")
    again = set_status(resolved, IncidentStatus.resolved, at=T0 + timedelta(minutes=10))

    assert [(e.kind, e.summary) for e in resolved.timeline] == [
        (TimelineKind.note, "Marked mitigated: pinned to the old digest"),
        (TimelineKind.resolved, "Marked resolved"),
    ]
    assert resolved.status is IncidentStatus.resolved
    assert again == resolved


def test_markdown_export_reads_as_a_postmortem_summary() -> None:
    inc = record_diagnosis(incident(), diagnosis(Verdict.tag_not_found, digest=None,
                                                 summary="tag 1.9.0 | was deleted"), at=T0, actor="U_ALICE")
    pin = Pin(reference="docker.io/payments/api:1.9.0", pinned=f"docker.io/payments/api@{OLD}",
              digest=OLD, by="U_BOB", at=T0 + timedelta(minutes=20))
    inc = record_pin(inc, pin)
    inc = set_status(inc, IncidentStatus.resolved, at=T0 + timedelta(hours=1, minutes=5), actor="U_BOB")

    md = to_markdown(inc)

    assert md.startswith("# Image pull incident in C0PAY\n")
    assert "- **Status:** resolved" in md
    assert "- **Started:** 2026-03-01 10:00:00 UTC by U_ALICE" in md
    assert "(1h 5m after start)" in md
    # the summary's pipe is escaped so the table keeps its columns
    assert "| `docker.io/payments/api:1.9.0` | tag_not_found |  | tag 1.9.0 \\| was deleted |" in md
    assert f"- `docker.io/payments/api:1.9.0` → `docker.io/payments/api@{OLD}` by U_BOB" in md
    timeline = md.split("## Timeline\n", 1)[1].strip().splitlines()
    kinds = [line.split("** ", 1)[1].split(" ", 1)[0] for line in timeline]
    assert kinds == ["checked", "pinned", "resolved"]
    assert "10:00:00 UTC** checked (U_ALICE) — tag 1.9.0 | was deleted" in timeline[0]


def test_markdown_export_of_an_empty_incident_says_so() -> None:
    md = to_markdown(incident(), title="Checkout outage")
    assert md.startswith("# Checkout outage\n")
    assert "No image references were checked." in md
    assert "No events recorded." in md
    assert "## Pins" not in md


def test_markdown_timeline_is_chronological_even_if_events_arrived_out_of_order() -> None:
    inc = add_event(incident(), TimelineKind.note, "second", at=T0 + timedelta(minutes=2))
    inc = add_event(inc, TimelineKind.note, "first", at=T0 + timedelta(minutes=1))
    timeline = to_markdown(inc).split("## Timeline\n", 1)[1]
    assert timeline.index("first") < timeline.index("second")
