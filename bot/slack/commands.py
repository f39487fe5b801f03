"""``/imagecheck``: ack at once (usage, refusal or "checking…"), then check into a thread lazily."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.models import Incident
from bot.slack.command_text import CheckRequest, Refusal, Usage, parse_command_text
from bot.slack.escape import code, escape
from bot.slack.flows import check_into_thread, check_one, failure_notice
from bot.slack.guards import claim, rate_allowed
from bot.slack.incident_state import load_incident, mark_parent, refresh_parent
from bot.slack.posting import Poster
from bot.slack.render import Rendered, render_diagnosis, render_notice, render_parent, render_usage
from bot.slack.services import Services

log = logging.getLogger(__name__)

RATE_LIMITED = ("You're checking images faster than this workspace allows; "
                "please wait a minute and try again. :hourglass:")


def refusal_message(refusal: Refusal) -> Rendered:
    text = refusal.message
    if refusal.detail is not None:
        text += " " + code(refusal.detail, 300)
    if refusal.hint:
        text += "\n" + escape(refusal.hint)
    return render_notice(text)


def ack_message(request: CheckRequest | Usage | Refusal) -> Rendered:
    if isinstance(request, Usage):
        return render_usage()
    if isinstance(request, Refusal):
        return refusal_message(request)
    names = ", ".join(code(r.normalized, 300) for r in request.refs)
    return render_notice(f":mag: Checking {names} …")


def register(app: Any, services: Services, poster: Poster) -> None:
    opts = services.options

    def parse(body: dict[str, Any]) -> CheckRequest | Usage | Refusal:
        return parse_command_text(str(body.get("text") or ""), max_chars=opts.max_slash_chars,
                                  max_refs=opts.max_refs_per_request)

    async def ack_imagecheck(ack: Any, body: dict[str, Any]) -> None:
        # No I/O here: Slack's 3-second rule holds whatever the registry or the store does.
        message = ack_message(parse(body))
        await ack(response_type="ephemeral", text=message.text, blocks=message.as_dicts())

    async def run_imagecheck(body: dict[str, Any], respond: Any) -> None:
        request = parse(body)
        if not isinstance(request, CheckRequest):
            return
        user = str(body.get("user_id") or "")
        channel = str(body.get("channel_id") or "")
        if not await claim(services, f"slash:{body.get('trigger_id')}", opts.dedupe_ttl_s):
            return
        if not await rate_allowed(services, user, channel):
            await respond(response_type="ephemeral", replace_original=True, text=RATE_LIMITED)
            return
        pending = Incident(id="pending", channel=channel, thread_ts="pending", created_by=user)
        try:
            parent_ts = await poster.post(channel, render_parent(
                pending, user, pending=[r.normalized for r in request.refs]))
        except SlackApiError as exc:
            # Not a member of this channel (or a DM we can't post in): answer privately instead.
            log.info("cannot post in %s (%s); answering ephemerally", channel, exc.response.get("error"))
            await answer_privately(services, request, respond, channel=channel)
            return
        incident_id = Incident.make_id(channel, parent_ts)
        await mark_parent(services.store, incident_id)
        await check_into_thread(services, poster, request.refs, request.platforms, channel=channel,
                                thread_ts=parent_ts, actor=user)
        incident = await load_incident(services.store, incident_id)
        if incident is not None:
            await refresh_parent(services.store, poster, incident)
        await respond(response_type="ephemeral", replace_original=True,
                      text="Done: the diagnosis is in the thread. :thread:")

    app.command("/imagecheck")(ack=ack_imagecheck, lazy=[run_imagecheck])


async def answer_privately(services: Services, request: CheckRequest, respond: Any, *, channel: str) -> None:
    """Answer every reference ephemerally (diagnosis or failure notice), never dropping one silently.

    The first answer replaces the ephemeral "Checking…" so it does not linger; the rest are added.
    """
    for index, ref in enumerate(request.refs):
        outcome = await check_one(services, ref, request.platforms, channel=channel)
        if isinstance(outcome, Exception):
            message = failure_notice(services, ref, outcome)
        else:
            message = render_diagnosis(outcome)
        await respond(response_type="ephemeral", replace_original=index == 0, text=message.text,
                      blocks=message.as_dicts())
