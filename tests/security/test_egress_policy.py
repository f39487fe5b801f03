"""Who may be contacted: exact host:port allowances, ports, schemes, settings, and what denials say."""

from __future__ import annotations

import httpx
import pytest

from bot.domain.errors import ConfigError, EgressDenied
from bot.domain.models import Verdict
from bot.registry.egress import EgressPolicy
from bot.settings import RegistrySettings, Settings


def policy(**registries: RegistrySettings) -> EgressPolicy:
    return EgressPolicy.from_settings(Settings(registries=registries))


def url(text: str) -> httpx.URL:
    return httpx.URL(text)


def test_registry_named_with_port_is_allowed_on_loopback_only_on_that_port() -> None:
    p = EgressPolicy(allowed=frozenset({"127.0.0.1:5001"}), insecure=frozenset({"127.0.0.1:5001"}))
    p.check_url(url("http://127.0.0.1:5001/v2/"))
    p.check_url(url("https://127.0.0.1:5001/v2/"))
    for other in ("http://127.0.0.1:5002/v2/", "https://127.0.0.1/v2/", "http://127.0.0.1/v2/"):
        with pytest.raises(EgressDenied):
            p.check_url(url(other))


def test_named_registry_allows_private_addresses_only_for_its_exact_host_and_port() -> None:
    p = EgressPolicy(allowed=frozenset({"registry.corp.example:5000"}))
    p.check_addresses("registry.corp.example", 5000, ["10.1.2.3"])
    with pytest.raises(EgressDenied):
        p.check_addresses("registry.corp.example", 5001, ["10.1.2.3"])
    with pytest.raises(EgressDenied):
        p.check_addresses("other.corp.example", 5000, ["10.1.2.3"])
    with pytest.raises(EgressDenied):  # no suffix matching
        p.check_addresses("evil.registry.corp.example", 5000, ["10.1.2.3"])
    with pytest.raises(EgressDenied):
        p.check_addresses("registry.corp.example.evil.example", 5000, ["10.1.2.3"])


def test_bare_host_entry_means_the_scheme_default_port_only() -> None:
    p = EgressPolicy(allowed=frozenset({"registry.corp.example"}))
    p.check_url(url("https://registry.corp.example/v2/"))
    p.check_addresses("registry.corp.example", 443, ["10.1.2.3"])
    with pytest.raises(EgressDenied):
        p.check_url(url("https://registry.corp.example:5000/v2/"))
    with pytest.raises(EgressDenied):  # https on port 80 is not the https default
        p.check_url(url("https://registry.corp.example:80/v2/"))


def test_allow_private_hosts_allows_private_addresses_by_host_and_port() -> None:
    p = EgressPolicy(allow_private_hosts=frozenset({"mirror.internal:8443"}))
    p.check_url(url("https://mirror.internal:8443/v2/"))
    p.check_addresses("mirror.internal", 8443, ["192.168.10.20", "fd00::20"])
    with pytest.raises(EgressDenied):
        p.check_addresses("mirror.internal", 443, ["192.168.10.20"])


def test_entries_compare_in_canonical_spelling() -> None:
    p = EgressPolicy(allowed=frozenset({"LOCALHOST.:5000", "[::1]:5001", "127.1:5002"}))
    p.check_url(url("https://localhost:5000/v2/"))
    p.check_url(url("https://[::1]:5001/v2/"))
    p.check_url(url("https://127.0.0.1:5002/v2/"))
    p.check_url(url("https://2130706433:5002/v2/"))  # same address, same port: same registry
    p.check_url(url("https://[::ffff:127.0.0.1]:5002/v2/"))
    assert "localhost:5000" in p.allowed


def test_hard_denied_addresses_stay_denied_even_when_named() -> None:
    p = EgressPolicy(allowed=frozenset({"169.254.169.254", "metadata.example", "0.0.0.0:5000"}))
    with pytest.raises(EgressDenied, match="metadata"):
        p.check_url(url("https://169.254.169.254/latest/meta-data/"))
    with pytest.raises(EgressDenied):
        p.check_addresses("metadata.example", 443, ["169.254.169.254"])
    with pytest.raises(EgressDenied):
        p.check_addresses("metadata.example", 443, ["fd00:ec2::254"])
    with pytest.raises(EgressDenied):
        p.check_url(url("https://0.0.0.0:5000/v2/"))


def test_one_private_address_among_public_ones_denies_the_name() -> None:
    p = EgressPolicy()
    p.check_addresses("registry.example.com", 443, ["8.8.8.8", "2606:4700::1"])
    with pytest.raises(EgressDenied) as caught:
        p.check_addresses("registry.example.com", 443, ["8.8.8.8", "10.0.0.5", "1.1.1.1"])
    assert "10.0.0.5" not in str(caught.value)
    assert "8.8.8.8" not in str(caught.value)


