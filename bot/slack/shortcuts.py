"""Message shortcut "Diagnose image error": triage that message on demand, whatever the threshold."""

from __future__ import annotations

from typing import Any

from bot.slack.flows import triage_into_thread
from bot.slack.guards import claim, rate_allowed
from bot.slack.links import as_typed
from bot.slack.posting import Poster
from bot.slack.services import Services

CALLBACK_ID = "diagnose_image_error"
NOTHING_FOUND = ("I couldn't find an image pull error or an image reference in that message. "
                 "Try `/imagecheck <image>` instead.")


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
        await triage_into_thread(services, poster, result, channel=channel, thread_ts=thread_ts, actor=user,
                                 on_demand=True)

    app.shortcut(CALLBACK_ID)(ack=ack_shortcut, lazy=[diagnose])
