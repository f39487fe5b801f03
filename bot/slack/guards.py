"""What a listener asks before doing work: has this delivery been handled already, and is this user or
channel within its rate? Both answer from the shared store, so every replica agrees; with the store
down they let the work through (answering beats refusing everyone)."""

from __future__ import annotations

from bot.domain.errors import StoreUnavailable
from bot.slack.services import Services


async def rate_allowed(services: Services, user: str | None, channel: str | None) -> bool:
    opts = services.options
    try:
        if user and not await services.store.allow(f"rl:user:{user}", limit=opts.user_checks_per_minute,
                                                   window_s=60.0):
            return False
        if channel and not await services.store.allow(
                f"rl:channel:{channel}", limit=opts.channel_checks_per_minute, window_s=60.0):
            return False
    except StoreUnavailable:
        return True
    return True


async def claim(services: Services, key: str, ttl_s: float) -> bool:
    """True the first time; with the store down, act (a rare duplicate beats silence)."""
    try:
        return await services.store.claim_once(key, ttl_s)
    except StoreUnavailable:
        return True
