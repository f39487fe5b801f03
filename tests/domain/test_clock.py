"""The two clocks every part shares (bot/domain/clock.py): the store, the checks and the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.clock import ManualClock, SystemClock
from bot.domain.ports import Clock


def test_manual_clock_moves_wall_and_monotonic_time_together_only_when_told() -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    clock = ManualClock(start)
    mono = clock.monotonic()
    assert (clock.now(), clock.monotonic()) == (start, mono)
    clock.advance(90)
    assert clock.now() == start + timedelta(seconds=90)
    assert clock.monotonic() == mono + 90


def test_system_clock_gives_aware_utc_and_never_runs_backwards() -> None:
    clock: Clock = SystemClock()
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    first = clock.monotonic()
    assert clock.monotonic() >= first
