"""The tag-history rule both backends share, checked over many recording sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.models import TagSighting
from bot.store.history import add_sighting

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DIGESTS = [f"sha256:{c * 64}" for c in "abc"]


@given(st.lists(st.sampled_from(DIGESTS), min_size=1, max_size=40), st.integers(min_value=1, max_value=6))
def test_in_order_recordings(seen: list[str], limit: int) -> None:
    sightings: list[TagSighting] = []
    for minute, digest in enumerate(seen):
        sightings = add_sighting(sightings, digest, T0 + timedelta(minutes=minute), limit)

    assert 1 <= len(sightings) <= limit
    assert sightings[0].digest == seen[-1]  # what the tag points at now
    assert sightings[0].last_seen == T0 + timedelta(minutes=len(seen) - 1)
    # one sighting per run of the same digest, newest run first
    runs = [d for i, d in enumerate(seen) if i == 0 or seen[i - 1] != d]
    assert [s.digest for s in sightings] == runs[::-1][:limit]
    for s in sightings:
        assert s.first_seen <= s.last_seen
    assert [s.last_seen for s in sightings] == sorted((s.last_seen for s in sightings), reverse=True)


def test_a_late_duplicate_does_not_move_last_seen_back() -> None:
    sightings = add_sighting([], DIGESTS[0], T0 + timedelta(minutes=5), 20)
    sightings = add_sighting(sightings, DIGESTS[0], T0, 20)
    assert (sightings[0].first_seen, sightings[0].last_seen) == (T0, T0 + timedelta(minutes=5))
