"""Registries the settings restrict, guarded from being reached on another registry's say-so.

The settings may limit who may check a registry (``registries.<host>.channels``). The front end
enforces that on the registry the user typed, and only there. A registry that is being checked can
send the client on to another host, by a redirect or by the token realm of its challenge; if that
host is a restricted registry, following would carry its answer (status, error text, digests, whether
a repository exists) to whoever asked about the first registry: a confused deputy.

So the client refuses any hop onto a restricted registry's host unless that registry is the one being
checked (or the checked registry's settings name the host as its own token realm). The refusal does
not depend on who asked: diagnoses are cached and shared, so an answer must not depend on the asker.

Hosts are compared in the egress policy's canonical spelling (case, trailing dot, IP spellings such
as ``[::ffff:10.0.0.5]``, default ports, Docker Hub's aliases), so a respelled Location does not slip
by. Another *name* for the same server (a CNAME, an address) is not recognised: that is the same
boundary as the front end's, where typing such a name is not refused either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from bot.domain.errors import ConfigError, EgressDenied
from bot.domain.models import canonical_registry
from bot.registry.config import RegistryEndpoint
from bot.registry.egress.policy import canonical_entry, canonical_host

_DEFAULT_PORTS = {"https": 443, "http": 80}


def _entry_spellings(text: str) -> set[str]:
    """A settings host entry as the policy spells it, plus the registry spelling (Docker Hub's aliases
    become ``docker.io``, ``:443`` is dropped)."""
    entry = canonical_entry(text)
    return {entry, canonical_registry(entry)}


def url_spellings(url: httpx.URL) -> frozenset[str]:
    """Every entry spelling that names the URL's destination: ``host:port``, and the bare ``host``
    when the port is the scheme's default. Empty for a host the egress policy would refuse anyway."""
    try:
        host = canonical_host(url.raw_host.decode("ascii", errors="replace"))
    except EgressDenied:
        return frozenset()  # not a host at all: the egress transport refuses it with its own message
    default = _DEFAULT_PORTS.get(url.scheme.lower())
    port = url.port if url.port is not None else default
    bracketed = f"[{host}]" if ":" in host else host
    spellings = {f"{bracketed}:{port}"}
    if port is not None and port == default:
        spellings.add(bracketed)
    return frozenset(spellings | {canonical_registry(s) for s in spellings})


def own_hosts(endpoint: RegistryEndpoint) -> frozenset[str]:
    """Where checking ``endpoint`` may legitimately go among restricted hosts: the registry itself,
    its API host, and the token realms its settings name."""
    found: set[str] = set()
    for text in (endpoint.host, endpoint.api_host, *endpoint.token_realms):
        try:
            found |= _entry_spellings(text)
        except ConfigError:
            continue  # an unusable entry exempts nothing
    return frozenset(found)


@dataclass(frozen=True)
class RestrictedHosts:
    """The hosts of restricted registries (each registry's host and API host, canonical spellings)."""

    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_endpoints(cls, endpoints: Iterable[RegistryEndpoint]) -> RestrictedHosts:
        """``ConfigError`` if a restricted registry's host cannot be spelled canonically (fail closed
        at start-up rather than guard nothing)."""
        hosts: set[str] = set()
        for endpoint in endpoints:
            if endpoint.restricted:
                hosts |= _entry_spellings(endpoint.host) | _entry_spellings(endpoint.api_host)
        return cls(frozenset(hosts))

    def refuses(self, url: httpx.URL, *, checking: RegistryEndpoint) -> bool:
        """True when ``url`` lands on a restricted registry other than the one being checked."""
        if not self.hosts:
            return False
        spellings = url_spellings(url)
        return bool(spellings & self.hosts) and not spellings & own_hosts(checking)


__all__ = ["RestrictedHosts", "own_hosts", "url_spellings"]
