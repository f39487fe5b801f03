"""Channel messages: pasted pull errors get a threaded triage; @mentions check or triage on request."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.domain.models import TriageResult
from bot.slack.command_text import CheckRequest, parse_command_text
from bot.slack.flows import check_into_thread, should_reply, triage_into_thread
from bot.slack.guards import claim, rate_allowed
from bot.slack.links import as_typed
from bot.slack.posting import Poster
from bot.slack.render import render_notice, render_usage
from bot.slack.services import Services

log = logging.getLogger(__name__)

# Subtypes that are a person posting text; everything else (edits, deletes, joins, bots) stays quiet.
_PERSON_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def is_person_message(event: dict[str, Any]) -> bool:
    return event.get("subtype") in _PERSON_SUBTYPES and not event.get("bot_id") and bool(event.get("user"))


def register(app: Any, services: Services, poster: Poster) -> None:
    opts = services.options

    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if not is_person_message(event):
            return
        channel = str(event.get("channel") or "")
        text = str(event.get("text") or "")
        bot_user = getattr(context, "bot_user_id", None) or context.get("bot_user_id")
        if not channel or not opts.channel_enabled(channel) or event.get("channel_type") == "im":
            return
        if bot_user and f"<@{bot_user}>" in text:
            return  # the app_mention event answers this one
        # Claimed before the triage, so an event delivered again (to this or another replica) is not
        # triaged again; the triage runs in a worker thread so a huge paste cannot hold up other acks.
        if not await claim(services, f"event:{body.get('event_id') or event.get('ts')}", opts.dedupe_ttl_s):
            return
        result = await triage_off_loop(services, as_typed(text))
        # The channel rate counts checks, so only a message that gets a reply is counted: everyday
        # chatter must not use up the channel's budget.
        if not should_reply(services, result):
            return
        if not await rate_allowed(services, None, channel):
            return
        thread_ts = str(event.get("thread_ts") or event.get("ts"))
        await triage_into_thread(services, poster, result, channel=channel, thread_ts=thread_ts,
                                 actor=str(event.get("user")))

    async def on_mention(event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        if event.get("bot_id"):
            return
        channel = str(event.get("channel") or "")
        user = str(event.get("user") or "")
        thread_ts = str(event.get("thread_ts") or event.get("ts"))
        if not await claim(services, f"event:{body.get('event_id') or event.get('ts')}", opts.dedupe_ttl_s):
            return
        text = _MENTION.sub(" ", str(event.get("text") or "")).strip()
        if not await rate_allowed(services, user, channel):
            await poster.post(channel, render_notice("You're checking images faster than allowed; "
                                                     "please wait a minute."), thread_ts=thread_ts)
            return
        result = await triage_off_loop(services, as_typed(text)) if text else None
        if result is not None and should_reply(services, result):
            await triage_into_thread(services, poster, result, channel=channel, thread_ts=thread_ts,
                                     actor=user)
            return
        request = parse_command_text(text, max_chars=opts.max_slash_chars, max_refs=opts.max_refs_per_request)
        if isinstance(request, CheckRequest):
            await check_into_thread(services, poster, request.refs, request.platforms, channel=channel,
                                    thread_ts=thread_ts, actor=user)
            return
        if event.get("thread_ts"):
            pasted = await thread_root_text(client, channel, str(event["thread_ts"]))
            if pasted:
                await triage_into_thread(services, poster, await triage_off_loop(services, pasted),
                                         channel=channel, thread_ts=thread_ts, actor=user, on_demand=True)
                return
        await poster.post(channel, render_usage(), thread_ts=thread_ts)

    app.event("message")(on_message)
    app.event("app_mention")(on_mention)


async def triage_off_loop(services: Services, text: str) -> TriageResult:
    """``services.triage`` of a Slack paste in a worker thread: triage is CPU-bound and a megabyte of
    hostile text takes a while, which must not stall the event loop that acks every other request."""
    return await asyncio.to_thread(services.triage, text, "slack")


async def thread_root_text(client: Any, channel: str, thread_ts: str) -> str | None:
    """The first message of the thread, when a person wrote it (the paste being asked about)."""
    try:
        resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=1)
    except SlackApiError as exc:
        log.info("cannot read thread %s in %s: %s", thread_ts, channel, exc.response.get("error"))
        return None
    messages = resp.get("messages") or []
    if messages and is_person_message(messages[0]):
        return as_typed(str(messages[0].get("text") or "")) or None
    return None
