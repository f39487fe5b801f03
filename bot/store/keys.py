"""Every key name the store writes, in one place, under one configurable prefix.

The prefix lets several bots (or a staging and a production bot) share one Redis without seeing each
other's state. Callers pass opaque identifiers (a cache key, an event id, a lock name); any part that
depends on credentials must already be a hash chosen by the caller, so no secret ever becomes a key.
"""

from __future__ import annotations

DEFAULT_PREFIX = "imagecheck:"


class Keys:
    """Builds the Redis keys (and the embedded store's dictionary keys) for one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix

    def diagnosis(self, key: str) -> str:
        return f"{self.prefix}diag:{key}"

    def tag_history(self, name: str, tag: str) -> str:
        """Kept as long as incidents (``incident_ttl_s``) after the tag was last recorded."""
        return f"{self.prefix}tags:{name}:{tag}"

    def incident(self, incident_id: str) -> str:
        return f"{self.prefix}incident:{incident_id}"

    def incident_index(self) -> str:
        """Sorted set of incident ids scored by ``updated_at`` (epoch seconds)."""
        return f"{self.prefix}incidents"

    def user_incident_index(self, user: str) -> str:
        """Sorted set of the ids of incidents ``user`` took part in, scored by ``updated_at``. Like the
        incidents themselves it expires ``incident_ttl_s`` after the last save that touched it."""
        return f"{self.prefix}user-incidents:{user}"

    def user_index_backfill(self) -> str:
        """Marks a recent backfill of the per-user indexes from the workspace index (see
        ``RedisStore.list_user_incidents``)."""
        return f"{self.prefix}user-incidents-backfilled"

    def user_index_backfill_running(self) -> str:
        """Held (briefly, with a token) by the replica running that backfill, so others don't repeat it."""
        return f"{self.prefix}user-incidents-backfilling"

    def claim(self, key: str) -> str:
        return f"{self.prefix}once:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def rate(self, key: str) -> str:
        return f"{self.prefix}rate:{key}"

    def blob(self, key: str) -> str:
        return f"{self.prefix}blob:{key}"


# Redis Cluster hashes only the part of a key between the first "{" and the next "}" (when not empty),
# so keys that share that "hash tag" share a slot, and only such keys may meet in one transaction,
# MGET or script. imagecheck's state is small: one slot holds all of it.
CLUSTER_PREFIX = "{imagecheck}:"


def has_hash_tag(prefix: str) -> bool:
    """True when every key under ``prefix`` gets its hash tag from the prefix itself."""
    start = prefix.find("{")
    return start >= 0 and prefix.find("}", start + 1) > start + 1


def cluster_prefix(prefix: str) -> str:
    """``prefix`` made a hash tag for Redis Cluster: ``imagecheck:`` becomes ``{imagecheck}:`` and
    ``staging:`` ``{staging}:`` (bots sharing a cluster stay apart); a prefix that already has a tag is
    kept; one with stray braces is put behind ``{imagecheck}:``."""
    if has_hash_tag(prefix):
        return prefix
    body = prefix.removesuffix(":")
    if not body or "{" in body or "}" in body:
        return CLUSTER_PREFIX + prefix
    return "{" + body + "}:"
