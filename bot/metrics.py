"""Prometheus metrics, defined once so every part counts into the same registry.

Importing this module is cheap (prometheus_client only); it never imports an adapter.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CHECKS = Counter("imagecheck_checks_total", "Diagnoses completed, by verdict", ["verdict"], registry=REGISTRY)
REGISTRY_REQUESTS = Counter(
    "imagecheck_registry_requests_total", "HTTP requests to registries", ["registry", "status"],
    registry=REGISTRY)
REGISTRY_LATENCY = Histogram(
    "imagecheck_registry_request_seconds", "Registry request latency", ["registry"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CACHE = Counter("imagecheck_cache_total", "Result cache lookups", ["result"], registry=REGISTRY)  # hit|miss
SINGLE_FLIGHT_JOINS = Counter(
    "imagecheck_single_flight_joins_total", "Checks that reused a concurrent identical check",
    registry=REGISTRY)
SLACK_ACK_SECONDS = Histogram(
    "imagecheck_slack_ack_seconds", "Time to ack a Slack request", registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3))
SLACK_API_ERRORS = Counter(
    "imagecheck_slack_api_errors_total", "Slack Web API errors", ["method", "error"], registry=REGISTRY)
TRIAGE = Counter("imagecheck_triage_total", "Pastes triaged, by category", ["category"], registry=REGISTRY)
PINS = Counter("imagecheck_pins_total", "Digests pinned", registry=REGISTRY)
STORE_ERRORS = Counter("imagecheck_store_errors_total", "State store failures", ["op"], registry=REGISTRY)
