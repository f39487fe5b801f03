"""Which of a paste's references the failure is about, and how hard to check them.

A paste lists images in the order the log happened to print them: kubectl events name healthy sidecars
("Container image ... already present on machine", "Successfully pulled") before the image that failed.
The classifier's evidence lines are the lines that say what failed, so the references named on them are
the ones to check first and the only ones the log's category can be said of.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.models import Category, CategoryScore, ExtractedReference, TriageResult
from bot.domain.triage.extract import extract_references
from bot.domain.triage.text import ascii_lower

__all__ = ["DEEP_CATEGORIES", "needs_deep_check", "refs_to_check", "tied_references"]

# A shallow check stops at the manifest; these failures are about what lies behind it (a layer the
# registry lost, a manifest the runtime could not use), so only a deep check can see them.
DEEP_CATEGORIES = frozenset({Category.blob_unknown, Category.manifest_invalid_or_unsupported})


def _named_on(lines: Iterable[str]) -> list[str]:
    """Normalized references named on ``lines``, in order, each once."""
    seen: list[str] = []
    for line in lines:
        for ref in extract_references(line, ascii_lower(line)):
            if ref.valid and ref.normalized and ref.normalized not in seen:
                seen.append(ref.normalized)
    return seen


def _primary(result: TriageResult) -> CategoryScore | None:
    return next((c for c in result.categories if c.category is result.category), None)


def tied_references(result: TriageResult) -> frozenset[str] | None:
    """Normalized references the primary category's evidence lines name.

    ``None`` when those lines name no image at all (e.g. "no matching manifest for linux/arm64"): the
    log then ties the failure to no particular reference, and every reference may be the one.
    """
    primary = _primary(result)
    named = _named_on(ev.line for ev in primary.evidence) if primary else []
    # A line read alone may yield a reference rebuilt from a manifest URL (a mirror's host, say) that the
    # whole paste does not report, because it names the image itself: that ties nothing the user pulled.
    pasted = {r.normalized for r in result.references if r.valid and r.normalized}
    return frozenset(n for n in named if n in pasted) or None


def refs_to_check(result: TriageResult, limit: int) -> list[ExtractedReference]:
    """Up to ``limit`` valid references, the failing ones first.

    Order: references named on the primary category's evidence lines, then on the other ranked
    categories' evidence lines, then the rest; within each group, order of appearance in the paste.
    """
    valid: list[ExtractedReference] = []
    for ref in result.references:
        if ref.valid and ref.normalized and all(ref.normalized != v.normalized for v in valid):
            valid.append(ref)
    primary = _primary(result)
    groups = [primary] if primary else []
    groups += [c for c in result.categories if c is not primary]
    rank: dict[str, int] = {}
    for i, score in enumerate(groups):
        for name in _named_on(ev.line for ev in score.evidence):
            rank.setdefault(name, i)
    last = len(groups)
    ordered = sorted(valid, key=lambda r: rank.get(r.normalized or "", last))  # sorted() is stable
    return ordered[:max(limit, 0)]


def needs_deep_check(result: TriageResult) -> bool:
    """Whether the paste's category is one only a deep check (layers, child manifests) can confirm."""
    return result.category in DEEP_CATEGORIES
