"""A small in-process memory of the deliveries this replica has acted on, for when the state store is
down.

Only a fallback: it lives in one process, so a duplicate that reaches another replica (Slack retries
go to whichever replica the load balancer picks) is not caught. It makes a double click or a Slack
retry that reaches the same replica act once while Redis is away; the shared store stays the
authority whenever it answers.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.domain.clock import SystemClock
from bot.domain.ports import Clock

# Keys are ~40-character hashes or event ids: 10,000 of them are well under 2 MB, and a burst of
# more distinct deliveries than that inside one TTL during an outage is far beyond a chat bot's load.
DEFAULT_MAX_ENTRIES = 10_000


class LocalClaims:
    """``claim(key, ttl_s)`` is True the first time ``key`` is seen within ``ttl_s``, like the store's
    ``claim_once``. At most ``max_entries`` keys are kept; past that the oldest are forgotten first
    (a forgotten key may act twice, which is what happened before this fallback existed)."""

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Clock | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock: Clock = clock or SystemClock()
        self._expiry: OrderedDict[str, float] = OrderedDict()  # key -> monotonic expiry, oldest first

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, key: str) -> bool:
        """True when ``key`` was claimed (or remembered) and has not expired."""
        expires = self._expiry.get(key)
        if expires is None:
            return False
        if expires <= self._clock.monotonic():
            del self._expiry[key]
            return False
        return True

    def claim(self, key: str, ttl_s: float) -> bool:
        if self.seen(key):
            return False
        self.remember(key, ttl_s)
        return True

    def remember(self, key: str, ttl_s: float) -> None:
        """Note ``key`` as acted on (also when the shared store granted the claim, so a duplicate that
        arrives after the store went down is still caught here)."""
        now = self._clock.monotonic()
        self._expiry.pop(key, None)
        self._expiry[key] = now + ttl_s
        self._drop_expired_front(now)
        while len(self._expiry) > self.max_entries:
            self._expiry.popitem(last=False)

    def _drop_expired_front(self, now: float) -> None:
        # Entries are in insertion order, not expiry order (TTLs differ), so this only trims the
        # expired run at the front: cheap on every insert; ``seen`` checks each key's own expiry.
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[key]