def test_denied_message_never_names_the_resolved_address() -> None:
    p = EgressPolicy()
    for answer in ("169.254.169.254", "127.0.0.1", "::ffff:10.9.8.7", "fd00:ec2::254", "not-an-ip"):
        with pytest.raises(EgressDenied) as caught:
            p.check_addresses("innocent.example.com", 443, [answer])
        message = str(caught.value)
        assert answer not in message
        assert "innocent.example.com:443" in message
        assert caught.value.verdict is Verdict.blocked_by_policy


def test_empty_or_unusable_answers_are_denied() -> None:
    p = EgressPolicy()
    with pytest.raises(EgressDenied):
        p.check_addresses("registry.example.com", 443, [])
    with pytest.raises(EgressDenied):
        p.check_addresses("registry.example.com", 443, ["8.8.8.8", "999.1.1.1"])


@pytest.mark.parametrize("text", [
    "ftp://registry.example.com/", "file:///etc/passwd", "gopher://registry.example.com/",
    "unix:///var/run/docker.sock",
])
def test_only_http_schemes(text: str) -> None:
    with pytest.raises(EgressDenied):
        EgressPolicy().check_url(url(text))


def test_plain_http_only_for_registries_marked_insecure() -> None:
    with pytest.raises(EgressDenied, match="insecure"):
        EgressPolicy().check_url(url("http://registry.example.com/v2/"))
    p = policy(**{"registry.example.com": RegistrySettings(insecure=True)})
    p.check_url(url("http://registry.example.com/v2/"))
    with pytest.raises(EgressDenied):  # insecure does not extend to other hosts
        p.check_url(url("http://other.example.com/v2/"))


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_ports_outside_range_are_denied(port: int) -> None:
    p = EgressPolicy(allowed=frozenset({"registry.example.com"}))
    with pytest.raises(EgressDenied):
        p.check_url(url(f"https://registry.example.com:{port}/v2/"))


def test_non_default_port_needs_an_entry() -> None:
    with pytest.raises(EgressDenied, match="port"):
        EgressPolicy().check_url(url("https://registry.example.com:8443/v2/"))
    with pytest.raises(EgressDenied):  # any port of a public host would make the bot a port scanner
        EgressPolicy().check_url(url("https://registry.example.com:22/"))
    EgressPolicy().check_url(url("https://registry.example.com:443/v2/"))


def test_from_settings_allows_every_host_the_settings_name() -> None:
    p = policy(**{
        "127.0.0.1:5001": RegistrySettings(insecure=True),
        "registry.corp.example": RegistrySettings(mirrors=["mirror.corp.example:5000"],
                                                  token_realms=["https://auth.corp.example:8443/token",
                                                                "auth2.corp.example:9443/token"]),
        "mirror.other.example": RegistrySettings(upstream="upstream.corp.example:6000"),
    })
    p.check_url(url("http://127.0.0.1:5001/v2/"))
    p.check_addresses("registry.corp.example", 443, ["10.0.0.1"])
    p.check_addresses("mirror.corp.example", 5000, ["10.0.0.2"])
    p.check_addresses("auth.corp.example", 8443, ["10.0.0.3"])
    p.check_addresses("auth2.corp.example", 9443, ["10.0.0.3"])
    p.check_addresses("upstream.corp.example", 6000, ["10.0.0.4"])
    with pytest.raises(EgressDenied):  # only the insecure registry speaks http
        p.check_url(url("http://registry.corp.example/v2/"))


def test_from_settings_reads_allow_private_hosts() -> None:
    p = EgressPolicy.from_settings(Settings(allow_private_hosts=["harbor.lan:8080"]))
    p.check_addresses("harbor.lan", 8080, ["192.168.0.10"])
    with pytest.raises(EgressDenied):
        p.check_addresses("harbor.lan", 8081, ["192.168.0.10"])


@pytest.mark.parametrize("entry", ["", "host:notaport", "host:70000", "1.2.3.4.5"])
def test_bad_settings_entry_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError):
        EgressPolicy(allowed=frozenset({entry}))


def test_unknown_localhost_spellings_need_the_entry() -> None:
    p = EgressPolicy(allowed=frozenset({"localhost:5000"}))
    p.check_url(url("https://localhost:5000/v2/"))
    p.check_url(url("https://LOCALHOST.:5000/v2/"))
    with pytest.raises(EgressDenied):  # a different name under .localhost is a different entry
        p.check_url(url("https://registry.localhost:5000/v2/"))
