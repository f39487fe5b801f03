"""Property tests: on arbitrary input the policy answers with EgressDenied or lets through, nothing
else; and what it lets through is never an address Python itself knows to be non-public."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable

import httpx
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ConfigError, EgressDenied
from bot.registry.egress import EgressPolicy, canonical_entry, canonical_host, classify

POLICIES = [
    EgressPolicy(),
    EgressPolicy(allowed=frozenset({"127.0.0.1:5000", "registry.corp.example", "[::1]:5001"}),
                 allow_private_hosts=frozenset({"localhost:8080"}),
                 insecure=frozenset({"127.0.0.1:5000"})),
]

NUMERIC_PART = st.from_regex(r"\A(0[xX][0-9a-fA-F]{0,10}|[0-9]{1,13})\Z")
NUMERIC_HOSTS = st.lists(NUMERIC_PART, min_size=1, max_size=6).map(".".join)
ADDRESS_TEXT = st.ip_addresses().map(str)
HOSTS = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"\A[a-zA-Z0-9.\-_\[\]:%]{0,70}\Z"),
    NUMERIC_HOSTS,
    NUMERIC_HOSTS.map(lambda h: h + "."),
    ADDRESS_TEXT,
    ADDRESS_TEXT.map(lambda a: f"[{a}]"),
    st.sampled_from(["localhost", "LOCALHOST.", "x.localhost", "[::ffff:7f00:1]", "0x7f.1", "2130706433"]),
)


def refused(check: Callable[[], None]) -> EgressDenied | None:
    try:
        check()
    except EgressDenied as exc:
        return exc
    return None


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def spelled_address(host: str) -> str | None:
    """The address ``host`` itself spells (the refusal may repeat the user's own input)."""
    try:
        return canonical_host(host)
    except EgressDenied:
        return None


def build_url(scheme: str, host: str, port: int | None) -> httpx.URL | None:
    try:
        return httpx.URL(scheme=scheme, host=host, port=port, path="/v2/")
    except Exception:  # httpx refusing to build the URL at all is also "no request"
        return None


@settings(max_examples=200, deadline=None)
@given(scheme=st.sampled_from(["https", "http", "ftp", "HTTPS", "file"]), host=HOSTS,
       port=st.one_of(st.none(), st.integers(min_value=-5, max_value=70000)),
       which=st.sampled_from(range(len(POLICIES))))
@example(scheme="https", host="0x7f.0.0.1", port=None, which=0)
@example(scheme="https", host="[::ffff:169.254.169.254]", port=None, which=1)
def test_check_url_raises_only_egress_denied(scheme: str, host: str, port: int | None, which: int) -> None:
    url = build_url(scheme, host, port)
    assume(url is not None)
    assert url is not None
    refused(lambda: POLICIES[which].check_url(url))  # anything but EgressDenied propagates and fails


@settings(max_examples=200, deadline=None)
@given(host=HOSTS, port=st.integers(min_value=-5, max_value=70000),
       answers=st.lists(st.one_of(ADDRESS_TEXT, st.text(max_size=40), NUMERIC_HOSTS), max_size=5),
       which=st.sampled_from(range(len(POLICIES))))
def test_check_addresses_raises_only_egress_denied(host: str, port: int, answers: list[str],
                                                    which: int) -> None:
    refusal = refused(lambda: POLICIES[which].check_addresses(host, port, answers))
    if refusal is None:
        return
    spelled = spelled_address(host)
    for answer in answers:  # no resolved address ever appears in the refusal
        if answer.strip() and answer not in host and is_address(answer) and answer != spelled:
            assert answer not in str(refusal)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(HOSTS, st.text(max_size=60)))
def test_settings_entries_parse_or_raise_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):  # anything else propagates and fails the test
        canonical_entry(text)


@settings(max_examples=300, deadline=None)
@given(address=st.ip_addresses())
def test_nothing_python_knows_as_non_public_gets_through(address: ipaddress.IPv4Address
                                                         | ipaddress.IPv6Address) -> None:
    allowed = classify(address) is None
    if isinstance(address, ipaddress.IPv4Address):
        if not address.is_global or address.is_multicast:
            assert not allowed
        return
    embedded = address.ipv4_mapped or address.sixtofour
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if embedded is not None:
        assert allowed == (classify(embedded) is None)
        return
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_unspecified or address.is_site_local or address.is_reserved):
        assert not allowed
    if allowed:
        assert address in ipaddress.IPv6Network("2000::/3")


@settings(max_examples=200, deadline=None)
@given(address=st.ip_addresses())
def test_policy_agrees_with_classification(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    refusal = refused(lambda: EgressPolicy().check_addresses("registry.example.com", 443, [str(address)]))
    assert (refusal is not None) == (classify(address) is not None)
