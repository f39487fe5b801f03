"""Read-modify-write of one thread's incident, under the store's lock so replicas don't lose updates."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.errors import StoreUnavailable
from bot.domain.models import Diagnosis, Incident, TimelineEvent, TimelineKind, utcnow
from bot.domain.ports import StatePort

Mutation = Callable[[Incident], None]


async def update_incident(store: StatePort, channel: str, thread_ts: str, mutate: Mutation, *,
                          created_by: str | None = None, create: bool = True) -> Incident | None:
    """Apply ``mutate`` to the thread's incident and save it; ``None`` when absent and not creating.

    With the store down the incident is still built in memory (so messages render) but not kept.
    """
    incident_id = Incident.make_id(channel, thread_ts)
    try:
        async with store.lock(f"incident:{incident_id}", ttl_s=10.0, wait_s=5.0):
            incident = await store.get_incident(incident_id)
            if incident is None:
                if not create:
                    return None
                incident = Incident(id=incident_id, channel=channel, thread_ts=thread_ts,
                                    created_by=created_by)
            mutate(incident)
            incident.updated_at = utcnow()
            await store.save_incident(incident)
            return incident
    except StoreUnavailable:
        if not create:
            return None
        incident = Incident(id=incident_id, channel=channel, thread_ts=thread_ts, created_by=created_by)
        mutate(incident)
        return incident


def record_diagnoses(diagnoses: list[Diagnosis], *, actor: str | None,
                     kind: TimelineKind = TimelineKind.checked) -> Mutation:
    def mutate(incident: Incident) -> None:
        for d in diagnoses:
            ref = d.reference.normalized
            if ref not in incident.references:
                incident.references.append(ref)
            incident.diagnoses[ref] = d
            incident.timeline.append(TimelineEvent(
                kind=kind, actor=actor, summary=d.summary or d.verdict.value, reference=ref, digest=d.digest,
                verdict=d.verdict))
    return mutate

