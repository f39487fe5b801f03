"""Diagnosis buttons. Action ids are part of the interface: pin_digest, show_tags, recheck,
bypass_mirror, resolve_incident. Each acks at once and acts lazily, once per click: this module asks
``click_access`` whether the user may click, dedupes the click and loads its payload and incident
(``click_state``, which tells "expired" from "state store unreachable"); ``action_handlers`` does the
work."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack.action_handlers import Click, bypass_mirror, pin_digest, recheck, resolve, show_tags
from bot.slack.click_access import check_access
from bot.slack.click_state import NOT_RECORDED_NOTICE, ClickRefused, load_click_state
from bot.slack.escape import escape
from bot.slack.guards import claim
from bot.slack.incident_state import watch_dropped_writes
from bot.slack.posting import Poster
from bot.slack.services import Services

log = logging.getLogger(__name__)

ACTION_IDS = ("pin_digest", "show_tags", "recheck", "bypass_mirror", "resolve_incident")
JUST_CLICKED = ("That button was clicked a moment ago (by you or someone else), so it acts only once; "
                "its answer is in the thread.")


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
        access = await check_access(services, client, action_id, user, channel)
        if not access.allowed:
            await respond(response_type="ephemeral", replace_original=False, text=access.refusal)
            return
        # Read before claiming: a click refused here (state expired, store unreachable) changed
        # nothing, so clicking again a moment later must not be swallowed as a duplicate.
        try:
            state = await load_click_state(services.store, action_id, value,
                                           incident_ttl_days=services.options.incident_ttl_days)
        except ClickRefused as refused:
            await respond(response_type="ephemeral", replace_original=False, text=refused.notice)
            return
        click_key = hashlib.sha256(f"{action_id}|{channel}|{message_ts}|{value}".encode()).hexdigest()[:32]
        # A double click (or a replayed delivery) inside the window acts once; whoever clicked second
        # is told why nothing more happened instead of getting silence.
        if not await claim(services, f"click:{click_key}", services.options.click_dedupe_ttl_s):
            await respond(response_type="ephemeral", replace_original=False, text=JUST_CLICKED)
            return
        incident, ref = state.incident, state.ref
        if not services.options.registry_allowed(ref.domain, channel or incident.channel):
            await respond(response_type="ephemeral", replace_original=False,
                          text=f"Checks of {escape(ref.domain)} are limited to certain channels.")
            return
        with watch_dropped_writes() as dropped:
            await handlers[action_id](Click(action_id, user, channel or incident.channel, state.payload, ref,
                                            incident, respond))
        # Told only when a write was really lost (the store may have failed mid-click, or come back).
        if dropped:
            await respond(response_type="ephemeral", replace_original=False, text=NOT_RECORDED_NOTICE)

    for action_id in ACTION_IDS:
        app.action(action_id)(ack=ack_click, lazy=[on_click])
