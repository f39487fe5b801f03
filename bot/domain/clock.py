"""The real clock behind ``ports.Clock``; tests pass their own so that TTLs and skew are deterministic."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """Wall time for timestamps and skew, a monotonic clock for durations (immune to NTP steps)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
