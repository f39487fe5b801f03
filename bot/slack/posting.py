"""Posting to Slack: one Web API client, 429 retries honouring Retry-After, about 1 msg/s per channel.

Every message goes out with ``unfurl_links``/``unfurl_media`` off (a pasted URL must not make Slack
fetch it) and ``link_names`` off (``@channel`` in text never notifies).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import SLACK_API_ERRORS
from bot.slack.render import Rendered


class CountingRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (sleeps for ``Retry-After``, then retries), counting each 429 it sees."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        retry = await super()._can_retry_async(state=state, request=request, response=response, error=error)
        if response is not None and response.status_code == 429:
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            SLACK_API_ERRORS.labels(method=method, error="ratelimited").inc()
        return bool(retry)


def make_client(token: str | None, base_url: str, *, max_429_retries: int = 3) -> AsyncWebClient:
    base = base_url if base_url.endswith("/") else base_url + "/"
    client = AsyncWebClient(token=token, base_url=base, timeout=15)
    client.retry_handlers.append(CountingRateLimitRetryHandler(max_retry_count=max_429_retries))
    return client


class Poster:
    """Sends rendered messages, pacing each channel to about one message per second.

    A token bucket per channel: a short burst (a parent and its first reply) goes out at once, a
    longer run of replies settles to one per ``per_channel_interval_s``, as Slack's limit asks.
    """

    def __init__(self, client: AsyncWebClient, *, per_channel_interval_s: float = 1.0, burst: int = 3,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.interval = per_channel_interval_s
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tokens: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)

    async def _pace(self, channel: str) -> None:
        if self.interval <= 0:
            return
        now = self._clock()
        tokens, at = self._tokens.get(channel, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) / self.interval)
        if tokens < 1.0:
            await self._sleep((1.0 - tokens) * self.interval)
            tokens, now = 1.0, self._clock()
        self._tokens[channel] = (tokens - 1.0, now)

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

    async def _call(self, method: str, call: Any) -> Any:
        try:
            return await call
        except SlackApiError as exc:
            SLACK_API_ERRORS.labels(method=method, error=str(exc.response.get("error", "unknown"))).inc()
            raise
