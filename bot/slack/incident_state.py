"""Slack's glue around a thread's incident.

The read-modify-write itself is the domain's (``bot.domain.incidents.update_incident``: pure changes
under a per-incident lock). What is Slack's here: a reply never waits on the store (with the store down
the change is applied to a fresh incident in memory, so messages still render, and nothing is kept),
and remembering which thread roots are our own message, so we may re-render them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime

from bot.domain.errors import StoreUnavailable
from bot.domain.incidents import IncidentChange, new_incident, update_incident
from bot.domain.models import Incident, utcnow
from bot.domain.ports import StatePort
from bot.slack.posting import Poster
from bot.slack.render import render_parent

log = logging.getLogger(__name__)

_dropped_writes: ContextVar[list[str] | None] = ContextVar("imagecheck_dropped_incident_writes", default=None)

PARENT_BLOB_TTL_S = 31 * 24 * 3600.0


async def record(store: StatePort, channel: str, thread_ts: str, change: IncidentChange, *,
                 actor: str | None, at: datetime | None = None) -> Incident:
    """Apply ``change`` to the thread's incident and keep it (created on first use, by ``actor``)."""
    at = at or utcnow()
    try:
        return await update_incident(store, channel, thread_ts, change, at=at, actor=actor)
    except StoreUnavailable:
        # Operators see the lost timeline entry in the log; the user-facing notice is the caller's.
        incident_id = Incident.make_id(channel, thread_ts)
        log.warning("incident %s not recorded: state store unavailable", incident_id)
        dropped = _dropped_writes.get()
        if dropped is not None:
            dropped.append(incident_id)
        return change(new_incident(channel, thread_ts, at=at, created_by=actor))


@contextlib.contextmanager
def watch_dropped_writes() -> Iterator[list[str]]:
    """Collect the ids of incidents whose change ``record`` could not keep while the block runs, so a
    listener can tell its user exactly when (not just whether the store looked down at the start)."""
    dropped: list[str] = []
    # A list, not a counter: tasks started inside the block copy the context but share this object.
    token = _dropped_writes.set(dropped)
    try:
        yield dropped
    finally:
        _dropped_writes.reset(token)


async def load_incident(store: StatePort, incident_id: str) -> Incident | None:
    """The incident, or ``None`` when it is gone OR the store is down: only for callers to whom both
    mean "nothing to refresh". A click must tell them apart (``bot.slack.click_state``)."""
    try:
        return await store.get_incident(incident_id)
    except StoreUnavailable:
        return None


def parent_key(incident_id: str) -> str:
    """Marks incidents whose thread root is our own message (so we may update it)."""
    return f"parent:{incident_id}"


async def mark_parent(store: StatePort, incident_id: str) -> None:
    with contextlib.suppress(StoreUnavailable):
        await store.put_blob(parent_key(incident_id), "1", PARENT_BLOB_TTL_S)


async def refresh_parent(store: StatePort, poster: Poster, incident: Incident) -> None:
    """Re-render the thread's root when it is our message (slash command threads), from the incident
    as STORED: when ``record`` could not keep a change, the copy in hand is a blank stand-in, and the
    root must keep showing what the incident really holds rather than "no references"."""
    try:
        ours = await store.get_blob(parent_key(incident.id)) is not None
        stored = await store.get_incident(incident.id) if ours else None
    except StoreUnavailable:
        return
    if stored is not None:
        await poster.update(stored.channel, stored.thread_ts, render_parent(stored, stored.created_by))
