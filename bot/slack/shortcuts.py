"""Message shortcut "Diagnose image error": triage that message on demand, whatever the threshold.

The shortcut always answers. Where the bot can post, the triage goes into the message's thread and
the thread becomes an incident (on the user's App Home, with buttons). Where it cannot (not a member
of the channel), the same triage and checks go privately to the user who asked, through the
shortcut's ``response_url``, and nothing is kept: an incident is a thread the bot works in, and there
the bot could neither post its buttons' answers nor re-render anything.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.metrics import TRIAGE
from bot.slack.flows import CheckedTriage, ThreadUnavailable, answer_in_thread, check_triage, failure_notice
from bot.slack.guards import claim, rate_allowed
from bot.slack.links import as_typed
from bot.slack.messages import triage_off_loop
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
        result = await triage_off_loop(services, as_typed(str(message.get("text") or "")))
        if not result.references and result.confidence == 0.0:
            await respond(response_type="ephemeral", text=NOTHING_FOUND)
            return
        TRIAGE.labels(category=result.category.value).inc()
        checked = await check_triage(services, result, channel=channel)
        thread_ts = str(message.get("thread_ts") or ts)
        try:
            await answer_in_thread(services, poster, checked, channel=channel, thread_ts=thread_ts, actor=user,
                                   on_demand=True)
        except ThreadUnavailable as exc:
            log.info("cannot post in %s (%s); answering the shortcut ephemerally", channel, exc.error)
            await answer_privately(services, checked, respond)

    app.shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[diagnose])


async def answer_privately(services: Services, checked: CheckedTriage, respond: Any) -> None:
    """The triage (with its checks) and each diagnosis or failure, as ephemeral replies to the user,
    without buttons: there is no incident for them to act on."""
    triaged = render_triage(checked.result, on_demand=True)
    first = Rendered(_cap([section(NOT_A_MEMBER), *triaged.blocks]), triaged.text)
    await respond(response_type="ephemeral", text=first.text, blocks=first.as_dicts())
    for ref, outcome in zip(checked.refs, checked.outcomes, strict=True):
        reply = failure_notice(services, ref, outcome) if isinstance(outcome, Exception) else render_diagnosis(outcome)
        await respond(response_type="ephemeral", text=reply.text, blocks=reply.as_dicts())
