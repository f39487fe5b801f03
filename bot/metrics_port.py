"""The domain's ``CheckMetrics`` port, counted into the Prometheus metrics of ``bot.metrics``.

The domain names what happened (a check finished, the cache hit); the metric names and labels that
dashboards and alerts depend on live here and in ``bot.metrics`` only. Like ``bot.metrics``, nothing
here imports prometheus_client until the first count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import metrics

if TYPE_CHECKING:
    from bot.domain.models import Verdict

__all__ = ["PrometheusCheckMetrics"]


class PrometheusCheckMetrics:
    """``imagecheck_checks_total``, ``imagecheck_cache_total`` and ``imagecheck_single_flight_joins_total``."""

    def check_finished(self, verdict: Verdict) -> None:
        metrics.CHECKS.labels(verdict=verdict.value).inc()

    def cache_hit(self) -> None:
        metrics.CACHE.labels(result="hit").inc()

    def cache_miss(self) -> None:
        metrics.CACHE.labels(result="miss").inc()

    def single_flight_joined(self) -> None:
        metrics.SINGLE_FLIGHT_JOINS.inc()
