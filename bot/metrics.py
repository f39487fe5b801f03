"""Prometheus metrics, defined once so every part counts into the same registry.

prometheus_client is imported, and every metric made in ``REGISTRY``, on the first use of any of them
(a count, or a read of ``REGISTRY``), not when this module is imported: its import (with the
``http.server`` it pulls in) is a noticeable part of starting ``imagecheck check``. A one-shot CLI
command runs its checks inside ``not_recorded()``: nobody can scrape a process that is about to exit,
so it never imports prometheus_client at all. The server records as always.

Importing this module is cheap (stdlib only); it never imports an adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    REGISTRY: CollectorRegistry  # made on first read (module ``__getattr__`` below)

__all__ = ["CACHE", "CHECKS", "PINS", "REGISTRY", "REGISTRY_LATENCY", "REGISTRY_REQUESTS", "SINGLE_FLIGHT_JOINS",
           "SLACK_ACK_SECONDS", "SLACK_API_ERRORS", "STORE_ERRORS", "TRIAGE", "not_recorded"]

_recorded: ContextVar[bool] = ContextVar("imagecheck_metrics_recorded", default=True)


@contextmanager
def not_recorded() -> Iterator[None]:
    """Counts and observations made inside (and in tasks started inside) are dropped."""
    token = _recorded.set(False)
    try:
        yield
    finally:
        _recorded.reset(token)


class _Dropped:
    """What ``labels()`` answers while not recorded."""

    def inc(self, amount: float = 1.0) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_DROPPED = _Dropped()


class _Metric:
    """A counter or histogram's definition; the prometheus_client object behind it is made on first use."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 buckets: Sequence[float] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.buckets = buckets  # None: a counter
        self.made: Counter | Histogram | None = None
        _DEFINED.append(self)

    @property
    def real(self) -> Any:  # Counter | Histogram; Any so that callers may use either one's API
        if self.made is None:
            _make_all()
        return self.made

    def labels(self, **labelvalues: str) -> Any:
        return self.real.labels(**labelvalues) if _recorded.get() else _DROPPED

    def inc(self, amount: float = 1.0) -> None:
        if _recorded.get():
            self.real.inc(amount)

    def observe(self, amount: float) -> None:
        if _recorded.get():
            self.real.observe(amount)

    def __getattr__(self, attr: str) -> Any:
        # Everything else prometheus_client offers (tests read a counter's ``_value``); not dunders, which
        # copy and pickle probe for.
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.real, attr)


_DEFINED: list[_Metric] = []
_made_registry: CollectorRegistry | None = None
_making = threading.Lock()


def _make_all() -> CollectorRegistry:
    """Import prometheus_client and make every metric at once, so /metrics lists all of them from the start."""
    global _made_registry
    with _making:
        if _made_registry is None:
            from prometheus_client import CollectorRegistry, Counter, Histogram

            registry = CollectorRegistry(auto_describe=True)
            for m in _DEFINED:
                if m.buckets is None:
                    m.made = Counter(m.name, m.documentation, m.labelnames, registry=registry)
                else:
                    m.made = Histogram(m.name, m.documentation, m.labelnames, registry=registry, buckets=m.buckets)
            _made_registry = registry
        return _made_registry


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _make_all()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CHECKS = _Metric("imagecheck_checks_total", "Diagnoses completed, by verdict", ["verdict"])
REGISTRY_REQUESTS = _Metric("imagecheck_registry_requests_total", "HTTP requests to registries", ["registry", "status"])
REGISTRY_LATENCY = _Metric(
    "imagecheck_registry_request_seconds", "Registry request latency", ["registry"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CACHE = _Metric("imagecheck_cache_total", "Result cache lookups", ["result"])  # hit|miss
SINGLE_FLIGHT_JOINS = _Metric(
    "imagecheck_single_flight_joins_total", "Checks that reused a concurrent identical check")
SLACK_ACK_SECONDS = _Metric(
    "imagecheck_slack_ack_seconds", "Time to ack a Slack request",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3))
SLACK_API_ERRORS = _Metric("imagecheck_slack_api_errors_total", "Slack Web API errors", ["method", "error"])
TRIAGE = _Metric("imagecheck_triage_total", "Pastes triaged, by category", ["category"])
PINS = _Metric("imagecheck_pins_total", "Digests pinned")
STORE_ERRORS = _Metric("imagecheck_store_errors_total", "State store failures", ["op"])
