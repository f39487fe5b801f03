"""What each diagnosis button does once its click is validated (see ``bot.slack.actions``).

Every handler writes to the thread's incident before posting, so the record survives a failed Slack
post, and re-renders the thread root when it is our own message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.domain.incidents import IncidentChange, add_event, record_diagnosis, record_pin, set_status
from bot.domain.models import (
    Diagnosis,
    ImageRef,
    Incident,
    IncidentStatus,
    Pin,
    TimelineKind,
    utcnow,
)
from bot.domain.reference import parse_platform
from bot.metrics import PINS
from bot.slack.escape import code
from bot.slack.flows import check_one, failure_notice
from bot.slack.incident_state import record, refresh_parent
from bot.slack.payloads import ActionPayload
from bot.slack.posting import Poster
from bot.slack.render import Rendered, mention_user, render_diagnosis, render_notice
from bot.slack.render_followups import (
    render_mirror_comparison,
    render_pin,
    render_recheck_summary,
    render_tag_moved,
    render_tags,
)
from bot.slack.services import Services

NEAREST_TAGS = 15


@dataclass(frozen=True)
class Click:
    action_id: str
    user: str
    channel: str
    payload: ActionPayload
    ref: ImageRef
    incident: Incident
    respond: Callable[..., Awaitable[Any]]

    @property
    def thread_ts(self) -> str:
        return self.incident.thread_ts


async def _post(poster: Poster, click: Click, message: Rendered) -> None:
    await poster.post(click.incident.channel, message, thread_ts=click.thread_ts)


async def pin_digest(services: Services, poster: Poster, click: Click) -> None:
    payload = click.payload
    platforms = [parse_platform(p) for p in payload.platforms]
    digest = payload.digest
    diagnosis = click.incident.diagnoses.get(payload.ref)
    if not payload.confirmed:
        now = await check_one(services, click.ref, platforms, channel=click.channel, fresh=True)
        if isinstance(now, Exception):
            await _post(poster, click, failure_notice(services, click.ref, now))
            return
        if now.digest is None:
            await _post(poster, click, render_notice(
                f"Could not resolve {code(click.ref.normalized)} just now ({now.verdict.value}); "
                "nothing pinned."))
            return
        if digest and now.digest != digest:
            await _post(poster, click, render_tag_moved(payload.ref, digest, now.digest,
                                                        incident_id=click.incident.id))
            return
        digest, diagnosis = now.digest, now
    if not digest:
        await _post(poster, click, render_notice("No digest was resolved for this reference; "
                                                 "nothing to pin."))
        return
    snippets = services.pin_snippets(click.ref, digest,
                                     platforms=list(diagnosis.platforms) if diagnosis else [])
    pin = Pin(reference=payload.ref, pinned=click.ref.with_digest(digest), digest=digest, by=click.user,
              at=utcnow())
    incident = await _record(services, click, lambda incident: pin_mitigates(incident, pin))
    await _post(poster, click, render_pin(snippets, by=click.user))
    PINS.inc()
    await _refresh(services, poster, incident)


async def show_tags(services: Services, poster: Poster, click: Click) -> None:
    try:
        found = await services.checks.nearest_tags(click.ref, NEAREST_TAGS)
    except Exception as exc:
        await _post(poster, click, failure_notice(services, click.ref, exc))
        return
    tags = getattr(found, "tags", found)
    truncated = bool(getattr(found, "truncated", False))
    await _post(poster, click, render_tags(click.ref.normalized, [str(t) for t in tags or []],
                                           truncated=truncated))


async def recheck(services: Services, poster: Poster, click: Click) -> None:
    platforms = [parse_platform(p) for p in click.payload.platforms]
    old = click.incident.diagnoses.get(click.payload.ref)
    new = await check_one(services, click.ref, platforms, channel=click.channel, fresh=True)
    if isinstance(new, Exception):
        await _post(poster, click, failure_notice(services, click.ref, new))
        return
    at = utcnow()
    incident = await _record(services, click, lambda incident: record_diagnosis(
        incident, new, at=at, actor=click.user, recheck=True))
    await _post(poster, click, render_recheck_summary(old, new, by=click.user))
    await _post(poster, click, render_diagnosis(
        new, incident_id=click.incident.id,
        mirrors_configured=bool(services.options.mirrors.get(click.ref.registry_key))))
    await _refresh(services, poster, incident)


async def bypass_mirror(services: Services, poster: Poster, click: Click) -> None:
    try:
        comparison = await services.checks.compare_mirrors(click.ref)
    except Exception as exc:
        await _post(poster, click, failure_notice(services, click.ref, exc))
        return
    summary = comparison.summary if isinstance(comparison, Diagnosis) else "compared upstream and mirrors"
    at = utcnow()
    incident = await _record(services, click, lambda incident: add_event(
        incident, TimelineKind.mirror_compared, summary, at=at, actor=click.user, reference=click.payload.ref,
        digest=getattr(comparison, "digest", None)))
    if isinstance(comparison, Diagnosis):
        await _post(poster, click, render_diagnosis(comparison, title_prefix="Upstream vs mirror: "))
    else:
        await _post(poster, click, render_mirror_comparison(click.payload.ref, comparison))
    await _refresh(services, poster, incident)


async def resolve(services: Services, poster: Poster, click: Click) -> None:
    if click.incident.status is IncidentStatus.resolved:
        await click.respond(response_type="ephemeral", replace_original=False, text="Already resolved.")
        return
    at = utcnow()
    incident = await _record(services, click, lambda incident: set_status(
        incident, IncidentStatus.resolved, at=at, actor=click.user))
    await _post(poster, click, render_notice(f":white_check_mark: Resolved by {mention_user(click.user)}."))
    await _refresh(services, poster, incident)


def pin_mitigates(incident: Incident, pin: Pin) -> Incident:
    """Record the pin; an open incident becomes mitigated (the pin is the mitigation, no extra event)."""
    pinned = record_pin(incident, pin)
    if pinned.status is IncidentStatus.open:
        pinned = pinned.model_copy(update={"status": IncidentStatus.mitigated})
    return pinned


async def _record(services: Services, click: Click, change: IncidentChange) -> Incident:
    """Write to the incident first, so the record survives a failed Slack post."""
    return await record(services.store, click.incident.channel, click.thread_ts, change, actor=click.user)


async def _refresh(services: Services, poster: Poster, incident: Incident) -> None:
    await refresh_parent(services.store, poster, incident)
