"""Make untrusted text inert in Slack.

Slack turns ``<!channel>``, ``<@U123>``, ``<#C1>``, ``<!subteam^S1>`` and ``<https://x|label>`` into live
mentions and links, and decodes ``&lt;`` back to ``<`` before doing so. Escaping ``&`` first, then ``<``
and ``>``, means neither raw nor pre-escaped input (``&lt;!channel&gt;``) can ever become live: Slack
decodes our escape exactly once and shows the original characters as text.
"""

from __future__ import annotations

import re

_BARE_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"
# A backtick in untrusted text could close our code span and let the rest be formatted as mrkdwn.
_BACKTICK_LOOKALIKE = "\u02cb"
TRUNCATION_NOTICE = "… (truncated)"


def escape(text: str) -> str:
    """Escape ``&``, ``<``, ``>`` and break bare ``@here``-style words so they can't notify anyone.

    Bare ``@channel`` only notifies with ``link_names`` on (we post with it off); the zero-width
    space is belt and braces for clients that might still highlight it.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_BROADCAST.sub(lambda m: f"@{_ZERO_WIDTH_SPACE}{m.group(1)}", escaped)


def truncate(text: str, limit: int, notice: str = TRUNCATION_NOTICE) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``notice`` when anything was cut."""
    if len(text) <= limit:
        return text
    if limit <= len(notice):
        return text[:limit]
    return text[: limit - len(notice)] + notice


def escape_within(text: str, limit: int, notice: str = TRUNCATION_NOTICE) -> str:
    """``escape(text)`` cut so the *escaped* result is at most ``limit`` characters (entities stay whole)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    budget = max(0, limit - len(notice))
    out: list[str] = []
    used = 0
    for ch in text:
        piece = escape(ch)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    # Re-escape the kept prefix as a whole so a bare "@here" split across characters is still broken.
    kept = escape(text[: len(out)])
    while len(kept) > budget and out:
        out.pop()
        kept = escape(text[: len(out)])
    return kept + notice


def code(text: str, limit: int = 300) -> str:
    """Untrusted text as an inline code span (escaped, no backticks, one line, at most ``limit`` + 2)."""
    one_line = " ".join(text.split()).replace("`", _BACKTICK_LOOKALIKE)
    return f"`{escape_within(one_line, limit)}`" if one_line else "` `"


def code_block(text: str, limit: int = 2500) -> str:
    """Untrusted multi-line text as a code block of at most ``limit`` + 6 characters."""
    cleaned = text.strip("\n").replace("`", _BACKTICK_LOOKALIKE)
    return f"```{escape_within(cleaned, limit)}```"


def fit(mrkdwn: str, limit: int) -> str:
    """Final guard for an already-escaped string: cut without splitting an ``&amp;`` style entity."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: max(0, limit - len(TRUNCATION_NOTICE))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    closing = "```" if cut.count("```") % 2 == 1 else ""
    cut = cut[: max(0, limit - len(TRUNCATION_NOTICE) - len(closing))]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + TRUNCATION_NOTICE + closing
