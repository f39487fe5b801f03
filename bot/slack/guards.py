"""What a listener asks before doing work: has this delivery been handled already, and is this user or
channel within its rate? Both answer from the shared store, so every replica agrees.

With the store down, both fall back to this replica's own memory. The rate limit is then counted per
replica (``LocalRates``: each replica stays within the configured rate). Dedupe uses ``LocalClaims``:
a Slack retry or a double click that reaches the same replica still acts once, one that reaches
another replica may act twice.
"""

from __future__ import annotations

import weakref

from bot.domain.errors import StoreUnavailable
from bot.domain.ports import StatePort
from bot.slack.local_claims import LocalClaims
from bot.slack.local_rates import LocalRates
from bot.slack.services import Services

# One fallback per store object, which is one per replica (each replica opens one store). Keyed by
# the store rather than kept as a single global so that two replicas started in one process (tests,
# benchmarks) stay as separate as two pods would be, and a closed store takes its memory with it.
_fallbacks: weakref.WeakKeyDictionary[StatePort, LocalClaims] = weakref.WeakKeyDictionary()
_rate_fallbacks: weakref.WeakKeyDictionary[StatePort, LocalRates] = weakref.WeakKeyDictionary()


def local_claims(store: StatePort) -> LocalClaims:
    """This replica's fallback dedupe memory for ``store``."""
    claims = _fallbacks.get(store)
    if claims is None:
        # Expire on the store's clock when it has one, so a test clock drives both alike.
        claims = _fallbacks[store] = LocalClaims(clock=getattr(store, "clock", None))
    return claims


def local_rates(store: StatePort) -> LocalRates:
    """This replica's fallback rate counts for ``store`` (one per store, as ``local_claims``)."""
    rates = _rate_fallbacks.get(store)
    if rates is None:
        rates = _rate_fallbacks[store] = LocalRates(clock=getattr(store, "clock", None))
    return rates


async def rate_allowed(services: Services, user: str | None, channel: str | None) -> bool:
    opts = services.options
    limits = [(f"rl:user:{user}", opts.user_checks_per_minute)] if user else []
    limits += [(f"rl:channel:{channel}", opts.channel_checks_per_minute)] if channel else []
    for key, limit in limits:
        try:
            allowed = await services.store.allow(key, limit=limit, window_s=60.0)
        except StoreUnavailable:
            allowed = local_rates(services.store).allow(key, limit=limit, window_s=60.0)
        if not allowed:
            return False
    return True


async def claim(services: Services, key: str, ttl_s: float) -> bool:
    """True the first time ``key`` is claimed within ``ttl_s`` (across replicas while the store answers;
    on this replica only while it does not)."""
    local = local_claims(services.store)
    # Checked first: a key this replica acted on stays claimed even if the store lost it (Redis
    # restarted empty) or was down when it was claimed here.
    if local.seen(key):
        return False
    try:
        first = await services.store.claim_once(key, ttl_s)
    except StoreUnavailable:
        return local.claim(key, ttl_s)
    if first:
        local.remember(key, ttl_s)
    return first
