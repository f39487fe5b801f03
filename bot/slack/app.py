"""Build the Bolt ``AsyncApp`` with every listener registered.

HTTP mode acks before processing (``process_before_response=False``): ack functions do no I/O and
``lazy=[...]`` functions do the registry work, so Slack's 3-second rule holds whatever a registry does.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import actions, commands, home, messages, shortcuts
from bot.slack.posting import Poster
from bot.slack.services import Services


def build_app(services: Services, client: AsyncWebClient, *, signing_secret: str | None,
              per_channel_interval_s: float = 1.0, logger: logging.Logger | None = None) -> AsyncApp:
    """``client`` carries the bot token and ``base_url``; Socket Mode passes ``signing_secret=None``."""
    logger = logger or logging.getLogger("imagecheck.slack")
    logger.addFilter(_DropTokenSkippedWarning())
    app = AsyncApp(client=client, signing_secret=signing_secret,
                   request_verification_enabled=signing_secret is not None,
                   process_before_response=False, logger=logger)
    poster = Poster(client, per_channel_interval_s=per_channel_interval_s)
    commands.register(app, services, poster)
    messages.register(app, services, poster)
    shortcuts.register(app, services, poster)
    actions.register(app, services, poster)
    home.register(app, services)
    return app


class _DropTokenSkippedWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client (which carries that
    same token and our base_url), then warns at every start that the token is unused: noise in logs."""

    _text = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._text
