"""Paste triage: turn pasted pull-error text into a ``TriageResult``.

Public API::

    triage(text, *, source=None, max_bytes=MAX_PASTE_BYTES) -> TriageResult
    redact(text) -> Redaction            # text, count, rules
    reconcile(result, diagnoses) -> list[str]

``triage`` cuts an oversized paste first (with a notice), redacts it, and only then classifies and
extracts, so nothing downstream ever sees a secret.
"""

from __future__ import annotations

import shlex

from bot.domain.models import Category, RemediationStep, TriageResult
from bot.domain.triage.classify import classify
from bot.domain.triage.extract import (
    detect_runtime,
    extract_error_code,
    extract_http_status,
    extract_platform,
    extract_references,
    extract_registry_host,
)
from bot.domain.triage.reconcile import reconcile
from bot.domain.triage.redact import Redaction, redact
from bot.domain.triage.rules import REF, RULES_BY_CATEGORY
from bot.domain.triage.text import ascii_lower

__all__ = ["MAX_PASTE_BYTES", "Redaction", "reconcile", "redact", "triage", "truncate_paste"]

MAX_PASTE_BYTES = 1024 * 1024
# When cutting, back up to the last newline if it is this close to the cap, so no line (and no secret
# on it) is split in half.
_LINE_SLACK = 64 * 1024


_CUT_MARK = "\n[imagecheck: the middle of this paste was cut here]\n"


def truncate_paste(text: str, max_bytes: int = MAX_PASTE_BYTES) -> tuple[str, bool, int]:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes. Returns (text, truncated, bytes dropped).

    Keeps the head (a quarter: what was being pulled) and the tail (the rest: CI and build logs end with
    their error), and drops the middle, marking where.
    """
    if len(text) <= max_bytes // 4:  # cannot exceed the cap even if every character took 4 bytes
        return text, False, 0
    raw = text.encode("utf-8", errors="surrogatepass")
    if len(raw) <= max_bytes:
        return text, False, 0
    head_budget = max_bytes // 4
    tail_budget = max(0, max_bytes - head_budget - len(_CUT_MARK))
    head = _cut_back(raw[:head_budget])
    tail = _cut_forward(raw[len(raw) - tail_budget:]) if tail_budget else b""
    kept = head.decode("utf-8", errors="ignore") + _CUT_MARK + tail.decode("utf-8", errors="ignore")
    return kept, True, len(raw) - len(head) - len(tail)


def _cut_back(chunk: bytes) -> bytes:
    """End at a line break near the end, so no line (and no secret on it) is split in half."""
    newline = chunk.rfind(b"\n")
    if newline != -1 and len(chunk) - newline <= _LINE_SLACK:
        return chunk[:newline]
    space = max(chunk.rfind(b" "), chunk.rfind(b"\t"))  # one huge line: at least not inside a token
    return chunk[:space] if space != -1 and len(chunk) - space <= 4096 else chunk


def _cut_forward(chunk: bytes) -> bytes:
    """Start after a line break near the start (the mirror of ``_cut_back``)."""
    newline = chunk.find(b"\n")
    if newline != -1 and newline < _LINE_SLACK:
        return chunk[newline + 1:]
    spaces = [i for i in (chunk.find(b" "), chunk.find(b"\t")) if i != -1]
    space = min(spaces) if spaces else -1
    return chunk[space + 1:] if space != -1 and space < 4096 else chunk


def _notice(dropped: int, max_bytes: int) -> str:
    return (f"\n[imagecheck: paste cut to {max_bytes // 1024} KiB (its start and end); {dropped} bytes from "
            f"the middle were not examined]")


def _fill(steps: tuple[RemediationStep, ...], ref: str) -> list[RemediationStep]:
    return [RemediationStep(text=s.text.replace(REF, ref),
                            command=s.command.replace(REF, ref) if s.command else None) for s in steps]


def triage(text: str, *, source: str | None = None, max_bytes: int = MAX_PASTE_BYTES) -> TriageResult:
    """Classify a pasted pull error, extract what it names, and redact it. Never raises on any text."""
    kept, truncated, dropped = truncate_paste(text, max_bytes)
    lower = ascii_lower(kept)
    redaction = redact(kept, lower=lower)
    clean = redaction.text
    if redaction.count:
        lower = ascii_lower(clean)
    result = classify(clean, lower)
    references = extract_references(clean, lower)
    # The evidence lines, each once: several patterns often hit one line (on a one-line paste, all do).
    regions = list(dict.fromkeys((h.line_start, h.line_end) for h in result.hits if h.category is result.category))
    first_ref = next((r.normalized for r in references if r.valid and r.normalized), None)
    if first_ref is None and result.category is Category.invalid_reference:
        # the next steps' `imagecheck parse <image>` should name the reference that failed to parse
        first_ref = next((shlex.quote(r.as_written) for r in references if not r.valid), None)
    rule = RULES_BY_CATEGORY[result.category]
    return TriageResult(
        source=source,
        category=result.category,
        confidence=result.confidence,
        categories=result.ranked,
        meaning=rule.meaning,
        next_steps=_fill(rule.next_steps, first_ref or "<image>"),
        references=references,
        platform=extract_platform(lower),
        runtime=detect_runtime(lower),
        registry_host=extract_registry_host(lower, regions, references),
        http_status=extract_http_status(lower, regions),
        error_code=extract_error_code(lower, regions),
        redacted=clean + (_notice(dropped, max_bytes) if truncated else ""),
        redactions=redaction.count,
        truncated=truncated,
    )
