"""What a diagnosis button's click reads before it acts: its payload and the thread's incident.

Three outcomes a user must be able to tell apart: the state is there; it has expired (or the value is
not ours: run /imagecheck again); or the state store cannot be reached right now (nothing is lost,
try again in a minute). The last two used to look the same, which sent people to re-run checks
during a Redis outage for no reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import InvalidReference, StoreUnavailable
from bot.domain.incidents import new_incident
from bot.domain.models import ImageRef, Incident, utcnow
from bot.domain.ports import StatePort
from bot.domain.reference import parse_reference
from bot.slack.payloads import ActionPayload, PayloadError, load_payload

# Buttons that still do their job with the store down: each one asks the registry, not Redis, and
# posts into the thread, whose channel and ts are in the payload's incident id. Pin is the one that
# matters: during an outage the on-call engineer wants the verified digest and snippets now, and a
# missing timeline entry is a far smaller loss than a mitigation blocked on the bot's own database.
# resolve_incident is not here: resolving *is* the record, so without the store it would only post a
# "Resolved" that the incident, the thread root and App Home would all contradict.
WORKS_WITHOUT_STORE = frozenset({"pin_digest", "show_tags", "recheck", "bypass_mirror"})


def expired_notice(days: int) -> str:
    return (f"This diagnosis belongs to an incident that has expired (incidents are kept {days} days). "
            "Run `/imagecheck` again for a fresh diagnosis.")


STORE_DOWN_NOTICE = (
    "imagecheck's state store is unreachable right now, so nothing was changed by this click. "
    "Try again in a minute; the digest and snippets already in this thread are still valid.")

NOT_RECORDED_NOTICE = (
    "imagecheck's state store is unreachable right now: what this click posted in the thread is "
    "current, but it is not in the incident timeline and the thread's summary was not updated. "
    "To record it, click again in a minute or two, once the store is back.")


@dataclass(frozen=True)
class ClickState:
    payload: ActionPayload
    ref: ImageRef
    incident: Incident
    # False when the store was unreachable: ``incident`` is then a blank stand-in for the thread
    # (right id, channel and thread ts; no diagnoses, pins or timeline) and nothing will be kept.
    recorded: bool = True


class ClickRefused(Exception):
    """The click cannot act; ``notice`` is what to tell the user (privately)."""

    def __init__(self, notice: str) -> None:
        super().__init__(notice)
        self.notice = notice


async def load_click_state(store: StatePort, action_id: str, value: str, *,
                           incident_ttl_days: int) -> ClickState:
    """The payload and incident behind a click, or ``ClickRefused`` saying plainly why not."""
    try:
        payload = await load_payload(value, store)
        ref = parse_reference(payload.ref)
    except StoreUnavailable as exc:  # the payload is a blob in the store: we cannot know what to do
        raise ClickRefused(STORE_DOWN_NOTICE) from exc
    except (PayloadError, InvalidReference) as exc:
        raise ClickRefused(expired_notice(incident_ttl_days)) from exc
    try:
        incident = await store.get_incident(payload.incident)
    except StoreUnavailable as exc:
        stand_in = thread_stand_in(payload.incident)
        if action_id not in WORKS_WITHOUT_STORE or stand_in is None:
            raise ClickRefused(STORE_DOWN_NOTICE) from exc
        return ClickState(payload, ref, stand_in, recorded=False)
    if incident is None:
        raise ClickRefused(expired_notice(incident_ttl_days))
    return ClickState(payload, ref, incident)


def thread_stand_in(incident_id: str) -> Incident | None:
    """A blank incident for the thread named by ``incident_id`` ("<channel>:<thread_ts>"), or ``None``
    when the id is not shaped like one of ours."""
    channel, sep, thread_ts = incident_id.partition(":")
    if not sep or not channel or not thread_ts or ":" in thread_ts:
        return None
    return new_incident(channel, thread_ts, at=utcnow())
