"""Message shortcut "Diagnose image error": triage that message on demand, whatever the threshold.

The shortcut always answers: where the bot cannot post (not a member of the channel), the triage and
the checks go back privately to the user who asked, through the shortcut's ``response_url``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.models import Diagnosis, TriageResult
from bot.domain.triage.focus import needs_deep_check
from bot.slack.flows import (
    check_one,
    failure_notice,
    new_correlation_id,
    triage_into_thread,
    triage_platforms,
    triage_refs,
)
from bot.slack.guards import claim, rate_allowed
from bot.slack.links import as_typed
from bot.slack.posting import Poster
from bot.slack.render import Rendered, _cap, render_diagnosis, render_triage, section
from bot.slack.services import Services

log = logging.getLogger(__name__)

CALLBACK_ID = "diagnose_image_error"
NOTHING_FOUND = ("I couldn't find an image pull error or an image reference in that message. "
                 "Try `/imagecheck <image>` instead.")
NOT_A_MEMBER = ("I can't reply in this channel (I'm not a member of it), so here is my diagnosis just for "
                "you. Invite me with `/invite @imagecheck` to get it in the thread next time.")


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
        thread_ts = str(message.get("thread_ts") or ts)
        try:
            await triage_into_thread(services, poster, result, channel=channel, thread_ts=thread_ts, actor=user,
                                     on_demand=True)
        except SlackApiError as exc:
            log.info("cannot post in %s (%s); answering the shortcut ephemerally", channel,
                     exc.response.get("error"))
            await answer_privately(services, result, respond, channel=channel)

    app.shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[diagnose])


async def answer_privately(services: Services, result: TriageResult, respond: Any, *, channel: str) -> None:
    """The triage (with its checks) and each diagnosis or failure, as ephemeral replies to the user."""
    refs = triage_refs(result, services.options.max_refs_per_request)
    platforms = triage_platforms(result)
    correlation = new_correlation_id()
    # Usually answered from the result cache: triage_into_thread checked these moments ago.
    deep = needs_deep_check(result)  # a missing-blob paste needs the blobs checked, as in the thread
    outcomes = await asyncio.gather(*(check_one(services, r, platforms, channel=channel, deep=deep,
                                                correlation_id=correlation) for r in refs))
    diagnoses = [o for o in outcomes if isinstance(o, Diagnosis)]
    reconciliation = services.reconcile(result, diagnoses) if diagnoses else []
    checked = result.model_copy(update={"diagnoses": diagnoses, "reconciliation": reconciliation})
    triaged = render_triage(checked, on_demand=True)
    first = Rendered(_cap([section(NOT_A_MEMBER), *triaged.blocks]), triaged.text)
    await respond(response_type="ephemeral", text=first.text, blocks=first.as_dicts())
    for ref, outcome in zip(refs, outcomes, strict=True):
        reply = failure_notice(services, ref, outcome) if isinstance(outcome, Exception) else render_diagnosis(outcome)
        await respond(response_type="ephemeral", text=reply.text, blocks=reply.as_dicts())
