"""The server's side of the ``CheckMetrics`` port: what the domain reports lands in the Prometheus series
that dashboards read (``imagecheck_checks_total``, ``imagecheck_cache_total``,
``imagecheck_single_flight_joins_total``), and ``build_runtime`` counts there unless told not to, as the
one-shot CLI tells it.

The registry is the in-memory fake (handed to ``build_runtime`` in place of the HTTP client, which is all
``build_runtime`` asks of it: a session factory); the store is the real embedded one.
"""

from __future__ import annotations

from typing import cast

from bot import metrics
from bot.domain.checking import NoCheckMetrics
from bot.domain.clock import ManualClock
from bot.domain.models import Verdict
from bot.domain.ports import CheckMetrics
from bot.domain.reference import parse_reference
from bot.metrics_port import PrometheusCheckMetrics
from bot.registry.client import RegistryClient
from bot.settings import Settings
from bot.store.memory_store import MemoryStore
from bot.wiring import build_runtime
from tests.domain.fake_registry import FakeRegistry
from tests.domain.test_checking import HOST, Sessions, _world

REF = f"{HOST}/payments/api:1.9.0"


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _checks(verdict: Verdict) -> float:
    return _sample("imagecheck_checks_total", verdict=verdict.value)


def _cache(result: str) -> float:
    return _sample("imagecheck_cache_total", result=result)


def _joins() -> float:
    return _sample("imagecheck_single_flight_joins_total")


def test_each_report_counts_into_its_prometheus_series() -> None:
    port: CheckMetrics = PrometheusCheckMetrics()
    before = (_checks(Verdict.platform_mismatch), _cache("hit"), _cache("miss"), _joins())
    port.check_finished(Verdict.platform_mismatch)
    port.cache_hit()
    port.cache_miss()
    port.cache_miss()
    port.single_flight_joined()
    after = (_checks(Verdict.platform_mismatch), _cache("hit"), _cache("miss"), _joins())
    assert [a - b for a, b in zip(after, before, strict=True)] == [1.0, 1.0, 2.0, 1.0]


def test_reports_made_while_not_recorded_are_dropped() -> None:
    port = PrometheusCheckMetrics()
    before = _checks(Verdict.ok)
    with metrics.not_recorded():
        port.check_finished(Verdict.ok)
    assert _checks(Verdict.ok) == before


class _FakeClient:
    """All ``build_runtime`` uses of a registry client it is handed: ``session``, a session factory."""

    def __init__(self) -> None:
        self.session = Sessions(lambda: FakeRegistry(_world()))


async def _check_twice(check_metrics: CheckMetrics | None) -> None:
    clock = ManualClock()
    client = cast(RegistryClient, _FakeClient())
    async with build_runtime(Settings(), registry_client=client, store=MemoryStore(clock=clock), clock=clock,
                             check_metrics=check_metrics) as runtime:
        ref = parse_reference(REF)
        await runtime.checks.check(ref)
        await runtime.checks.check(ref)  # from the cache


async def test_the_runtime_counts_checks_into_prometheus_by_default() -> None:
    before = (_checks(Verdict.ok), _cache("miss"), _cache("hit"))
    await _check_twice(None)
    after = (_checks(Verdict.ok), _cache("miss"), _cache("hit"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [2.0, 1.0, 1.0]


async def test_a_runtime_given_no_check_metrics_counts_nothing() -> None:
    before = (_checks(Verdict.ok), _cache("miss"), _cache("hit"))
    await _check_twice(NoCheckMetrics())
    assert (_checks(Verdict.ok), _cache("miss"), _cache("hit")) == before
