"""Incidents: one per Slack thread, with the references involved, their latest diagnoses, pins and
a timeline, exportable as a Markdown summary for a postmortem.

Everything here is pure: functions take an incident and return an updated copy, with the time passed
in, so callers decide the clock and tests need none. ``update_incident`` is the one helper that talks
to a ``StatePort``: a read-modify-write under a short lock, so two replicas handling the same thread
don't overwrite each other's timeline events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.domain.models import (
    Diagnosis,
    Incident,
    IncidentStatus,
    Pin,
    TimelineEvent,
    TimelineKind,
    TriageResult,
    Verdict,
)
from bot.domain.ports import StatePort

INCIDENT_LOCK_TTL_S = 10.0
INCIDENT_LOCK_WAIT_S = 3.0

IncidentChange = Callable[[Incident], Incident]


def new_incident(channel: str, thread_ts: str, *, at: datetime, created_by: str | None = None) -> Incident:
    return Incident(id=Incident.make_id(channel, thread_ts), channel=channel, thread_ts=thread_ts,
                    created_at=at, updated_at=at, created_by=created_by)


def add_event(incident: Incident, kind: TimelineKind, summary: str, *, at: datetime,
              actor: str | None = None, reference: str | None = None, digest: str | None = None,
              verdict: Verdict | None = None) -> Incident:
    event = TimelineEvent(at=at, kind=kind, actor=actor, summary=summary, reference=reference,
                          digest=digest, verdict=verdict)
    references = incident.references
    if reference and reference not in references:
        references = [*references, reference]
    return incident.model_copy(update={
        "timeline": [*incident.timeline, event],
        "references": references,
        "updated_at": max(incident.updated_at, at),
    })


def record_diagnosis(incident: Incident, diagnosis: Diagnosis, *, at: datetime, actor: str | None = None,
                     recheck: bool = False) -> Incident:
    """Keep the latest diagnosis per normalized reference and note it on the timeline."""
    ref = diagnosis.reference.normalized
    kind = TimelineKind.rechecked if recheck else TimelineKind.checked
    updated = add_event(incident, kind, diagnosis.summary, at=at, actor=actor, reference=ref,
                        digest=diagnosis.digest, verdict=diagnosis.verdict)
    return updated.model_copy(update={"diagnoses": {**updated.diagnoses, ref: diagnosis}})


def record_triage(incident: Incident, triage: TriageResult, *, at: datetime,
                  actor: str | None = None) -> Incident:
    """A pasted error log: note its category, then each diagnosis the triage ran."""
    refs = [r.normalized for r in triage.references if r.valid and r.normalized]
    summary = f"Pasted log triaged as {triage.category.value} ({triage.confidence:.0%})"
    if triage.meaning:
        summary += f": {triage.meaning}"
    updated = add_event(incident, TimelineKind.triaged, summary, at=at, actor=actor)
    for ref in refs:
        if ref not in updated.references:
            updated = updated.model_copy(update={"references": [*updated.references, ref]})
    for diagnosis in triage.diagnoses:
        updated = record_diagnosis(updated, diagnosis, at=at, actor=actor)
    return updated


def record_pin(incident: Incident, pin: Pin) -> Incident:
    updated = add_event(incident, TimelineKind.pinned, f"Pinned {pin.reference} to {pin.pinned}",
                        at=pin.at, actor=pin.by, reference=pin.reference, digest=pin.digest)
    return updated.model_copy(update={"pins": [*updated.pins, pin]})


def set_status(incident: Incident, status: IncidentStatus, *, at: datetime, actor: str | None = None,
               note: str | None = None) -> Incident:
    """Change the status; a no-op (no timeline noise) when it is already that status."""
    if status is incident.status:
        return incident
    kind = TimelineKind.resolved if status is IncidentStatus.resolved else TimelineKind.note
    summary = f"Marked {status.value}" + (f": {note}" if note else "")
    updated = add_event(incident, kind, summary, at=at, actor=actor)
    return updated.model_copy(update={"status": status})


async def get_or_create_incident(state: StatePort, channel: str, thread_ts: str, *, at: datetime,
                                 created_by: str | None = None) -> Incident:
    """The thread's incident, or a new (unsaved) one."""
    existing = await state.get_incident(Incident.make_id(channel, thread_ts))
    return existing or new_incident(channel, thread_ts, at=at, created_by=created_by)


async def update_incident(state: StatePort, channel: str, thread_ts: str, change: IncidentChange, *,
                          at: datetime, actor: str | None = None) -> Incident:
    """Read, change and save a thread's incident under a per-incident lock.

    If the lock cannot be had within a few seconds (a stuck replica), the change is still applied:
    losing a concurrent timeline event is better than losing this one. ``StoreUnavailable`` from the
    state port propagates; the caller decides how to degrade.
    """
    incident_id = Incident.make_id(channel, thread_ts)
    async with state.lock(f"incident:{incident_id}", ttl_s=INCIDENT_LOCK_TTL_S, wait_s=INCIDENT_LOCK_WAIT_S):
        incident = await get_or_create_incident(state, channel, thread_ts, at=at, created_by=actor)
        updated = change(incident)
        await state.save_incident(updated)
        return updated


# --- postmortem export -------------------------------------------------------------------------


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at.utcoffset() is not None else at.isoformat()


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def _cell(text: str) -> str:
    """Table cells may not contain pipes or newlines."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(incident: Incident, *, title: str | None = None) -> str:
    """A postmortem-ready summary: status, references with their latest verdict, pins, timeline."""
    created = incident.created_at.astimezone(UTC)
    updated = incident.updated_at.astimezone(UTC)
    lines = [
        f"# {title or f'Image pull incident in {incident.channel}'}",
        "",
        f"- **Status:** {incident.status.value}",
        f"- **Thread:** {incident.channel} / {incident.thread_ts}",
        f"- **Started:** {_when(created)}" + (f" by {incident.created_by}" if incident.created_by else ""),
        f"- **Last update:** {_when(updated)} ({_duration(updated - created)} after start)",
        "",
        "## References",
        "",
    ]
    if incident.references:
        lines += ["| Reference | Latest verdict | Digest | Summary |", "|---|---|---|---|"]
        for ref in incident.references:
            diagnosis = incident.diagnoses.get(ref)
            if diagnosis is None:
                lines.append(f"| `{_cell(ref)}` | not checked | | |")
            else:
                digest = f"`{diagnosis.digest}`" if diagnosis.digest else ""
                lines.append(f"| `{_cell(ref)}` | {diagnosis.verdict.value} | {digest} | "
                             f"{_cell(diagnosis.summary)} |")
    else:
        lines.append("No image references were checked.")
    if incident.pins:
        lines += ["", "## Pins", ""]
        for pin in incident.pins:
            who = f" by {pin.by}" if pin.by else ""
            lines.append(f"- `{pin.reference}` → `{pin.pinned}`{who} at {_when(pin.at.astimezone(UTC))}")
    lines += ["", "## Timeline", ""]
    if not incident.timeline:
        lines.append("No events recorded.")
    for event in sorted(incident.timeline, key=lambda e: e.at):
        parts = [f"- **{_when(event.at.astimezone(UTC))}** {event.kind.value}"]
        if event.actor:
            parts.append(f"({event.actor})")
        parts.append(f"— {event.summary}")
        if event.reference:
            parts.append(f"[`{event.reference}`]")
        if event.verdict:
            parts.append(f"verdict: {event.verdict.value}")
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"
