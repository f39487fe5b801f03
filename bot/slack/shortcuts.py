"""Message shortcut "Diagnose image error": triage that message on demand, whatever the threshold.

The shortcut always answers. Where the bot can post, the triage goes into the message's thread and
the thread becomes an incident (on the user's App Home, with buttons). Where it cannot (not a member
of the channel), the same triage and checks go privately to the user who asked, through the
shortcut's ``response_url``, and nothing is kept: an incident is a thread the bot works in, and there
the bot could neither post its buttons' answers nor re-render anything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.incidents import record_triage
from bot.domain.models import Diagnosis, ImageRef, TriageResult, utcnow
from bot.domain.triage.focus import needs_deep_check
from bot.metrics import TRIAGE
from bot.slack.flows import check_one, failure_notice, new_correlation_id, triage_platforms, triage_refs
from bot.slack.guards import claim, rate_allowed
from bot.slack.incident_state import record
from bot.slack.links import as_typed
from bot.slack.posting import Poster
from bot.slack.render import Rendered, _cap, render_diagnosis, render_triage, section
from bot.slack.services import Services

log = logging.getLogger(__name__)

CALLBACK_ID = "diagnose_image_error"
NOTHING_FOUND = ("I couldn't find an image pull error or an image reference in that message. "
                 "Try `/imagecheck <image>` instead.")
NOT_A_MEMBER = ("I can't reply in this channel (I'm not a member of it), so here is my diagnosis just for "
                "you; it is not kept as an incident. Invite me with `/invite @imagecheck` to get it in the "
                "thread, tracked on your App Home, next time.")


@dataclass(frozen=True)
class CheckedTriage:
    """A triage with its references checked: the outcome of each (a diagnosis or why it failed)."""

    result: TriageResult  # with the diagnoses and the reconciliation filled in
    refs: list[ImageRef]
    outcomes: list[Diagnosis | Exception]


def register(app: Any, services: Services, poster: Poster) -> None:
    async def ack_shortcut(ack: Any) -> None:
        await ack()

    async def diagnose(body: dict[str, Any], respond: Any) -> None:
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        ts = str(message.get("ts") or "")
        if not channel or not ts:
            return
        if not await claim(services, f"shortcut:{body.get('trigger_id')}", services.options.dedupe_ttl_s):
            return
        if not await rate_allowed(services, user, channel):
            await respond(response_type="ephemeral", text="Please wait a minute before asking again.")
            return
        result = services.triage(as_typed(str(message.get("text") or "")), "slack")
        if not result.references and result.confidence == 0.0:
            await respond(response_type="ephemeral", text=NOTHING_FOUND)
            return
        TRIAGE.labels(category=result.category.value).inc()
        checked = await check_triage(services, result, channel=channel)
        thread_ts = str(message.get("thread_ts") or ts)
        try:
            await answer_in_thread(services, poster, checked, channel=channel, thread_ts=thread_ts, actor=user)
        except SlackApiError as exc:
            log.info("cannot post in %s (%s); answering the shortcut ephemerally", channel,
                     exc.response.get("error"))
            await answer_privately(services, checked, respond)

    app.shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[diagnose])


async def check_triage(services: Services, result: TriageResult, *, channel: str) -> CheckedTriage:
    """Check the references the triage found (blobs too for a missing-blob paste), concurrently."""
    refs = triage_refs(result, services.options.max_refs_per_request)
    platforms = triage_platforms(result)
    correlation = new_correlation_id()
    deep = needs_deep_check(result)  # a missing blob or a bad manifest is invisible to a shallow check
    outcomes = list(await asyncio.gather(*(check_one(services, r, platforms, channel=channel, deep=deep,
                                                     correlation_id=correlation) for r in refs)))
    diagnoses = [o for o in outcomes if isinstance(o, Diagnosis)]
    reconciliation = services.reconcile(result, diagnoses) if diagnoses else []
    return CheckedTriage(result.model_copy(update={"diagnoses": diagnoses, "reconciliation": reconciliation}),
                         refs, outcomes)


async def answer_in_thread(services: Services, poster: Poster, checked: CheckedTriage, *, channel: str,
                           thread_ts: str, actor: str) -> None:
    """Post the triage, then keep the incident, then post each diagnosis with its buttons.

    The triage goes first so that a channel the bot cannot post in raises ``SlackApiError`` before
    anything is kept: no incident without a thread of ours.
    """
    await poster.post(channel, render_triage(checked.result, on_demand=True), thread_ts=thread_ts)
    at = utcnow()
    incident = await record(services.store, channel, thread_ts,
                            lambda incident: record_triage(incident, checked.result, at=at, actor=actor),
                            actor=actor)
    for ref, outcome in zip(checked.refs, checked.outcomes, strict=True):
        if isinstance(outcome, Exception):
            await poster.post(channel, failure_notice(services, ref, outcome), thread_ts=thread_ts)
        else:
            await poster.post(channel, render_diagnosis(
                outcome, incident_id=incident.id,
                mirrors_configured=bool(services.options.mirrors.get(ref.registry_key))), thread_ts=thread_ts)


async def answer_privately(services: Services, checked: CheckedTriage, respond: Any) -> None:
    """The triage (with its checks) and each diagnosis or failure, as ephemeral replies to the user,
    without buttons: there is no incident for them to act on."""
    triaged = render_triage(checked.result, on_demand=True)
    first = Rendered(_cap([section(NOT_A_MEMBER), *triaged.blocks]), triaged.text)
    await respond(response_type="ephemeral", text=first.text, blocks=first.as_dicts())
    for ref, outcome in zip(checked.refs, checked.outcomes, strict=True):
        reply = failure_notice(services, ref, outcome) if isinstance(outcome, Exception) else render_diagnosis(outcome)
        await respond(response_type="ephemeral", text=reply.text, blocks=reply.as_dicts())
