"""Every blocked range and every literal spelling from the security issue, as tables.

Addresses come from a scripted resolver (no DNS); the policy is asked exactly as the transport asks it.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from bot.domain.errors import EgressDenied
from bot.registry.egress import EgressPolicy, classify, parse_host_literal

OPEN = EgressPolicy()

BLOCKED = [
    # (address, the kind a reader would call it)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared"),
    ("100.127.255.254", "shared"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("192.0.0.8", "IETF"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("192.88.99.1", "6to4 relay"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("192.0.0.192", "metadata"),
    ("168.63.129.16", "metadata"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fd00:ec2::254", "metadata"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "discard"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    # IPv4 hidden in IPv6 transition forms
    ("::ffff:127.0.0.1", "loopback (IPv4-mapped"),
    ("::ffff:10.0.0.1", "private (IPv4-mapped"),
    ("::ffff:169.254.169.254", "metadata (IPv4-mapped"),
    ("::ffff:0:127.0.0.1", "loopback (IPv4-translated"),
    ("::127.0.0.1", "loopback (IPv4-compatible"),
    ("64:ff9b::127.0.0.1", "loopback (NAT64"),
    ("64:ff9b::a9fe:a9fe", "metadata (NAT64"),  # 169.254.169.254
    ("64:ff9b::c0a8:101", "private (NAT64"),  # 192.168.1.1
    ("2002:7f00:1::1", "loopback (6to4"),
    ("2002:a9fe:a9fe::", "metadata (6to4"),
    ("2002:c0a8:101::1", "private (6to4"),
    # Teredo: server 65.54.227.120 (public), client obfuscated ~127.0.0.1 = 80ff:fffe
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (Teredo"),
    # Teredo with a private server
    ("2001:0:a00:1::1", "private (Teredo"),
    # Teredo with both ends public is still a tunnel endpoint, not a registry
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo"),  # client 8.8.8.8
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "140.82.112.3",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8: what DNS64 hands an IPv6-only cluster
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "kind"), BLOCKED)
def test_blocked_address_is_classified_with_its_kind(address: str, kind: str) -> None:
    verdict = classify(ipaddress.ip_address(address))
    assert verdict is not None
    assert kind.lower() in verdict.category.lower()


@pytest.mark.parametrize(("address", "kind"), BLOCKED)
def test_name_resolving_to_blocked_address_is_denied(address: str, kind: str) -> None:
    with pytest.raises(EgressDenied) as caught:
        OPEN.check_addresses("registry.example.com", 443, [address])
    assert address not in str(caught.value)


@pytest.mark.parametrize(("address", "kind"), BLOCKED)
def test_literal_blocked_address_in_url_is_denied(address: str, kind: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(EgressDenied):
        OPEN.check_url(httpx.URL(f"https://{host}/v2/"))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_address_is_allowed(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None
    OPEN.check_addresses("registry.example.com", 443, [address])
    host = f"[{address}]" if ":" in address else address
    OPEN.check_url(httpx.URL(f"https://{host}/v2/"))


def test_is_global_alone_would_have_let_these_through() -> None:
    """The reason we keep our own table: Python calls each of these global."""
    fooled = ["224.0.0.1", "168.63.129.16", "64:ff9b::127.0.0.1", "2002:7f00:1::1", "::127.0.0.1"]
    for text in fooled:
        address = ipaddress.ip_address(text)
        assert address.is_global, text
        assert classify(address) is not None, text


SPELLINGS = [
    # (what a user could type, the address a C resolver reads it as)
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7F.0x0.0x0.0x1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0177.0000.0000.0001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("10.1", "10.0.0.1"),
    ("0", "0.0.0.0"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("169.254.43518", "169.254.169.254"),
    ("127.0.0.1.", "127.0.0.1"),
    ("[::1]", "::1"),
    ("[0:0:0:0:0:0:0:1]", "::1"),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
]


@pytest.mark.parametrize(("typed", "meant"), SPELLINGS)
def test_literal_spelling_means_the_address(typed: str, meant: str) -> None:
    host = typed.lower().strip("[]").rstrip(".")
    assert parse_host_literal(host) == ipaddress.ip_address(meant)


def never_fetched(url: str) -> None:
    """httpx refuses some spellings itself (``0177.0.0.1`` looks like dotted decimal to it and is
    not); either way no request can be made. Everything else must be refused by the policy."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return
    with pytest.raises(EgressDenied):
        OPEN.check_url(parsed)


@pytest.mark.parametrize(("typed", "meant"), SPELLINGS)
def test_literal_spelling_of_blocked_address_is_denied_in_url(typed: str, meant: str) -> None:
    never_fetched(f"https://{typed}/v2/")


@pytest.mark.parametrize(("typed", "meant"), SPELLINGS)
def test_literal_spelling_is_the_address_even_after_dns(typed: str, meant: str) -> None:
    # a "name" that spells an address counts as that address, whatever a resolver answered for it
    with pytest.raises(EgressDenied):
        OPEN.check_addresses(typed, 443, ["8.8.8.8"])


@pytest.mark.parametrize("typed", [
    "localhost", "LOCALHOST", "LocalHost", "localhost.", "registry.localhost", "A.B.LOCALHOST.",
])
def test_localhost_names_are_loopback_without_asking_dns(typed: str) -> None:
    with pytest.raises(EgressDenied, match="loopback"):
        OPEN.check_url(httpx.URL(f"https://{typed}/v2/"))


@pytest.mark.parametrize("typed", [
    "1.2.3.4.5",  # five parts: no resolver reads this as an address, and it is no name either
    "256.1.1.1",
    "1.2.3.256",
    "0x100000000",
    "4294967296",
    "08.0.0.1",  # not octal
    "0x.1.2.3",
    "1..2",
    "foo.123",  # a numeric last label is an IPv4 attempt, never sent to DNS
])
def test_malformed_numeric_hosts_are_denied_not_resolved(typed: str) -> None:
    never_fetched(f"https://{typed}/v2/")
    with pytest.raises(EgressDenied):
        OPEN.check_addresses(typed, 443, ["8.8.8.8"])


def test_literal_public_spelling_is_allowed() -> None:
    OPEN.check_url(httpx.URL("https://134744072/v2/"))  # 8.8.8.8
    OPEN.check_url(httpx.URL("https://0x8.0x8.0x8.0x8/v2/"))
