"""What every CLI command that checks images does the same way: make foreign text safe for a terminal,
parse ``--platform`` flags, load the settings (saying why, without secrets, when they are broken) and
report a configuration error. Messages are prefixed with the command that failed.

Imports stay light: pydantic-settings and the settings model load only inside ``load_settings``, YAML
only when a settings file is named.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.errors import ConfigError, InvalidPlatform
from bot.domain.models import Platform
from bot.domain.reference import parse_platform

if TYPE_CHECKING:
    from bot.settings import Settings

USAGE_ERROR = 2


def clean(text: str, *, keep: str = "\n\t") -> str:
    """Registry answers and pasted text are not ours: no terminal escape sequences from them."""
    return "".join(ch if ch.isprintable() or ch in keep else "?" for ch in text)


def say(command: str, message: str) -> None:
    print(f"imagecheck {command}: {message}", file=sys.stderr)


def parse_platforms(texts: Sequence[str], *, command: str) -> list[Platform] | None:
    """The ``--platform`` values, or None (after saying which one is wrong)."""
    platforms: list[Platform] = []
    for text in texts:
        try:
            platforms.append(parse_platform(text))
        except InvalidPlatform as exc:
            say(command, f"invalid --platform {clean(repr(text))}: {clean(exc.message)}")
            return None
    return platforms


def load_settings(*, command: str) -> Settings | None:
    """Settings from the environment and ``IMAGECHECK_CONFIG``; None (after saying why) when broken."""
    from pydantic import ValidationError

    from bot.settings import Settings

    config_file = os.environ.get("IMAGECHECK_CONFIG")
    if config_file and not os.path.isfile(config_file):
        # pydantic-settings would silently ignore it and check with the wrong settings
        say(command, f"settings: IMAGECHECK_CONFIG names no file: {clean(config_file)}")
        return None
    file_errors: tuple[type[Exception], ...] = (OSError, ValueError)
    if config_file:  # only a settings file brings YAML in; settings from the environment alone don't
        import yaml

        file_errors += (yaml.YAMLError,)
    try:
        return Settings()
    except ValidationError as exc:
        # Field locations and messages only: the rejected input may be a password.
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            say(command, f"settings: {where}: {error['msg']}")
    except file_errors as exc:  # an unreadable or unparseable settings file
        say(command, f"settings: {type(exc).__name__}: {clean(str(exc))[:300]}")
    return None


def config_error(command: str, exc: ConfigError) -> int:
    """Say what is wrong with the configuration; the exit status for bad usage."""
    say(command, f"configuration error: {clean(exc.message)}")
    return USAGE_ERROR
