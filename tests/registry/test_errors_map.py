"""Registry error answers and transport failures become domain errors with evidence (no I/O)."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from bot.domain.errors import (
    BlobUnknown,
    ConnectionRefused,
    DNSFailure,
    InsecureHTTP,
    ManifestUnknown,
    NameUnknown,
    NetworkTimeout,
    RateLimited,
    RegistryAuthError,
    RegistryDenied,
    RegistryServerError,
    TLSFailure,
)
from bot.registry.errors_map import (
    error_from_exception,
    error_from_response,
    parse_rate_limit,
    redact_url,
    scrub,
)

ENVELOPE = b'{"errors":[{"code":"%s","message":"%s","detail":{"Tag":"x"}}]}'


def _resp(status: int, code: str | None = None, message: str = "m", headers: dict[str, str] | None = None,
          not_found: type = ManifestUnknown):
    body = ENVELOPE % (code.encode(), message.encode()) if code else b""
    return error_from_response(status, headers or {}, body,
                               "https://user:pw@r.example/v2/a/manifests/1?token=abc", not_found=not_found)


def test_envelope_codes_pick_the_error_type() -> None:
    assert isinstance(_resp(404, "MANIFEST_UNKNOWN"), ManifestUnknown)
    assert isinstance(_resp(404, "NAME_UNKNOWN"), NameUnknown)
    assert isinstance(_resp(404, "BLOB_UNKNOWN"), BlobUnknown)
    assert isinstance(_resp(403, "DENIED"), RegistryDenied)
    assert isinstance(_resp(500, "UNKNOWN"), RegistryServerError)
    # a HEAD has no body: the request decides what a bare 404 means
    assert isinstance(_resp(404, not_found=BlobUnknown), BlobUnknown)


def test_evidence_has_code_message_and_a_clean_url() -> None:
    err = _resp(404, "MANIFEST_UNKNOWN", "manifest unknown")
    assert err.evidence.status == 404
    assert err.evidence.error_code == "MANIFEST_UNKNOWN"
    assert "manifest unknown" in (err.evidence.message or "")
    assert err.evidence.url == "https://r.example/v2/a/manifests/1"


def test_401_carries_scope_and_credential_flags() -> None:
    err = error_from_response(401, {}, ENVELOPE % (b"UNAUTHORIZED", b"auth"), "https://r/v2/",
                              not_found=ManifestUnknown, credentials_used=True, insufficient_scope=True)
    assert isinstance(err, RegistryAuthError)
    assert err.insufficient_scope
    assert err.credentials_used
    assert err.code == "UNAUTHORIZED"


def test_429_parses_docker_hub_quota_and_retry_after() -> None:
    headers = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600", "retry-after": "37",
               "docker-ratelimit-source": "203.0.113.7"}
    err = _resp(429, "TOOMANYREQUESTS", "You have reached your pull rate limit", headers)
    assert isinstance(err, RateLimited)
    assert (err.rate_limit.limit, err.rate_limit.remaining, err.rate_limit.window_s) == (100, 0, 21600)
    assert err.rate_limit.retry_after_s == 37.0
    assert err.evidence.headers["ratelimit-remaining"] == "0;w=21600"


def test_rate_limit_absent_or_malformed() -> None:
    assert parse_rate_limit({}) is None
    parsed = parse_rate_limit({"ratelimit-limit": "lots", "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert parsed is not None
    assert parsed.limit is None
    assert parsed.retry_after_s == 0.0


def test_plain_http_to_tls_port_answer() -> None:
    err = error_from_response(400, {}, b"Client sent an HTTP request to an HTTPS server.\n",
                              "http://r:5000/v2/", not_found=ManifestUnknown)
    assert isinstance(err, InsecureHTTP)


def _wrapped(inner: BaseException, outer: type[httpx.HTTPError] = httpx.ConnectError) -> httpx.HTTPError:
    # httpx raises its own exception "from" the socket/ssl one; rebuild that chain without a network.
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer(str(exc)) from exc
    except httpx.HTTPError as final:
        return final


def test_transport_failures_by_cause() -> None:
    url = "https://r.example:5000/v2/x"
    assert isinstance(error_from_exception(_wrapped(socket.gaierror(-2, "Name or service not known")), url),
                      DNSFailure)
    assert isinstance(error_from_exception(_wrapped(ConnectionRefusedError(111, "Connection refused")), url),
                      ConnectionRefused)
    assert isinstance(error_from_exception(httpx.ReadTimeout("read timed out"), url), NetworkTimeout)
    assert isinstance(error_from_exception(TimeoutError(), url), NetworkTimeout)
    wrong = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)")
    assert isinstance(error_from_exception(_wrapped(wrong), url), InsecureHTTP)


@pytest.mark.parametrize(("code", "message", "reason"), [
    (19, "self-signed certificate in certificate chain", "unknown_authority"),
    (20, "unable to get local issuer certificate", "unknown_authority"),
    (10, "certificate has expired", "expired"),
    (62, "Hostname mismatch, certificate is not valid for 'r.example'.", "hostname_mismatch"),
])
def test_tls_reasons(code: int, message: str, reason: str) -> None:
    inner = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            f"{message}")
    inner.verify_code = code
    inner.verify_message = message
    err = error_from_exception(_wrapped(inner), "https://r.example/v2/")
    assert isinstance(err, TLSFailure)
    assert err.reason == reason
    assert "certificate verify failed" in (err.evidence.exception or "")


def test_exception_text_is_scrubbed_of_secrets_and_url_queries() -> None:
    exc = httpx.ConnectError("failed for https://alice:hunter2@r.example/token?secret=abc with hunter2")
    err = error_from_exception(exc, "https://alice:hunter2@r.example/token?secret=abc", secrets=["hunter2"])
    dumped = err.evidence.model_dump_json() + str(err)
    assert "hunter2" not in dumped
    assert "secret=abc" not in dumped
    assert scrub("see http://u:p@h/x?t=1", []) == "see http://h/x"
    assert redact_url("https://[::1]:8443/v2/?a=b") == "https://[::1]:8443/v2/"
