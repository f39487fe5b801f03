"""The existing tags nearest to one that was not found, in the order a person would try them.

Ranking, best first (ties broken by the tag itself, so the order never depends on the registry's):

0. the same tag bar letter case or a leading ``v`` (``V1.2`` / ``v1.2`` for ``1.2``);
1. refinements of what was asked: ``1.8.4-hotfix1`` or ``1.8.4.1`` for ``1.8.4``, ``1.23.4-alpine`` for
   ``1.23-alpine``, ``stable-slim`` for ``stable``;
2. version neighbours: more leading version numbers in common first, then the same flavour
   (``-alpine``), then the smallest step, the older one before the newer on a tie
   (``1.8.4`` -> ``1.8.3``, ``1.8.5``, ``1.9.0``);
3. anything else that reads alike (rapidfuzz similarity over a cut-off), most similar first.

Tags that do not fit the distribution tag grammar are never returned (they come from a registry and
end up in chat messages). One pass over the tags plus a sort: 10,000 tags take milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain.reference import is_valid_tag

__all__ = ["nearest_tags"]

_SIMILARITY_CUTOFF = 0.6  # Indel normalized similarity: "1.8.4" vs "latest" is far below
_MAX_WANTED = 128  # the longest valid tag; longer input is compared by its first 128 characters
_VERSION_RE = re.compile(r"(v?)(\d{1,18}(?:\.\d{1,18})*)(.*)", re.IGNORECASE)
_SEPARATORS = "-_.+"


@dataclass(frozen=True)
class _Version:
    numbers: tuple[int, ...]
    flavour: str  # what follows the numbers, without its separator: "alpine", "hotfix1", ""


def _version(tag: str) -> _Version | None:
    match = _VERSION_RE.fullmatch(tag)
    if match is None:
        return None
    numbers = tuple(int(part) for part in match.group(2).split("."))
    return _Version(numbers, match.group(3).lstrip(_SEPARATORS).lower())


def _strip_v(tag: str) -> str:
    return tag[1:] if tag[:1] in "vV" and tag[1:2].isdigit() else tag


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _is_refinement(wanted: str, wanted_v: _Version | None, tag: str, tag_v: _Version | None) -> bool:
    if len(tag) > len(wanted) and tag.startswith(wanted) and tag[len(wanted)] in _SEPARATORS:
        # "1.8.4" -> "1.8.4-hotfix1"; but not "1.8.4" -> "1.8.40" (the separator check) .
        return True
    if wanted_v is None or tag_v is None:
        return False
    longer = len(tag_v.numbers) > len(wanted_v.numbers)
    return longer and tag_v.numbers[: len(wanted_v.numbers)] == wanted_v.numbers \
        and tag_v.flavour == wanted_v.flavour


def _neighbour_key(wanted_v: _Version, tag_v: _Version) -> tuple[int, int, int, int] | None:
    shared = _common_prefix(wanted_v.numbers, tag_v.numbers)
    if shared == 0:
        return None  # another major version is not a neighbour; leave it to similarity
    if shared < min(len(wanted_v.numbers), len(tag_v.numbers)):
        step = tag_v.numbers[shared] - wanted_v.numbers[shared]
    else:  # one is a prefix of the other ("1.8" vs "1.8.4"): as close as it gets at this depth
        step = 0
    other_flavour = int(tag_v.flavour != wanted_v.flavour)
    return (-shared, other_flavour, abs(step), int(step > 0))


def nearest_tags(wanted: str, available: Sequence[str], limit: int = 5) -> list[str]:
    """Up to ``limit`` tags from ``available`` nearest to ``wanted``, best first (see module doc)."""
    if limit <= 0:
        return []
    # Imported here, not at the top: only a missing tag needs it, and `imagecheck check` of tags that
    # exist should not pay rapidfuzz's import on every start.
    from rapidfuzz.distance import Indel

    wanted_fold = wanted[:_MAX_WANTED].casefold()
    bare = _strip_v(wanted_fold)
    wanted_v = _version(wanted_fold)
    ranked: list[tuple[tuple[float, ...], str]] = []
    for tag in dict.fromkeys(available):  # de-duplicated, registry order kept for nothing but that
        if not is_valid_tag(tag):
            continue
        key = _rank(wanted_fold, bare, wanted_v, tag, Indel.normalized_similarity)
        if key is not None:
            ranked.append((key, tag))
    ranked.sort()
    return [tag for _, tag in ranked[:limit]]


def _rank(wanted: str, bare: str, wanted_v: _Version | None, tag: str,
          similar: Callable[[str, str], float]) -> tuple[float, ...] | None:
    fold = tag.casefold()
    if fold == wanted:
        return (0, 0)
    if _strip_v(fold) == bare:
        return (0, 1)
    tag_v = _version(fold)
    if _is_refinement(wanted, wanted_v, fold, tag_v) or (
            bare != wanted and _is_refinement(bare, _version(bare), _strip_v(fold), tag_v)):
        return (1, len(tag))
    if wanted_v is not None and tag_v is not None:
        neighbour = _neighbour_key(wanted_v, tag_v)
        if neighbour is not None:
            return (2, *neighbour)
    similarity = similar(wanted, fold)
    if similarity < _SIMILARITY_CUTOFF:
        return None
    return (3, -similarity)
