"""Undo Slack's link formatting so text reads as the person typed it.

Slack turns anything that looks like a link into ``<url|label>`` or ``<url>``: ``foo.io/x:1`` arrives as
``<http://foo.io/x:1|foo.io/x:1>``, ``https://reg.example/v2/`` as ``<https://reg.example/v2/>``. Only
links with a scheme are unwrapped: ``<@U..>``, ``<#C..|name>`` and ``<!here>`` are mentions, not links,
and stay as they are.
"""

from __future__ import annotations

import re

_SLACK_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*):([^<>|\s]*)(?:\|([^<>]*))?>")
_WEB_SCHEMES = frozenset({"http", "https"})


def as_typed(text: str) -> str:
    """Each link replaced by its label, else by its URL, and Slack's escapes undone: what was pasted (for
    triage, whose redaction must see ``password=Abc&def`` rather than ``Abc&amp;def``)."""
    unwrapped = _SLACK_LINK.sub(lambda m: m.group(3) or f"{m.group(1)}:{m.group(2)}", text)
    return unescape_slack(unwrapped)


def unescape_slack(text: str) -> str:
    """Undo the only three entities Slack escapes; ``&amp;`` last, so a typed ``&lt;`` stays ``&lt;``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _reference_text(match: re.Match[str]) -> str:
    scheme, rest, label = match.group(1), match.group(2), match.group(3)
    if label:
        return label
    if scheme.lower() in _WEB_SCHEMES:
        return rest.removeprefix("//")  # a reference never has a scheme
    return f"{scheme}:{rest}"


def unwrap_slack_links(text: str) -> str:
    """Each link replaced by its label, else by its URL without ``http(s)://``: references as typed."""
    return _SLACK_LINK.sub(_reference_text, text)
