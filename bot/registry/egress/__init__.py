"""Egress policy (SSRF protection) for all registry traffic: see docs/security.md.

Build one ``EgressTransport(EgressPolicy.from_settings(settings), ssl_contexts=...)`` and hand it to
the single ``httpx.AsyncClient(transport=..., trust_env=False)`` that talks to registries.
"""

from bot.registry.egress.addresses import Classification, classify, parse_host_literal
from bot.registry.egress.policy import Destination, EgressPolicy, canonical_entry, canonical_host
from bot.registry.egress.resolver import Resolver, SystemResolver
from bot.registry.egress.transport import (
    EgressTransport,
    default_ssl_context,
    ssl_context_for_ca,
    ssl_contexts_from_settings,
)

__all__ = [
    "Classification",
    "Destination",
    "EgressPolicy",
    "EgressTransport",
    "Resolver",
    "SystemResolver",
    "canonical_entry",
    "canonical_host",
    "classify",
    "default_ssl_context",
    "parse_host_literal",
    "ssl_context_for_ca",
    "ssl_contexts_from_settings",
]
