"""Rank the categories a (redacted) paste is about, with the evidence for each.

Linear in the size of the paste: a probe (``probe.py``) first rules out every category, then every
needle, that the text cannot contain, in one automaton pass each; only needles that occur are located
with ``str.find``, and a pattern's bounded regex only runs at the needle's position, on that line. At
most ``MAX_HITS_PER_PATTERN`` lines are examined as evidence per pattern.
"""

from __future__ import annotations

import sys
from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.models import Category, CategoryScore, TriageEvidence
from bot.domain.triage.probe import Haystack, needle_probe
from bot.domain.triage.rules import CATEGORY_PROBES, COMPILED, NEEDLE_PROBES, RULES, Pattern, Rule
from bot.domain.triage.text import ascii_lower, clip_line, line_bounds

MAX_HITS_PER_PATTERN = 3
MAX_TRIES_PER_PATTERN = 24  # needle occurrences whose regex did not confirm; bounds the work per pattern
MAX_EVIDENCE_PER_CATEGORY = 5
REGEX_WINDOW = 4096  # a pattern's regex sees at most this many characters from its needle on
HEAD_CHARS = 64 * 1024  # a longer text is probed in its head first (see ``needles_present``)

# Table order breaks confidence ties: it lists specific causes before generic ones.
_ORDER = {rule.category: i for i, rule in enumerate(RULES)}
_DIGEST_MARKERS = ("@sha256:", "manifest sha256:")


@dataclass(frozen=True, slots=True)
class Hit:
    category: Category
    pattern: Pattern
    line_start: int
    line_end: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Classification:
    category: Category
    confidence: float
    ranked: list[CategoryScore]
    hits: list[Hit]  # every hit, for extraction of status codes and hosts near the evidence


