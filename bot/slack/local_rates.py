"""This replica's own rate limit, for when the state store is down.

The shared limit lives in the store so every replica counts together. Without it, letting every
request through would turn an outage of Redis into a flood of registry requests (a paste storm in a
busy incident channel spends the Docker Hub pull quota the fleet needs). Counting here instead keeps
each replica within the configured rate, so the whole is at most ``replicas x limit``.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.domain.clock import SystemClock
from bot.domain.ports import Clock

# One entry per user and per channel seen within a window: far fewer than this in any workspace's
# minute. Past it, the oldest windows are forgotten first (a forgotten key starts a fresh window).
DEFAULT_MAX_KEYS = 10_000


class LocalRates:
    """Fixed windows like the store's ``allow``: a window starts at its key's first hit and admits
    ``limit`` hits until ``window_s`` has passed."""

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Clock | None = None) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock: Clock = clock or SystemClock()
        self._windows: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (window end, hits)

    def __len__(self) -> int:
        return len(self._windows)

    def allow(self, key: str, *, limit: int, window_s: float) -> bool:
        now = self._clock.monotonic()
        ends, hits = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, hits = now + window_s, 0
            self._windows.pop(key, None)  # a new window moves the key to the young end
        self._windows[key] = (ends, hits + 1)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        return hits + 1 <= limit
