"""Pure parsing of the slash command's text: references, ``--platform`` flags, ``help``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.errors import InvalidPlatform, InvalidReference
from bot.domain.models import ImageRef, Platform
from bot.domain.reference import parse_platform, parse_reference


@dataclass(frozen=True)
class CheckRequest:
    refs: tuple[ImageRef, ...]
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class Usage:
    pass


@dataclass(frozen=True)
class Refusal:
    """A reason to answer ephemerally instead of checking (our words; ``detail`` is untrusted)."""

    message: str
    detail: str | None = None
    hint: str | None = None


# Slack turns anything that looks like a link into ``<url|label>`` or ``<url>`` (``foo.io/x:1`` arrives as
# ``<http://foo.io/x:1|foo.io/x:1>``). Only scheme links are unwrapped: ``<@U..>``, ``<#C..|name>`` and
# ``<!here>`` are not references and stay as they are (and then fail to parse as one).
_SLACK_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]*):([^<>|\s]*)(?:\|([^<>]*))?>")
_WEB_SCHEMES = frozenset({"http", "https"})


def _link_text(match: re.Match[str]) -> str:
    scheme, rest, label = match.group(1), match.group(2), match.group(3)
    if label:
        return label
    if scheme.lower() in _WEB_SCHEMES:
        return rest.removeprefix("//")
    return f"{scheme}:{rest}"


def unwrap_slack_links(text: str) -> str:
    """What the person typed: each Slack link replaced by its label, else its URL without the scheme."""
    return _SLACK_LINK.sub(_link_text, text)


def parse_command_text(text: str, *, max_chars: int = 1024,
                       max_refs: int = 5) -> CheckRequest | Usage | Refusal:
    text = unwrap_slack_links(text)
    if len(text) > max_chars:
        return Refusal(f"That is {len(text)} characters; /imagecheck takes at most {max_chars}. "
                       "Paste long logs in the channel instead (or use the message shortcut).")
    tokens = text.split()
    if not tokens or (len(tokens) == 1 and tokens[0].lower() in {"help", "-h", "--help", "?"}):
        return Usage()
    refs: list[ImageRef] = []
    platforms: list[Platform] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        value: str | None = None
        if token in {"--platform", "-p"}:
            if i + 1 >= len(tokens):
                return Refusal("`--platform` needs a value such as `linux/arm64`.")
            value, i = tokens[i + 1], i + 2
        elif token.startswith("--platform="):
            value, i = token.split("=", 1)[1], i + 1
        else:
            i += 1
            try:
                refs.append(parse_reference(token))
            except InvalidReference as exc:
                hint = exc.hint
                if exc.suggestion:
                    hint = f"{hint + ' ' if hint else ''}Did you mean `{exc.suggestion}`?"
                return Refusal("That is not a valid image reference:", detail=token,
                               hint=f"{exc.message}. {hint}" if hint else exc.message)
            continue
        try:
            platforms.extend(parse_platform(p) for p in value.split(",") if p)
        except InvalidPlatform as exc:
            return Refusal("That is not a valid platform:", detail=value, hint=exc.message)
    if not refs:
        return Usage()
    unique = list({r.normalized: r for r in refs}.values())
    if len(unique) > max_refs:
        return Refusal(f"Up to {max_refs} references at a time, please.")
    return CheckRequest(tuple(unique), tuple(platforms))
