"""The tag-history rule, shared by both backends so they cannot drift apart."""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import TagSighting


def add_sighting(sightings: list[TagSighting], digest: str, at: datetime, limit: int) -> list[TagSighting]:
    """Record that the tag pointed at ``digest`` at ``at``; returns sightings most recent first.

    Seeing the digest the tag currently points at only moves its ``last_seen``; a different digest
    (a moved tag, or a tag moved back) starts a new sighting. Order is by ``last_seen`` so that
    replicas recording slightly out of order still agree on what the tag points at now.
    """
    current = sightings[0] if sightings else None
    if current is not None and current.digest == digest:
        updated = current.model_copy(update={
            "last_seen": max(current.last_seen, at), "first_seen": min(current.first_seen, at)})
        result = [updated, *sightings[1:]]
    else:
        result = [TagSighting(digest=digest, first_seen=at, last_seen=at), *sightings]
    result.sort(key=lambda s: s.last_seen, reverse=True)
    return result[:max(limit, 1)]