class _Lines:
    """Line bounds of hit positions, remembered with what was found on the line.

    On a one-line paste of a megabyte every pattern hits the same line; finding its bounds once (instead
    of once per pattern) keeps that case linear.
    """

    __slots__ = ("_digest", "_known", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._known: list[tuple[int, int]] = []  # sorted, disjoint
        self._digest: dict[int, bool] = {}

    def bounds(self, pos: int) -> tuple[int, int]:
        i = bisect_right(self._known, (pos, sys.maxsize)) - 1
        if i >= 0 and self._known[i][0] <= pos <= self._known[i][1]:
            return self._known[i]
        found = line_bounds(self._text, pos)
        insort(self._known, found)
        return found

    def names_digest(self, start: int, end: int) -> bool:
        if start not in self._digest:
            self._digest[start] = any(self._text.find(mark, start, end) != -1 for mark in _DIGEST_MARKERS)
        return self._digest[start]


def _pattern_hits(lower: str, lines: _Lines, pattern: Pattern, category: Category) -> list[Hit]:
    hits: list[Hit] = []
    regex = COMPILED.get(pattern.id)
    anchor, anchor_at = pattern.anchor, -1  # anchor_at: its next occurrence at or after ``pos``
    tries = 0
    pos = lower.find(pattern.needle)
    while pos != -1 and len(hits) < MAX_HITS_PER_PATTERN and tries < MAX_TRIES_PER_PATTERN:
        span: tuple[int, int] | None = (pos, pos + len(pattern.needle))
        if regex is not None:
            # The regex sees the rest of the line, at most REGEX_WINDOW characters of it.
            end = lower.find("\n", pos, pos + REGEX_WINDOW)
            end = end if end != -1 else min(len(lower), pos + REGEX_WINDOW)
            if anchor is not None:
                if anchor_at < pos:
                    anchor_at = lower.find(anchor, pos)
                    if anchor_at == -1:
                        break  # no match can come later
                if anchor_at + len(anchor) > end:
                    # Not a failed try: the regex cannot match here, nor at any needle too far before the
                    # anchor for its window to reach it.
                    pos = lower.find(pattern.needle, max(pos + 1, anchor_at + len(anchor) - REGEX_WINDOW))
                    continue
            m = regex.match(lower, pos, end)
            span = m.span() if m else None
        if span is None:
            tries += 1
            pos = lower.find(pattern.needle, pos + 1)
            continue
        ls, le = lines.bounds(pos)
        found = category
        if pattern.digest and lines.names_digest(ls, le):
            found = Category.digest_not_found
        hits.append(Hit(found, pattern, ls, le, span[0], span[1]))
        pos = lower.find(pattern.needle, le)  # one hit per line is enough evidence
    return hits


def _present_in(haystack: Haystack, rules: Iterable[tuple[Rule, list[Pattern]]]) -> set[str]:
    """Ids of the given patterns whose needle ``haystack`` may contain: one probe per rule, then one per
    needle of the rules that passed."""
    found: set[str] = set()
    for rule, patterns in rules:
        whole = len(patterns) == len(rule.patterns)
        probe = CATEGORY_PROBES[rule.category] if whole else needle_probe(tuple(p.needle for p in patterns))
        if haystack.may_contain(probe):
            found.update(p.id for p in patterns if len(patterns) == 1 or haystack.may_contain(NEEDLE_PROBES[p.id]))
    return found


def needles_present(lower: str) -> set[str]:
    """Ids of the patterns whose needle occurs in ``lower`` (or may: see ``Haystack``).

    Every probe reads the whole text, and past the CPU caches each pass costs memory bandwidth, so a
    large text is first probed in its head: needles seen there need no pass over the rest, and the
    needles not seen there are ruled out together by one probe in the usual case that none comes later.
    """
    every = [(rule, list(rule.patterns)) for rule in RULES if rule.patterns]
    if len(lower) <= HEAD_CHARS:
        return _present_in(Haystack(lower), every)
    found = _present_in(Haystack(lower[:HEAD_CHARS]), every)
    later = [(rule, rest) for rule, patterns in every if (rest := [p for p in patterns if p.id not in found])]
    haystack = Haystack(lower)
    if later and haystack.may_contain(needle_probe(tuple(p.needle for _, rest in later for p in rest))):
        found |= _present_in(haystack, later)
    return found


def find_hits(lower: str) -> list[Hit]:
    """Every pattern hit in an already lowercased text (see ``text.ascii_lower``)."""
    present = needles_present(lower)
    lines = _Lines(lower)
    hits: list[Hit] = []
    for rule in RULES:
        for pattern in rule.patterns:
            if pattern.id in present:
                hits.extend(_pattern_hits(lower, lines, pattern, rule.category))
    return hits


def _score(weights: list[float], distinct_rules: int) -> float:
    # The most specific wording sets the level; further independent rules add a little certainty, but
    # never enough for several generic phrases to outrank one specific cause.
    return round(min(0.99, max(weights) + 0.01 * min(3, distinct_rules - 1)), 3)


def _line_numbers(lower: str, starts: set[int]) -> dict[int, int]:
    """1-based line numbers for several offsets in one left-to-right pass."""
    numbers: dict[int, int] = {}
    count, last = 1, 0
    for pos in sorted(starts):
        count += lower.count("\n", last, pos)
        numbers[pos] = count
        last = pos
    return numbers


def rank(text: str, lower: str, hits: list[Hit]) -> list[CategoryScore]:
    by_category: dict[Category, list[Hit]] = {}
    for hit in hits:
        by_category.setdefault(hit.category, []).append(hit)
    chosen: dict[Category, list[Hit]] = {}
    for category, cat_hits in by_category.items():
        picked: list[Hit] = []
        seen_lines: set[int] = set()
        for hit in sorted(cat_hits, key=lambda h: (-h.pattern.weight, h.start)):
            if hit.line_start not in seen_lines:
                seen_lines.add(hit.line_start)
                picked.append(hit)
            if len(picked) >= MAX_EVIDENCE_PER_CATEGORY:
                break
        chosen[category] = picked
    numbers = _line_numbers(lower, {h.line_start for picked in chosen.values() for h in picked})
    scores: list[CategoryScore] = []
    for category, picked in chosen.items():
        evidence: list[TriageEvidence] = []
        for hit in sorted(picked, key=lambda h: h.line_start):
            line, s0, s1 = clip_line(text, hit.line_start, hit.line_end, (hit.start, hit.end))
            evidence.append(TriageEvidence(line_no=numbers[hit.line_start], line=line, start=s0, end=s1,
                                           rule=hit.pattern.id))
        cat_hits = by_category[category]
        confidence = _score([h.pattern.weight for h in cat_hits], len({h.pattern.id for h in cat_hits}))
        scores.append(CategoryScore(category=category, confidence=confidence, evidence=evidence))
    scores.sort(key=lambda s: (-s.confidence, _ORDER[s.category]))
    return scores


def classify(text: str, lower: str | None = None) -> Classification:
    """Classify ``text``. Pass ``lower`` when the caller already lowercased it (saves a pass)."""
    lowered = lower if lower is not None else ascii_lower(text)
    hits = find_hits(lowered)
    ranked = rank(text, lowered, hits)
    causes = [s for s in ranked if s.category is not Category.backoff_only]
    if causes:
        primary = causes[0]
        return Classification(primary.category, primary.confidence, ranked, hits)
    if ranked:  # only the Kubernetes wrappers were seen
        return Classification(Category.backoff_only, ranked[0].confidence, ranked, hits)
    return Classification(Category.other, 0.0, ranked, hits)
