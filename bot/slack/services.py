"""What the listeners need from the rest of imagecheck, as one small object.

The composition root (``bot.web``) builds a ``Services`` from the runtime; tests build one from the
real runtime too. Listeners never reach for globals or settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.domain.models import Diagnosis, ImageRef, Platform, TriageResult, canonical_registry
from bot.domain.ports import StatePort


class CheckService(Protocol):
    async def check(self, ref: ImageRef, *, platforms: Sequence[Platform] = (), deep: bool = False,
                    fresh: bool = False, credentials_id: str = "",
                    correlation_id: str | None = None) -> Diagnosis: ...

    async def nearest_tags(self, ref: ImageRef, limit: int) -> Any: ...

    async def compare_mirrors(self, ref: ImageRef) -> Any: ...


TriageFn = Callable[[str, str | None], TriageResult]
RedactFn = Callable[[str], str]
ReconcileFn = Callable[[TriageResult, list[Diagnosis]], list[str]]
PinSnippetsFn = Callable[..., Any]


@dataclass(frozen=True)
class SlackOptions:
    """Plain values from settings that change what the listeners do."""

    triage_threshold: float = 0.6
    channels_include: tuple[str, ...] = ()  # empty: every channel the app is in
    channels_exclude: tuple[str, ...] = ()
    user_checks_per_minute: int = 20
    channel_checks_per_minute: int = 60
    # No pin rule configured: anyone may pin/resolve; otherwise any rule that admits the user suffices.
    pin_allowed_users: tuple[str, ...] = ()
    pin_allowed_usergroup: str | None = None
    pin_requires_channel_member: bool = False  # members of the clicked channel are admitted too
    channel_members_ttl_s: float = 60.0  # a burst of clicks reads the member list from Slack once
    max_slash_chars: int = 1024
    max_refs_per_request: int = 5
    incident_ttl_days: int = 30
    mirrors: Mapping[str, Sequence[str]] = field(default_factory=dict)  # registry -> mirror hosts
    # registry -> the only channels that may check it (settings ``registries.<host>.channels``)
    registry_channels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    dedupe_ttl_s: float = 3600.0
    click_dedupe_ttl_s: float = 10.0  # a double click inside this window acts once

    def registry_allowed(self, registry: str, channel: str | None) -> bool:
        allowed = self.registry_channels.get(canonical_registry(registry))
        return not allowed or (channel is not None and channel in allowed)

    def channel_enabled(self, channel: str) -> bool:
        if channel in self.channels_exclude:
            return False
        return not self.channels_include or channel in self.channels_include


@dataclass(frozen=True)
class Services:
    checks: CheckService
    store: StatePort
    triage: TriageFn
    redact: RedactFn
    reconcile: ReconcileFn
    pin_snippets: PinSnippetsFn
    options: SlackOptions = field(default_factory=SlackOptions)
