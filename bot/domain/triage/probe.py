"""Linear-time yes/no questions about a whole paste: "could this text contain a match of X?".

Triage asks a few hundred such questions per paste (one per classification needle, redaction rule,
extraction context, runtime marker). Answering each with ``str.find`` or ``re`` costs a full pass over
the text, and those passes were most of the time spent on a large paste. pydantic-core validates string
patterns with the Rust ``regex`` crate (``regex_engine="rust-regex"``, pydantic's documented default):
a finite-automaton engine that never backtracks and searches literal sets with SIMD, so a probe reads a
megabyte in tens of microseconds. A probe only says whether to look; the slower Python scan that follows
still finds the positions, so a probe's pattern may be looser than the real one but never stricter.

Probe patterns use the syntax shared by Rust's ``regex`` and Python's ``re`` (literals, classes,
alternation, bounded repetition; no look-around, no backreferences).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydantic_core import SchemaValidator, core_schema

# Characters that are special in either engine; everything else stands for itself in both.
_SPECIAL = frozenset("\\.^$|?*+()[]{}#&-~")
_BOUND = re.compile(r"(?<!\\)\{([0-9]+),[0-9]+\}")


def escape(literal: str) -> str:
    """``literal`` as a pattern for both engines (``re.escape`` escapes more than Rust needs)."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in literal)


def _validator(pattern: str) -> SchemaValidator:
    # strict: only a real ``str`` is examined (no coercion); the pattern search is unanchored.
    return SchemaValidator(core_schema.str_schema(pattern=pattern, regex_engine="rust-regex", strict=True))


class Probe:
    """A compiled question "does the text contain a match of ``pattern``?" (see the module docstring)."""

    __slots__ = ("_validator", "pattern")

    def __init__(self, pattern: str) -> None:
        re.compile(pattern)  # the same pattern must also be valid for Python (a shared-syntax check)
        self.pattern = pattern
        self._validator = _validator(pattern)

    @classmethod
    def any_of(cls, literals: Iterable[str]) -> Probe:
        """Matches where any of ``literals`` occurs (case-sensitive: probe a lowered text with lowercase)."""
        alternatives = sorted({escape(lit) for lit in literals if lit}, key=len, reverse=True)
        if not alternatives:
            raise ValueError("a literal probe needs at least one non-empty literal")
        return cls("|".join(alternatives))

    @classmethod
    def loose(cls, pattern: str) -> Probe:
        """``pattern`` with every bounded repetition ``{m,n}`` opened to ``{m,}``.

        Matches everything ``pattern`` matches and more, and is much faster to probe: a bound such as
        ``[^\\s]{1,512}`` unrolls into hundreds of automaton states, an open repetition into one loop.
        """
        return cls(_BOUND.sub(r"{\1,}", pattern))

    def __repr__(self) -> str:
        return f"Probe({self.pattern!r})"


@lru_cache(maxsize=512)
def needle_probe(literals: tuple[str, ...]) -> Probe:
    """``Probe.any_of(literals)``, compiled once per distinct tuple (compiling takes a few hundred
    microseconds; callers ask for a small, recurring family of literal sets)."""
    return Probe.any_of(literals)


# Matches every string Rust can read: tells whether probes can be trusted for a given text.
_READABLE = _validator("")


class Haystack:
    """One text that probes are asked about.

    Rust reads strings as UTF-8; a Python string holding a lone surrogate (which ``truncate_paste`` can
    leave) has no UTF-8 form, and every probe would answer "no". For such a text every probe answers
    "maybe" instead, and the callers' own scans decide, as they did before probes existed.
    """

    __slots__ = ("_trusted", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # isascii() is O(1) for CPython strings; only non-ASCII text pays for the UTF-8 check.
        self._trusted = text.isascii() or _READABLE.isinstance_python(text)

    @property
    def exact(self) -> bool:
        """True when probes answer exactly ("maybe" is then "yes")."""
        return self._trusted

    def may_contain(self, probe: Probe) -> bool:
        """False only when no match of ``probe`` can be in the text."""
        return not self._trusted or probe._validator.isinstance_python(self.text)
