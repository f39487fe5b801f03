"""App Home: the user's own open incidents (ones they started or acted in), most recent first.

Home is private to the viewer but incidents live in channels (some private, some limited to certain
registries), so a user only ever sees incidents they took part in: never the whole workspace's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.domain.errors import StoreUnavailable
from bot.domain.models import Incident
from bot.slack.render import section
from bot.slack.render_followups import render_home
from bot.slack.services import Services

log = logging.getLogger(__name__)
HOME_INCIDENTS = 25


def involves(incident: Incident, user: str) -> bool:
    """True when ``user`` started the incident or appears as an actor in its timeline."""
    return bool(user) and user in incident.participants()


def visible_to(incidents: Sequence[Incident], user: str, *, limit: int = HOME_INCIDENTS) -> list[Incident]:
    """The user's incidents, in the store's order (most recent first), at most ``limit``."""
    return [i for i in incidents if involves(i, user)][:limit]


def register(app: Any, services: Services) -> None:
    async def on_home_opened(event: dict[str, Any], client: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        user = str(event.get("user") or "")
        try:
            # The store's per-user index finds them however many newer incidents others have; the
            # filter re-applies Home's privacy rule here, where it is shown, whatever the store did.
            incidents = await services.store.list_user_incidents(user, limit=HOME_INCIDENTS)
            blocks = render_home(visible_to(incidents, user), user=user)
        except StoreUnavailable:
            blocks = [section(":warning: The incident store is unavailable right now; try again shortly.")]
        await client.views_publish(user_id=user,
                                   view={"type": "home", "blocks": [b.to_dict() for b in blocks]})

    app.event("app_home_opened")(on_home_opened)
