"""The clocks behind ``ports.Clock``: the real one, and a hand-driven one so that TTLs, skew and
"tag moved since" are deterministic in tests (and nobody sleeps). There is one of each for the whole
code base: the store, the checks and the tests all use these."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall time for timestamps and skew, a monotonic clock for durations (immune to NTP steps)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; ``now`` and ``monotonic`` advance together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
