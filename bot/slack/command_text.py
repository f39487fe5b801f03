"""Pure parsing of the slash command's text: references, ``--platform`` flags, ``help``."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import InvalidPlatform, InvalidReference
from bot.domain.models import ImageRef, Platform
from bot.domain.reference import parse_platform, parse_reference
from bot.slack.links import unwrap_slack_links


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
