"""The composition root: settings read once, clients made once, the check service wired to them.

Both front ends (the CLI and the Slack app) get everything from ``build_runtime``. Adapters are
imported inside it, and Redis only when ``REDIS_URL`` is set, so that ``imagecheck check`` starts
without loading what it doesn't use.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.checking import CheckPolicy, CheckService
from bot.domain.clock import SystemClock
from bot.domain.errors import ConfigError, InvalidPlatform
from bot.domain.models import Platform
from bot.domain.ports import CheckMetrics, Clock
from bot.domain.reference import parse_platform

if TYPE_CHECKING:
    from bot.registry.client import RegistryClient
    from bot.settings import Settings
    from bot.store.factory import Store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    checks: CheckService
    store: Store  # StatePort plus ``backend`` and ``aclose``
    registry_client: RegistryClient
    clock: Clock


def fleet_platforms(names: Sequence[str]) -> tuple[Platform, ...]:
    """``settings.platforms`` parsed; a typo there is a configuration error, said once at start-up."""
    platforms: list[Platform] = []
    for name in names:
        try:
            platforms.append(parse_platform(name))
        except InvalidPlatform as exc:
            raise ConfigError(f"settings.platforms: {exc.message}") from exc
    return tuple(dict.fromkeys(platforms))


def mirrors_by_registry(settings: Settings) -> Mapping[str, Sequence[str]]:
    from bot.registry.config import normalize_registry

    return {normalize_registry(host): [m.strip().lower() for m in mirrors]
            for host, mirrors in settings.mirrors_by_registry().items()}


def check_policy(settings: Settings) -> CheckPolicy:
    cache = settings.cache
    return CheckPolicy(
        tag_ttl_s=cache.tag_ttl_s, digest_ttl_s=cache.digest_ttl_s, negative_ttl_s=cache.negative_ttl_s,
        default_platforms=fleet_platforms(settings.platforms), mirrors=mirrors_by_registry(settings),
        deadline_s=settings.http.diagnosis_deadline_s)


async def open_state(settings: Settings, clock: Clock) -> Store:
    """Redis when ``REDIS_URL`` is set (imported only then), else the embedded store. A malformed
    ``REDIS_URL`` raises ``ConfigError`` (its message names REDIS_URL, never the password)."""
    prefix = settings.key_prefix
    incident_ttl_s = settings.cache.incident_ttl_days * 86400.0
    history = settings.cache.tag_history_per_tag
    from bot.store.factory import open_store

    url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
    try:
        return await open_store(url or None, key_prefix=prefix, incident_ttl_s=incident_ttl_s,
                                tag_history_limit=history, clock=clock)
    except ValueError as exc:
        # A malformed REDIS_URL: the front ends say a ConfigError in one line and exit 2. open_store's
        # message never holds the password; ``from None`` drops redis-py's, which might.
        raise ConfigError(str(exc)) from None


@asynccontextmanager
async def build_runtime(settings: Settings | None = None, *, registry_client: RegistryClient | None = None,
                        store: Store | None = None, clock: Clock | None = None,
                        check_metrics: CheckMetrics | None = None) -> AsyncIterator[Runtime]:
    """Everything a front end needs, closed again on exit. Tests may pass their own client, store or clock.

    The checks count into the Prometheus metrics unless ``check_metrics`` says otherwise (the one-shot
    CLI passes ``NoCheckMetrics``: nobody can scrape a process that is about to exit).
    """
    if settings is None:
        from bot.settings import Settings

        settings = Settings()
    clock = clock or SystemClock()
    policy = check_policy(settings)
    own_client = registry_client is None
    if registry_client is None:
        from bot.registry.client import RegistryClient
        from bot.registry.config import RegistryClientConfig

        registry_client = RegistryClient(RegistryClientConfig.from_settings(settings))
    own_store = store is None
    try:
        if store is None:
            store = await open_state(settings, clock)
        if check_metrics is None:
            from bot.metrics_port import PrometheusCheckMetrics

            check_metrics = PrometheusCheckMetrics()
        checks = CheckService(registry_client.session, store, clock, policy, metrics=check_metrics)
        yield Runtime(settings=settings, checks=checks, store=store, registry_client=registry_client,
                      clock=clock)
    finally:
        if own_store and store is not None:
            await store.aclose()
        if own_client:
            await registry_client.aclose()
