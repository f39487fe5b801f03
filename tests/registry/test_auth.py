"""WWW-Authenticate parsing, where credentials may go, and the token cache (pure, no I/O)."""

from __future__ import annotations

import pytest

from bot.domain.errors import EgressDenied, RegistryAuthError
from bot.registry.auth import (
    Credentials,
    TokenCache,
    check_realm,
    clamp_ttl,
    parse_token_body,
    parse_www_authenticate,
    pick_challenge,
    realm_host,
    realm_may_receive_credentials,
    token_url,
)
from bot.registry.config import RegistryEndpoint


def test_bearer_challenge_with_quoted_commas_and_several_params() -> None:
    header = ('Bearer realm="https://auth.example.com/token",service="registry.example.com",'
              'scope="repository:team/app:pull,push",error="insufficient_scope"')
    [ch] = parse_www_authenticate(header)
    assert ch.scheme == "bearer"
    assert ch.realm == "https://auth.example.com/token"
    assert ch.service == "registry.example.com"
    assert ch.scope == "repository:team/app:pull,push"
    assert ch.error == "insufficient_scope"


def test_two_challenges_in_one_header_and_mixed_case_and_spaces() -> None:
    header = 'Basic realm="Registry Realm" , BEARER Realm = "https://a/t?x=1", service=svc'
    challenges = parse_www_authenticate(header)
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "Registry Realm"
    assert challenges[1].realm == "https://a/t?x=1"
    assert challenges[1].service == "svc"
    assert pick_challenge(challenges) is challenges[1]  # Bearer preferred, as Docker does


def test_escaped_quote_inside_value_and_separate_header_values() -> None:
    challenges = parse_www_authenticate(['Basic realm="say \\"hi\\", friend"', "Negotiate"])
    assert challenges[0].realm == 'say "hi", friend'
    assert challenges[1].scheme == "negotiate"
    assert pick_challenge([challenges[1]]) is None


@pytest.mark.parametrize("garbage", ["", "   ", ",,,", '"unterminated', "=x", 'Bearer realm="open'])
def test_garbage_never_raises(garbage: str) -> None:
    parse_www_authenticate(garbage)


def test_credentials_go_only_to_the_registry_host_or_known_pairs() -> None:
    own = RegistryEndpoint(host="reg.example.com:5000")
    assert realm_may_receive_credentials(own, "https://reg.example.com:8443/token")  # any port
    assert not realm_may_receive_credentials(own, "https://reg.example.com.evil.test/token")
    assert not realm_may_receive_credentials(own, "https://auth.example.com/token")
    listed = RegistryEndpoint(host="reg.example.com", token_realms=("auth.example.com",))
    assert realm_may_receive_credentials(listed, "https://auth.example.com/token")
    hub = RegistryEndpoint(host="docker.io")
    assert realm_may_receive_credentials(hub, "https://auth.docker.io/token")
    assert not realm_may_receive_credentials(hub, "https://auth.docker.io.evil.test/token")


def test_realm_must_be_https_unless_insecure() -> None:
    check_realm(RegistryEndpoint(host="r.example"), "https://r.example/token")
    with pytest.raises(EgressDenied):
        check_realm(RegistryEndpoint(host="r.example"), "http://r.example/token")
    with pytest.raises(EgressDenied):
        check_realm(RegistryEndpoint(host="r.example"), "file:///etc/passwd")
    check_realm(RegistryEndpoint(host="127.0.0.1:5000", insecure=True), "http://127.0.0.1:5001/token")


def test_token_url_keeps_realm_query_and_encodes_scope() -> None:
    [ch] = parse_www_authenticate('Bearer realm="https://a.example/token?x=1",service="reg svc"')
    assert token_url(ch, "repository:a/b:pull") == \
        "https://a.example/token?x=1&service=reg+svc&scope=repository%3Aa%2Fb%3Apull"


def test_token_body_variants_and_ttl_clamp() -> None:
    assert parse_token_body(b'{"token":"t1","expires_in":300}', url="https://a/t") == ("t1", 300.0)
    assert parse_token_body(b'{"access_token":"t2"}', url="https://a/t") == ("t2", 60.0)
    assert clamp_ttl(1) == 60.0
    assert clamp_ttl(10**9) == 3600.0
    with pytest.raises(RegistryAuthError):
        parse_token_body(b'{"expires_in":300}', url="https://a/t")
    with pytest.raises(RegistryAuthError) as info:
        parse_token_body(b"<html>secret-ish</html>", url="https://a/t?account=bob&password=hunter2")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in info.value.evidence.model_dump_json()


def test_token_cache_expires_shortly_before_ttl_and_separates_identities() -> None:
    now = [1000.0]
    cache = TokenCache(monotonic=lambda: now[0])
    anon = TokenCache.key("r", "repository:a:pull", None)
    alice = TokenCache.key("r", "repository:a:pull", Credentials("alice", "pw"))
    cache.put(anon, "anon-token", 60.0)
    assert cache.get(alice) is None
    cache.put(alice, "alice-token", 300.0)
    assert cache.get(anon) == "anon-token"
    now[0] += 49.0
    assert cache.get(anon) == "anon-token"
    now[0] += 2.0  # 51 s: inside the safety margin of a 60 s token
    assert cache.get(anon) is None
    assert cache.get(alice) == "alice-token"


def test_credentials_repr_and_identity_hide_the_password() -> None:
    creds = Credentials("alice", "s3cret-pass")
    assert "s3cret-pass" not in repr(creds)
    assert "s3cret-pass" not in creds.identity()
    assert creds.identity() != Credentials("alice", "other").identity()


def test_token_realms_with_a_port_allow_only_that_port_and_the_own_host_any_port() -> None:
    own = RegistryEndpoint("reg.example.com:5000")
    # the registry's own host name counts on any port (issue 6); a look-alike name does not
    assert realm_may_receive_credentials(own, "https://reg.example.com/token")
    assert realm_may_receive_credentials(own, "https://reg.example.com:9443/token")
    assert not realm_may_receive_credentials(own, "https://reg.example.co/token")
    pinned = RegistryEndpoint("registry.gitlab.example", token_realms=("gitlab.example:8443",))
    assert realm_may_receive_credentials(pinned, "https://gitlab.example:8443/jwt/auth")
    assert not realm_may_receive_credentials(pinned, "https://gitlab.example:9443/jwt/auth")
    assert not realm_may_receive_credentials(pinned, "https://gitlab.example/jwt/auth")
    any_port = RegistryEndpoint("registry.gitlab.example", token_realms=("gitlab.example",))
    assert realm_may_receive_credentials(any_port, "https://gitlab.example/jwt/auth")
    assert realm_may_receive_credentials(any_port, "https://gitlab.example:9443/jwt/auth")


def test_realm_host_is_what_token_realms_would_list() -> None:
    assert realm_host("https://gitlab.example/jwt/auth?x=1") == "gitlab.example"
    assert realm_host("http://user:pw@Localhost:8080/token") == "localhost:8080"
