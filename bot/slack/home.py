"""App Home: the open incidents, most recent first."""

from __future__ import annotations

import logging
from typing import Any

from bot.domain.errors import StoreUnavailable
from bot.slack.render import section
from bot.slack.render_followups import render_home
from bot.slack.services import Services

log = logging.getLogger(__name__)
HOME_INCIDENTS = 25


def register(app: Any, services: Services) -> None:
    async def on_home_opened(event: dict[str, Any], client: Any) -> None:
        if event.get("tab", "home") != "home":
            return
        try:
            incidents = await services.store.list_incidents(limit=HOME_INCIDENTS)
            blocks = render_home(incidents)
        except StoreUnavailable:
            blocks = [section(":warning: The incident store is unavailable right now; try again shortly.")]
        await client.views_publish(user_id=str(event.get("user")),
                                   view={"type": "home", "blocks": [b.to_dict() for b in blocks]})

    app.event("app_home_opened")(on_home_opened)
