"""Which IP addresses a registry request may go to, and what odd host spellings really mean.

Two jobs, both pure:

* ``parse_host_literal`` (kept in ``bot.domain.host_literals``, shared with settings lookups) turns
  every spelling of an IP address that a C resolver would accept (``2130706433``, ``0x7f.0.0.1``,
  ``0177.0.0.1``, ``127.1``, ``[::1]``) into the address it means, so a user cannot dodge the address
  checks by writing 127.0.0.1 in a way Python's ``ipaddress`` rejects.
* ``classify`` says why an address is not on the public internet (or ``None`` when it is). We keep our
  own table rather than trusting ``ipaddress.is_global``, which calls multicast, 168.63.129.16,
  6to4 (``2002::/16``) and NAT64 (``64:ff9b::/96``) forms of loopback "global".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bot.domain.host_literals import IPAddress, NotAnAddress, parse_host_literal, without_scope

__all__ = ["Classification", "IPAddress", "NotAnAddress", "classify", "connect_address", "embedded_ipv4",
           "parse_host_literal", "without_scope"]


@dataclass(frozen=True)
class Classification:
    """Why an address is not public. ``hard`` ones stay denied even for a registry named in settings:
    no registry lives on a cloud metadata service, a multicast group or the unspecified address."""

    category: str
    hard: bool = False


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Cloud instance-metadata endpoints: credentials live behind these, so they are never reachable.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset({
    ipaddress.IPv4Address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.IPv4Address("169.254.170.23"),  # AWS EKS pod identity
    ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.IPv4Address("192.0.0.192"),  # Oracle Cloud
    ipaddress.IPv4Address("168.63.129.16"),  # Azure wireserver (a public address!)
    ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
})

# (network, category, hard). Order matters only for which name a message uses.
_V4_TABLE: tuple[tuple[ipaddress.IPv4Network, str, bool], ...] = (
    (_V4("0.0.0.0/8"), "unspecified ('this network')", True),
    (_V4("127.0.0.0/8"), "loopback", False),
    (_V4("10.0.0.0/8"), "private", False),
    (_V4("172.16.0.0/12"), "private", False),
    (_V4("192.168.0.0/16"), "private", False),
    (_V4("169.254.0.0/16"), "link-local", False),
    (_V4("100.64.0.0/10"), "shared (carrier-grade NAT)", False),
    (_V4("192.0.0.0/24"), "IETF protocol assignment", False),
    (_V4("192.0.2.0/24"), "documentation", False),
    (_V4("198.51.100.0/24"), "documentation", False),
    (_V4("203.0.113.0/24"), "documentation", False),
    (_V4("198.18.0.0/15"), "benchmarking", False),
    (_V4("192.88.99.0/24"), "6to4 relay anycast", False),
    (_V4("224.0.0.0/4"), "multicast", True),
    (_V4("255.255.255.255/32"), "broadcast", True),
    (_V4("240.0.0.0/4"), "reserved", False),
)

_V6_TABLE: tuple[tuple[ipaddress.IPv6Network, str, bool], ...] = (
    (_V6("::/128"), "unspecified", True),
    (_V6("::1/128"), "loopback", False),
    (_V6("ff00::/8"), "multicast", True),
    (_V6("fe80::/10"), "link-local", False),
    (_V6("fec0::/10"), "site-local", False),
    (_V6("fc00::/7"), "unique local (private)", False),
    (_V6("64:ff9b:1::/48"), "local-use NAT64", False),  # embedding layout is operator-specific
    (_V6("100::/64"), "discard-only", False),
    (_V6("2001:db8::/32"), "documentation", False),
    (_V6("3fff::/20"), "documentation", False),
    (_V6("2001::/23"), "IETF protocol assignment", False),
    (_V6("5f00::/16"), "SRv6 segment identifier", False),
)
_GLOBAL_UNICAST = _V6("2000::/3")
_IPV4_MAPPED = _V6("::ffff:0:0/96")
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_SIXTOFOUR = _V6("2002::/16")
_TEREDO = _V6("2001::/32")




def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 address(es) an IPv6 transition form carries, with the form's name."""
    last32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_MAPPED:
        return "IPv4-mapped", [last32]
    if address in _IPV4_TRANSLATED:
        return "IPv4-translated", [last32]
    if address in _NAT64:
        return "NAT64", [last32]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", [last32]
    if address in _SIXTOFOUR and address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address in _TEREDO and address.teredo is not None:
        server, client = address.teredo
        return "Teredo", [server, client]
    return None


def classify(address: IPAddress) -> Classification | None:
    """Why ``address`` is not a public unicast address, or ``None`` when it is one."""
    address = without_scope(address)
    if address in METADATA_ADDRESSES:
        return Classification("cloud metadata", hard=True)
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_v4(address)
    return _classify_v6(address)


def _classify_v4(address: ipaddress.IPv4Address) -> Classification | None:
    for network, category, hard in _V4_TABLE:
        if address in network:
            return Classification(category, hard)
    if not address.is_global:  # belt and braces: anything IANA lists as special that we missed
        return Classification("special-purpose")
    return None


def _classify_v6(address: ipaddress.IPv6Address) -> Classification | None:
    carried = embedded_ipv4(address)
    if carried is not None:
        form, inner = carried
        for v4 in inner:
            verdict = classify(v4)
            if verdict is not None:
                return Classification(f"{verdict.category} ({form} form)", verdict.hard)
        if form == "Teredo":
            # A tunnel endpoint, never a registry; deny even when both ends are public.
            return Classification("Teredo tunnel")
        if form in ("IPv4-compatible", "IPv4-translated"):
            return Classification(f"{form} (deprecated)")
        return None  # IPv4-mapped, NAT64 and 6to4 forms of a public address are that address
    for network, category, hard in _V6_TABLE:
        if address in network:
            return Classification(category, hard)
    if address not in _GLOBAL_UNICAST:
        return Classification("reserved")
    if not address.is_global:
        return Classification("special-purpose")
    return None


def connect_address(address: IPAddress) -> IPAddress:
    """The address to open a socket to: an IPv4-mapped address is dialled as the IPv4 it carries
    (an AF_INET6 socket to ``::ffff:a.b.c.d`` fails on hosts that set IPV6_V6ONLY)."""
    address = without_scope(address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
