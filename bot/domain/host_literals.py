"""What a registry host written as an IP address really means, in any spelling a C resolver accepts.

``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``127.1`` and ``[::ffff:7f00:1]`` all mean 127.0.0.1.
Settings lookups (credentials, per-channel limits, mirrors) and the egress policy must agree on which
host is meant, or a respelled address slips past a per-channel limit while the egress policy still
treats it as the configured registry. Pure (stdlib only): shared by the domain and the registry adapter.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotAnAddress(ValueError):
    """The text looks like an IP literal (its last label is numeric) but is not a valid one."""


def without_scope(address: IPAddress) -> IPAddress:
    """``fe80::1%eth0`` -> ``fe80::1``: the zone says which interface, not which address."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(int(address))
    return address


_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def parse_host_literal(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form a resolver accepts, or ``None`` for a name.

    ``host`` is lowercase, without brackets or a trailing dot. Like the WHATWG URL parser, a host
    whose last label is numeric is an IPv4 attempt: when it isn't a valid one we raise
    ``NotAnAddress`` rather than hand it to DNS, where some resolver might still read it as an address.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise NotAnAddress(f"{host!r} is not a valid IPv6 address") from exc
    labels = host.split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    value = _inet_aton(labels)
    if value is None:
        raise NotAnAddress(f"{host!r} looks like an IPv4 address but is not a valid one")
    return ipaddress.IPv4Address(value)


def _inet_aton(labels: list[str]) -> int | None:
    """The classic BSD ``inet_aton`` rules: 1-4 parts, each decimal, octal (leading 0) or hex (0x);
    the last part fills every byte the earlier parts left."""
    if not 1 <= len(labels) <= 4:
        return None
    parts: list[int] = []
    for label in labels:
        number = _parse_part(label)
        if number is None:
            return None
        parts.append(number)
    *leading, last = parts
    if any(part > 0xFF for part in leading):
        return None
    remaining_bytes = 4 - len(leading)
    if last >= 1 << (8 * remaining_bytes):
        return None
    value = 0
    for part in leading:
        value = (value << 8) | part
    return (value << (8 * remaining_bytes)) | last


def _parse_part(label: str) -> int | None:
    if len(label) > 12:  # longer can only overflow; bounds the work on hostile input
        return None
    if label.startswith("0x"):
        digits = label[2:]
        return int(digits, 16) if digits and all(c in "0123456789abcdef" for c in digits) else None
    if not label or not label.isascii() or not label.isdigit():
        return None
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8) if all(c in "01234567" for c in label) else None
    return int(label)
