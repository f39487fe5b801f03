"""Small text helpers shared by the triage modules.

Every scan works on an ASCII-lowercased copy of the paste whose offsets are the same as the original's,
so a match found case-insensitively can be sliced out of the original text unchanged.
"""

from __future__ import annotations

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lowercase with offsets preserved.

    ``str.lower`` is fast but may change the length for a few non-ASCII letters (``İ`` becomes two code
    points); only then do we fall back to the slower ASCII-only translation.
    """
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return text.translate(_ASCII_LOWER)


def line_bounds(text: str, pos: int) -> tuple[int, int]:
    """Start and end (exclusive, without the newline) of the line holding ``pos``."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    if end == -1:
        end = len(text)
    return start, end


def line_number(text: str, pos: int) -> int:
    """1-based line number of ``pos``."""
    return text.count("\n", 0, pos) + 1


def clip_line(text: str, start: int, end: int, span: tuple[int, int],
              width: int = 400) -> tuple[str, int, int]:
    """The line ``text[start:end]`` cut to about ``width`` characters around ``span``.

    A single-line paste can be a megabyte long; evidence only needs the neighbourhood of the match.
    Returns the (possibly clipped) line and the span relative to it.
    """
    s0, s1 = span
    if end - start > width:
        margin = max(0, (width - (s1 - s0)) // 2)
        new_start = max(start, s0 - margin)
        new_end = min(end, max(s1 + margin, new_start + width))
        start, end = new_start, new_end
    line = text[start:end]
    # A trailing CR (Windows line endings) is noise in evidence; it never sits inside a match.
    if line.endswith("\r"):
        line = line[:-1]
    rel0 = min(max(s0 - start, 0), len(line))
    rel1 = min(max(s1 - start, rel0), len(line))
    return line, rel0, rel1
