"""Shared test wiring. Real servers (registry, redis, Slack emulator) live in ``tests/fixtures``."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.registry",
    "tests.fixtures.redis_server",
    "tests.fixtures.slack_emulator",
]
