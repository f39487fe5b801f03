"""The per-replica dedupe memory used while the state store is down: TTL, bound, refresh."""

from __future__ import annotations

import pytest

from bot.domain.clock import ManualClock
from bot.slack.local_claims import LocalClaims


def test_a_key_is_claimed_once_until_its_ttl_passes() -> None:
    clock = ManualClock()
    claims = LocalClaims(clock=clock)
    assert claims.claim("click:abc", 10.0) is True
    assert claims.claim("click:abc", 10.0) is False
    assert claims.claim("click:other", 10.0) is True  # keys are independent
    clock.advance(9.9)
    assert claims.claim("click:abc", 10.0) is False
    clock.advance(0.1)
    assert claims.seen("click:abc") is False
    assert claims.claim("click:abc", 10.0) is True


def test_keys_with_different_ttls_expire_on_their_own() -> None:
    clock = ManualClock()
    claims = LocalClaims(clock=clock)
    claims.claim("event:long", 3600.0)
    claims.claim("click:short", 10.0)
    clock.advance(11)
    assert claims.seen("click:short") is False  # behind a long-lived key, still expired
    assert claims.seen("event:long") is True


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    claims = LocalClaims(max_entries=3, clock=ManualClock())
    for key in ("a", "b", "c", "d"):
        assert claims.claim(key, 60.0) is True
    assert len(claims) == 3
    assert claims.claim("a", 60.0) is True  # forgotten to make room: acts again (as before the fallback)
    assert claims.claim("d", 60.0) is False


def test_expired_keys_do_not_hold_room() -> None:
    clock = ManualClock()
    claims = LocalClaims(max_entries=1000, clock=clock)
    for i in range(500):
        claims.claim(f"k{i}", 1.0)
    clock.advance(2)
    claims.claim("fresh", 1.0)
    assert len(claims) == 1


def test_remember_marks_a_key_the_store_granted() -> None:
    claims = LocalClaims(clock=ManualClock())
    claims.remember("event:Ev1", 60.0)
    assert claims.claim("event:Ev1", 60.0) is False


def test_a_zero_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        LocalClaims(max_entries=0)
