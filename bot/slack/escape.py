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


def code(text: str, limit: int = 300) -> str:
    """Untrusted text as an inline code span (escaped, no backticks, one line, bounded)."""
    one_line = " ".join(text.split())
    cleaned = truncate(one_line, limit).replace("`", _BACKTICK_LOOKALIKE)
    return f"`{escape(cleaned)}`" if cleaned else "` `"


def code_block(text: str, limit: int = 2500) -> str:
    """Untrusted multi-line text as a code block, cut to ``limit`` characters before escaping.

    The limit applies to the source text; escaping can grow it (``&`` -> ``&amp;``), so callers keep
    a margin under Slack's 3,000-character section limit (``fit`` does the final check).
    """
    cleaned = truncate(text.strip("\n"), limit).replace("`", _BACKTICK_LOOKALIKE)
    return f"```{escape(cleaned)}```"


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
