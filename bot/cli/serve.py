"""``imagecheck serve [--port]`` (HTTP mode) and ``imagecheck socket`` (Socket Mode, development)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

SETUP_HINT = (
    "Create the Slack app from manifest.yml (https://api.slack.com/apps -> Create New App -> "
    "From an app manifest, paste manifest.yml), install it to your workspace, then set the values "
    "from its settings pages. See README.md, 'Installing the Slack app'."
)

REQUIRED = {
    "serve": (("SLACK_BOT_TOKEN", "slack_bot_token", "OAuth & Permissions -> Bot User OAuth Token (xoxb-…)"),
              ("SLACK_SIGNING_SECRET", "slack_signing_secret", "Basic Information -> Signing Secret")),
    "socket": (("SLACK_BOT_TOKEN", "slack_bot_token", "OAuth & Permissions -> Bot User OAuth Token (xoxb-…)"),
               ("SLACK_APP_TOKEN", "slack_app_token",
                "Basic Information -> App-Level Tokens, scope connections:write (xapp-…)")),
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "serve":
        parser.add_argument("--port", type=int, default=None, help="HTTP port (default: PORT or 3000)")
        parser.add_argument("--host", default=None, help="address to listen on (default: all interfaces)")
    else:
        parser.add_argument("--health-port", type=int, default=None,
                            help="also serve /healthz, /readyz and /metrics on this port")
    parser.set_defaults(_serve_mode=name)


def missing_credentials(mode: str, settings: object) -> list[tuple[str, str]]:
    """(environment variable, where to find it) for each credential this mode needs but lacks."""
    missing: list[tuple[str, str]] = []
    for env, attr, where in REQUIRED[mode]:
        value = getattr(settings, attr, None)
        if value is None or not value.get_secret_value():
            missing.append((env, where))
    return missing


def explain_missing(mode: str, missing: list[tuple[str, str]], out: TextIO) -> None:
    names = " and ".join(env for env, _ in missing)
    print(f"imagecheck {mode}: {names} not set; the Slack app cannot start.", file=out)
    for env, where in missing:
        print(f"  {env}: {where}", file=out)
    print(SETUP_HINT, file=out)


def run(args: argparse.Namespace) -> int:
    from bot.cli.common import USAGE_ERROR, config_error, load_settings
    from bot.domain.errors import ConfigError

    mode = str(getattr(args, "_serve_mode", "serve"))
    # Not ``Settings()`` directly: its ValidationError prints the rejected input, which may be a password.
    settings = load_settings(command=mode)
    if settings is None:
        return USAGE_ERROR
    missing = missing_credentials(mode, settings)
    if missing:
        explain_missing(mode, missing, sys.stderr)
        return 2
    from bot.logging_setup import configure_logging
    from bot.web import ALL_INTERFACES, run_socket_mode, serve_http

    configure_logging(settings.log_level, json=settings.log_json)
    try:
        if mode == "serve":
            port = args.port if args.port is not None else settings.port
            asyncio.run(serve_http(settings, port, host=args.host or ALL_INTERFACES))
        else:
            asyncio.run(run_socket_mode(settings, health_port=args.health_port))
    except ConfigError as exc:  # a malformed REDIS_URL, say: one line, not a traceback
        return config_error(mode, exc)
    return 0
