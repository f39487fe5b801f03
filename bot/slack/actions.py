"""Diagnosis buttons. Action ids are part of the interface: pin_digest, show_tags, recheck,
bypass_mirror, resolve_incident. Each acks at once and acts lazily, once per click."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.errors import InvalidReference
from bot.domain.models import (
    Diagnosis,
    ImageRef,
    Incident,
    IncidentStatus,
    Pin,
    TimelineEvent,
    TimelineKind,
    utcnow,
)
from bot.domain.reference import parse_platform, parse_reference
from bot.metrics import PINS
from bot.slack.escape import code, escape
from bot.slack.flows import check_one, claim, failure_notice, load_incident, refresh_parent
from bot.slack.incident_state import record_diagnoses, update_incident
from bot.slack.payloads import ActionPayload, PayloadError, load_payload
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

log = logging.getLogger(__name__)

ACTION_IDS = ("pin_digest", "show_tags", "recheck", "bypass_mirror", "resolve_incident")
RESTRICTED = frozenset({"pin_digest", "resolve_incident"})
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


def expired_notice(days: int) -> str:
    return (f"This diagnosis belongs to an incident that has expired (incidents are kept {days} days). "
            "Run `/imagecheck` again for a fresh diagnosis.")


async def may_act(services: Services, client: Any, action_id: str, user: str) -> bool:
    opts = services.options
    if action_id not in RESTRICTED or (not opts.pin_allowed_users and not opts.pin_allowed_usergroup):
        return True
    if user in opts.pin_allowed_users:
        return True
    if opts.pin_allowed_usergroup:
        try:
            resp = await client.usergroups_users_list(usergroup=opts.pin_allowed_usergroup)
            return user in (resp.get("users") or [])
        except SlackApiError as exc:
            log.warning("cannot read user group: %s", exc.response.get("error"))
    return False


def register(app: Any, services: Services, poster: Poster) -> None:
    handlers: dict[str, Callable[[Click], Awaitable[None]]] = {
        "pin_digest": lambda c: pin_digest(services, poster, c),
        "show_tags": lambda c: show_tags(services, poster, c),
        "recheck": lambda c: recheck(services, poster, c),
        "bypass_mirror": lambda c: bypass_mirror(services, poster, c),
        "resolve_incident": lambda c: resolve(services, poster, c),
    }

    async def ack_click(ack: Any) -> None:
        await ack()

    async def on_click(body: dict[str, Any], respond: Any, client: Any) -> None:
        action = (body.get("actions") or [{}])[0]
        action_id = str(action.get("action_id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        message_ts = str((body.get("container") or {}).get("message_ts") or "")
        value = str(action.get("value") or "")
        if not await may_act(services, client, action_id, user):
            await respond(response_type="ephemeral", replace_original=False,
                          text="Only the people configured for this workspace may pin digests or resolve "
                               "incidents. Ask one of them, or use the snippets from `/imagecheck`.")
            return
        click_key = hashlib.sha256(f"{action_id}|{channel}|{message_ts}|{value}".encode()).hexdigest()[:32]
        # A double click (or a replayed delivery) inside the window acts once.
        if not await claim(services, f"click:{click_key}", services.options.click_dedupe_ttl_s):
            return
        try:
            payload = await load_payload(value, services.store)
            ref = parse_reference(payload.ref)
        except (PayloadError, InvalidReference):
            await respond(response_type="ephemeral", replace_original=False,
                          text=expired_notice(services.options.incident_ttl_days))
            return
        incident = await load_incident(services, payload.incident)
        if incident is None:
            await respond(response_type="ephemeral", replace_original=False,
                          text=expired_notice(services.options.incident_ttl_days))
            return
        if not services.options.registry_allowed(ref.domain, channel or incident.channel):
            await respond(response_type="ephemeral", replace_original=False,
                          text=f"Checks of {escape(ref.domain)} are limited to certain channels.")
            return
        await handlers[action_id](Click(action_id, user, channel or incident.channel, payload, ref, incident,
                                        respond))

    for action_id in ACTION_IDS:
        app.action(action_id)(ack=ack_click, lazy=[on_click])


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
    pinned = click.ref.with_digest(digest)

    def mutate(incident: Incident) -> None:
        incident.pins.append(Pin(reference=payload.ref, pinned=pinned, digest=digest, by=click.user))
        incident.timeline.append(TimelineEvent(kind=TimelineKind.pinned, actor=click.user,
                                               summary=f"pinned {pinned}", reference=payload.ref,
                                               digest=digest))
        if incident.status is IncidentStatus.open:
            incident.status = IncidentStatus.mitigated

    incident = await _record(services, click, mutate)
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
    incident = await _record(services, click,
                             record_diagnoses([new], actor=click.user, kind=TimelineKind.rechecked))
    await _post(poster, click, render_recheck_summary(old, new, by=click.user))
    await _post(poster, click, render_diagnosis(
        new, incident_id=click.incident.id,
        mirrors_configured=bool(services.options.mirrors.get(click.ref.domain))))
    await _refresh(services, poster, incident)


async def bypass_mirror(services: Services, poster: Poster, click: Click) -> None:
    try:
        comparison = await services.checks.compare_mirrors(click.ref)
    except Exception as exc:
        await _post(poster, click, failure_notice(services, click.ref, exc))
        return
    summary = comparison.summary if isinstance(comparison, Diagnosis) else "compared upstream and mirrors"

    def mutate(incident: Incident) -> None:
        incident.timeline.append(TimelineEvent(
            kind=TimelineKind.mirror_compared, actor=click.user, reference=click.payload.ref,
            summary=summary, digest=getattr(comparison, "digest", None)))

    incident = await _record(services, click, mutate)
    if isinstance(comparison, Diagnosis):
        await _post(poster, click, render_diagnosis(comparison, title_prefix="Upstream vs mirror: "))
    else:
        await _post(poster, click, render_mirror_comparison(click.payload.ref, comparison))
    await _refresh(services, poster, incident)


async def resolve(services: Services, poster: Poster, click: Click) -> None:
    if click.incident.status is IncidentStatus.resolved:
        await click.respond(response_type="ephemeral", replace_original=False, text="Already resolved.")
        return

    def mutate(incident: Incident) -> None:
        incident.status = IncidentStatus.resolved
        incident.timeline.append(TimelineEvent(kind=TimelineKind.resolved, actor=click.user,
                                               summary="resolved", at=utcnow()))

    incident = await _record(services, click, mutate)
    await _post(poster, click, render_notice(f":white_check_mark: Resolved by {mention_user(click.user)}."))
    await _refresh(services, poster, incident)


async def _record(services: Services, click: Click, mutate: Callable[[Incident], None]) -> Incident | None:
    """Write to the incident first, so the record survives a failed Slack post."""
    return await update_incident(services.store, click.incident.channel, click.thread_ts, mutate,
                                 create=False)


async def _refresh(services: Services, poster: Poster, incident: Incident | None) -> None:
    if incident is not None:
        await refresh_parent(services, poster, incident)
