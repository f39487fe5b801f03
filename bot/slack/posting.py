"""Posting to Slack: one Web API client, 429 retries honouring Retry-After, about 1 msg/s per channel.

Every message goes out with ``unfurl_links``/``unfurl_media`` off (a pasted URL must not make Slack
fetch it) and ``link_names`` off (``@channel`` in text never notifies).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import SLACK_API_ERRORS
from bot.slack.render import Rendered


def make_client(token: str | None, base_url: str, *, max_429_retries: int = 3) -> AsyncWebClient:
    base = base_url if base_url.endswith("/") else base_url + "/"
    client = AsyncWebClient(token=token, base_url=base, timeout=15)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=max_429_retries))
    return client


class Poster:
    """Sends rendered messages, pacing each channel so a burst of replies doesn't hit Slack's limit."""

    def __init__(self, client: AsyncWebClient, *, per_channel_interval_s: float = 1.0) -> None:
        self.client = client
        self.interval = per_channel_interval_s
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._last: dict[str, float] = {}

    async def _pace(self, channel: str) -> None:
        last = self._last.get(channel)
        if last is not None:
            wait = self.interval - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
        self._last[channel] = time.monotonic()

    async def post(self, channel: str, message: Rendered, *, thread_ts: str | None = None) -> str:
        """Post and return the new message's ``ts``."""
        async with self._locks[channel]:
            await self._pace(channel)
            kwargs: dict[str, Any] = {}
            if thread_ts:
                kwargs["thread_ts"] = thread_ts
            resp = await self._call("chat.postMessage", self.client.chat_postMessage(
                channel=channel, text=message.text, blocks=message.as_dicts(), unfurl_links=False,
                unfurl_media=False, link_names=False, **kwargs))
            return str(resp.get("ts", ""))

    async def update(self, channel: str, ts: str, message: Rendered) -> None:
        async with self._locks[channel]:
            await self._pace(channel)
            await self._call("chat.update", self.client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.as_dicts(), link_names=False))

    async def ephemeral(self, channel: str, user: str, message: Rendered, *,
                        thread_ts: str | None = None) -> None:
        kwargs: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        await self._call("chat.postEphemeral", self.client.chat_postEphemeral(
            channel=channel, user=user, text=message.text, blocks=message.as_dicts(), link_names=False,
            **kwargs))

    async def _call(self, method: str, call: Any) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method=method, error=str(exc.response.get("error", "unknown"))).inc()
            raise
