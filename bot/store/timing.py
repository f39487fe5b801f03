"""Small rules about time shared by both backends."""

from __future__ import annotations

from collections.abc import Iterator

_FIRST_POLL_S = 0.005
_MAX_POLL_S = 0.1


def require_positive(value: float, name: str) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def ttl_ms(ttl_s: float) -> int:
    """Redis millisecond TTL; never 0, which Redis rejects."""
    return max(1, int(ttl_s * 1000))


def lock_poll_delays(wait_s: float) -> Iterator[float]:
    """Sleeps between lock attempts: short at first (a check often finishes fast), capped at 100 ms,
    summing to at most ``wait_s``."""
    remaining = max(wait_s, 0.0)
    delay = _FIRST_POLL_S
    while remaining > 0:
        step = min(delay, remaining)
        yield step
        remaining -= step
        delay = min(delay * 2, _MAX_POLL_S)
