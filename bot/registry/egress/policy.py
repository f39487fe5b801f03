"""The egress policy: which registry URLs and resolved addresses imagecheck may connect to.

Default deny for everything that is not a public unicast address; a registry named under
``registries:`` (or a host in ``allow_private_hosts``) is allowed by its exact host and port. Every
``EgressDenied`` message names what the user typed and never the address a name resolved to, so the
bot cannot be used to map an internal network through DNS.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import httpx

from bot.domain.errors import ConfigError, EgressDenied
from bot.registry.egress.addresses import (
    IPAddress,
    classify,
    parse_host_literal,
    without_scope,
)

if TYPE_CHECKING:
    from bot.settings import Settings

_DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"https": 443, "http": 80})
_MAX_HOST_CHARS = 253
# What a host can hold once IDNA-encoded: LDH labels (plus "_", seen in internal names), or an IPv6
# address with an optional zone id. Anything else is refused rather than handed to a resolver.
_HOST_CHARS = re.compile(r"\A[a-z0-9._\-]+\Z|\A[0-9a-f:.]+(%[a-z0-9._\-]+)?\Z")


@dataclass(frozen=True)
class Destination:
    """A URL's destination after the static checks: canonical host text and, when the URL spells
    an address or a ``localhost`` name, the address(es) it means (no DNS needed for those)."""

    scheme: str
    host: str  # lowercase ASCII name without trailing dot, or the canonical address text
    port: int
    addresses: tuple[IPAddress, ...] = ()  # set for literal addresses and localhost names
    named: bool = False  # the exact host:port is allowed in settings

    @property
    def is_name(self) -> bool:
        return not self.addresses

    @property
    def tls_name(self) -> str | None:
        """The name TLS must send (SNI) and verify; ``None`` when the URL names an address."""
        return None if parse_host_literal(self.host) is not None else self.host

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def canonical_host(raw: str) -> str:
    """Lowercase, no brackets, no single trailing dot; an IP spelling becomes the address it means.

    Raises ``EgressDenied`` for empty hosts, hosts with several trailing dots, and text that looks like
    an IP address but is not one.
    """
    host = raw.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.replace("%25", "%")  # a URL-encoded IPv6 zone id
    if host.endswith("."):
        host = host[:-1]
    if not host or host.endswith(".") or len(host) > _MAX_HOST_CHARS or not _HOST_CHARS.match(host):
        raise EgressDenied(f"{_show(raw)} is not a host name imagecheck will contact.")
    try:
        literal = parse_host_literal(host)
    except ValueError as exc:  # NotAnAddress, or a zone id ipaddress cannot read
        raise EgressDenied(f"{_show(raw)} is not a valid host name or IP address.") from exc
    if literal is None:
        return host
    literal = without_scope(literal)
    if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped is not None:
        literal = literal.ipv4_mapped  # ::ffff:a.b.c.d is spelled, matched and verified as a.b.c.d
    return str(literal)


def is_localhost_name(host: str) -> bool:
    """RFC 6761: ``localhost`` and every name under it mean the loopback interface, whatever DNS says."""
    return host == "localhost" or host.endswith(".localhost")


_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))


@dataclass(frozen=True)
class _Entry:
    host: str
    port: int | None  # None: the scheme's default port


def _parse_entry(text: str) -> _Entry:
    """``host``, ``host:port``, ``[v6]:port``, a bare IPv6 address, or a URL (``https://host:port/x``)."""
    entry = text.strip()
    if "://" in entry:
        url = httpx.URL(entry)
        return _Entry(canonical_host(url.raw_host.decode("ascii")), url.port)
    entry = entry.split("/", 1)[0]  # "auth.corp:8443/token" names the host auth.corp:8443
    if entry.startswith("["):
        host_part, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host_part, _, port_text = entry.partition(":")
    else:
        host_part, port_text = entry, ""
    return _Entry(canonical_host(host_part), int(port_text) if port_text else None)


def canonical_entry(text: str) -> str:
    """A settings host entry in the one spelling the policy compares: ``host``, ``host:port`` or
    ``[v6]:port``, lowercase, IP spellings as the address. ``ConfigError`` when it is no host."""
    try:
        entry = _parse_entry(text)
    except (EgressDenied, ValueError, httpx.InvalidURL) as exc:
        raise ConfigError(f"{_show(text)} is not a host or host:port the egress policy can use.") from exc
    if entry.port is not None and not 1 <= entry.port <= 65535:
        raise ConfigError(f"{_show(text)} names a port outside 1-65535.")
    host = f"[{entry.host}]" if ":" in entry.host else entry.host
    return host if entry.port is None else f"{host}:{entry.port}"


def _canonical_entries(entries: Iterable[str]) -> frozenset[str]:
    return frozenset(canonical_entry(text) for text in entries)


@dataclass(frozen=True)
class EgressPolicy:
    """What the registry client may connect to. Entries are ``host`` or ``host:port``; a bare host
    stands for the scheme's default port only. Entries are canonicalised on construction, so
    ``LOCALHOST.:5000`` and ``localhost:5000`` are the same entry."""

    allowed: frozenset[str] = frozenset()  # registries named in settings: any address, exact host:port
    allow_private_hosts: frozenset[str] = frozenset()  # further hosts allowed on private addresses
    insecure: frozenset[str] = frozenset()  # hosts that may be spoken to over plain HTTP
    default_ports: Mapping[str, int] = field(
        default_factory=lambda: _DEFAULT_PORTS, hash=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("allowed", "allow_private_hosts", "insecure"):
            object.__setattr__(self, name, _canonical_entries(getattr(self, name)))

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """Every host the settings name is allowed: registries, their mirrors, upstreams and token
        realms. Only registries marked ``insecure`` may use plain HTTP."""
        allowed: set[str] = set()
        insecure: set[str] = set()
        for host, entry in settings.registries.items():
            allowed.add(host)
            allowed.update(entry.mirrors)
            allowed.update(entry.token_realms)
            if entry.upstream:
                allowed.add(entry.upstream)
            if entry.insecure:
                insecure.add(host)
        return cls(allowed=frozenset(allowed), allow_private_hosts=frozenset(settings.allow_private_hosts),
                   insecure=frozenset(insecure))

    # --- the static part: no DNS ---------------------------------------------------------------

    def check_url(self, url: httpx.URL) -> None:
        """Raise ``EgressDenied`` unless the URL's scheme, port and (literal) host are allowed."""
        self.destination(url)

    def destination(self, url: httpx.URL) -> Destination:
        """``check_url`` that also returns the parsed destination (the transport dials from it)."""
        scheme = url.scheme.lower()
        if scheme not in self.default_ports:
            raise EgressDenied(f"{_show(scheme)}:// URLs are not fetched; registries are reached over https.")
        typed = url.raw_host.decode("ascii", errors="replace")
        host = canonical_host(typed)
        default_port = self.default_ports[scheme]
        port = url.port if url.port is not None else default_port
        if not 1 <= port <= 65535:
            raise EgressDenied(f"port {port} is outside 1-65535.")
        named = self._named(host, port, (self.allowed, self.allow_private_hosts), default_port)
        authority = Destination(scheme, host, port).authority
        if port != default_port and not named:
            raise EgressDenied(
                f"{_show(authority)} uses a non-standard port; only registries named with their port "
                f"under `registries:` in the settings may use one.")
        if scheme == "http" and not self._named(host, port, (self.insecure,), default_port):
            raise EgressDenied(
                f"plain HTTP to {_show(authority)} is refused; mark the registry `insecure: true` under "
                "`registries:` if it really has no TLS.")
        if is_localhost_name(host):
            addresses: tuple[IPAddress, ...] = _LOOPBACK
            self._check_typed(addresses[0], typed, authority, named)
            return Destination(scheme, host, port, addresses, named)
        literal = parse_host_literal(host)
        if literal is not None:
            self._check_typed(literal, typed, authority, named)
            return Destination(scheme, host, port, (literal,), named)
        return Destination(scheme, host, port, (), named)

    # --- the dynamic part: after DNS -----------------------------------------------------------

    def check_addresses(self, host: str, port: int, addresses: Iterable[str]) -> None:
        """Raise ``EgressDenied`` unless EVERY address ``host`` resolved to may be contacted.

        One bad answer denies the whole name: a client that tried the addresses in turn would
        otherwise reach the private one whenever the public one failed.
        """
        self.checked_addresses(host, port, addresses)

    def checked_addresses(self, host: str, port: int, addresses: Iterable[str]) -> list[IPAddress]:
        """``check_addresses`` that also returns the parsed addresses, in the resolver's order."""
        name = canonical_host(host)
        authority = Destination("https", name, port).authority
        named = self._named(name, port, (self.allowed, self.allow_private_hosts), None)
        literal = _LOOPBACK[0] if is_localhost_name(name) else parse_host_literal(name)
        if literal is not None:  # the "name" spells an address itself: that address counts too
            self._check_typed(literal, host, authority, named)
        parsed: list[IPAddress] = []
        for text in addresses:
            try:
                address = without_scope(ipaddress.ip_address(str(text).split("%", 1)[0]))
            except ValueError as exc:
                raise EgressDenied(f"{_show(authority)} did not resolve to a usable address.") from exc
            verdict = classify(address)
            if verdict is not None and (verdict.hard or not named):
                raise EgressDenied(
                    f"{_show(authority)} is not allowed: it resolves to an address outside the public "
                    "internet. If it is one of your registries, name it (with its port) under "
                    "`registries:` in the settings.")
            parsed.append(address)
        if not parsed:
            raise EgressDenied(f"{_show(authority)} did not resolve to any address.")
        return parsed

    # --- helpers ----------------------------------------------------------------------------------

    def _check_typed(self, address: IPAddress, typed: str, authority: str, named: bool) -> None:
        """An address the user wrote (in whatever spelling): saying what it means and which kind it
        is only repeats their own input back to them."""
        verdict = classify(address)
        if verdict is None:
            return
        label = _show(typed)
        if typed.strip("[]").rstrip(".").lower() != str(address):
            label += f" (that is {address})"
        if verdict.hard:
            raise EgressDenied(
                f"{label} is not a public address ({verdict.category}); imagecheck never contacts it.")
        if not named:
            raise EgressDenied(
                f"{label} is not a public address ({verdict.category}); name {_show(authority)} under "
                "`registries:` in the settings to allow it.")

    def _named(self, host: str, port: int, sets: Iterable[frozenset[str]], default_port: int | None) -> bool:
        """Exact ``host:port``, or a bare ``host`` entry when ``port`` is the scheme's default (any
        default port when the scheme is not known, as after DNS: the URL check already ran)."""
        bracketed = f"[{host}]" if ":" in host else host
        exact = f"{bracketed}:{port}"
        defaults = (default_port,) if default_port is not None else tuple(self.default_ports.values())
        portless_ok = port in defaults
        return any(exact in entries or (portless_ok and bracketed in entries) for entries in sets)


def _show(text: str) -> str:
    """User text quoted for a message, cut short; the renderer escapes it for Slack."""
    text = text if len(text) <= 80 else text[:77] + "..."
    return repr(text)[1:-1]
