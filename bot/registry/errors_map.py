"""Registry answers and transport failures -> ``bot.domain.errors`` types, each with evidence.

Nothing leaves the adapter as an httpx or ssl exception. Evidence carries URLs without query strings
or userinfo (tokens, signatures, passwords live there) and only headers worth citing.
"""

from __future__ import annotations

import errno
import json
import re
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from bot.domain.errors import (
    BlobUnknown,
    ConnectionRefused,
    DNSFailure,
    ImagecheckError,
    InsecureHTTP,
    ManifestUnknown,
    NameUnknown,
    NetworkTimeout,
    ProxyFailure,
    RateLimited,
    RegistryAuthError,
    RegistryDenied,
    RegistryError,
    RegistryServerError,
    RegistryUnreachable,
    TLSFailure,
)
from bot.domain.models import Evidence, RateLimit
from bot.registry.wire import WireErrorDetail, WireErrorEnvelope

# Headers a finding may cite. Never Authorization, Cookie or Set-Cookie.
CITED_HEADERS = (
    "www-authenticate",
    "docker-content-digest",
    "content-type",
    "content-length",
    "ratelimit-limit",
    "ratelimit-remaining",
    "docker-ratelimit-source",
    "retry-after",
    "date",
    "docker-distribution-api-version",
    "location",
)
MAX_EVIDENCE_TEXT = 500


def redact_url(url: str | httpx.URL) -> str:
    """Scheme, host, port and path only: query strings carry tokens and signatures, userinfo passwords."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def secret_spellings(secret: str) -> list[str]:
    """The ways a server may echo a secret: as sent, form/URL-encoded (the identity-token POST is a
    form) and JSON-escaped. Longest first, so a shorter spelling never leaves part of a longer one."""
    spellings = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    return sorted((s for s in spellings if len(s) >= 4), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove secrets from text we did not write (exception messages can quote a URL or a header)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for spelling in secret_spellings(secret):
                text = text.replace(spelling, "***")
    # any URL-looking text: drop its query and userinfo
    return re.sub(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+", lambda m: redact_url(m.group(0)), text)


_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b([\w.-]{0,40}(?:password|passwd|secret|token|signature|credential|api[_-]?key)[\w.-]{0,40})"
    r"([\"']?\s{0,3}[=:]\s{0,3}[\"']?)([^\s\"',;&]{1,512})")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


def scrub_text(text: str) -> str:
    """Text a registry sent, fit to keep: URLs without userinfo or query, ``password=…``-style values
    and AWS key ids replaced. (Cheap and local: the full triage redactor is not loaded for a check.)"""
    text = scrub(text, ())
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    return _AWS_KEY_ID.sub("[REDACTED]", text)


def _short(text: str) -> str:
    return text if len(text) <= MAX_EVIDENCE_TEXT else text[:MAX_EVIDENCE_TEXT] + "…"


def cited_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """The headers worth citing, with ``secrets`` removed: a realm's ``WWW-Authenticate``
    ``error_description`` or a proxy's header can echo the password or token it was sent."""
    secrets = tuple(secrets)
    out: dict[str, str] = {}
    for name in CITED_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        value = scrub(value, secrets) if secrets else value
        out[name] = redact_url(value) if name == "location" else _short(value)
    return out


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _quota(value: str | None) -> tuple[int | None, int | None]:
    """``"100;w=21600"`` -> ``(100, 21600)``; a bare number has no window."""
    if not value:
        return None, None
    first = value.split(",")[0]
    parts = [p.strip() for p in first.split(";")]
    amount: int | None = None
    window: int | None = None
    try:
        amount = int(parts[0])
    except ValueError:
        return None, None
    for part in parts[1:]:
        key, _, raw = part.partition("=")
        if key.strip().lower() == "w":
            try:
                window = int(raw.strip())
            except ValueError:
                window = None
    return amount, window


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    when = parse_date(text)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """Docker Hub's quota headers and ``Retry-After``; ``None`` when the registry sent none."""
    limit, window = _quota(headers.get("ratelimit-limit"))
    remaining, remaining_window = _quota(headers.get("ratelimit-remaining"))
    retry_after = parse_retry_after(headers.get("retry-after"))
    source = headers.get("docker-ratelimit-source")
    if limit is None and remaining is None and retry_after is None:
        return None
    return RateLimit(limit=limit, remaining=remaining, window_s=window or remaining_window,
                     retry_after_s=retry_after, source=source)


def parse_error_envelope(body: bytes) -> list[WireErrorDetail]:
    if not body:
        return []
    try:
        return WireErrorEnvelope.model_validate_json(body).errors
    except ValidationError:
        return []


_NOT_FOUND_BY_CODE: dict[str, type[RegistryError]] = {
    "MANIFEST_UNKNOWN": ManifestUnknown,
    "NAME_UNKNOWN": NameUnknown,
    "BLOB_UNKNOWN": BlobUnknown,
}
_PLAIN_HTTP_TO_TLS = re.compile(rb"(?i)http request to an https server|plain http request was sent")


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    *,
    not_found: type[RegistryError],
    credentials_used: bool = False,
    insufficient_scope: bool = False,
    secrets: Iterable[str] = (),
) -> ImagecheckError:
    """The domain error for a registry's error answer. ``not_found`` is the error a bare 404 means
    for this request (a HEAD has no body to say which thing was unknown). ``secrets`` are the
    password / identity token the request carried: any answer (a 500, a 429, a proxy's 502 envelope)
    may echo them, and ``scrub_text`` only recognises ``token=…``-shaped text."""
    secrets = tuple(secrets)
    details = parse_error_envelope(body)
    code = details[0].code if details else None
    text = "; ".join(f"{d.code}: {d.message}".strip(": ") for d in details) or None
    if text is None and body and not details:
        # scrub the whole body before cutting it: a secret across the cut would survive in part
        text = scrub(body.decode("utf-8", "replace"), secrets)[:200].strip() or None
    # The registry's own words end up in Slack, Redis and incident timelines: proxies (Nexus, Harbor)
    # quote upstream URLs with passwords and pre-signed queries in them, so scrub before keeping any.
    message = _short(scrub_text(scrub(text, secrets))) if text else None
    # Only the cited headers go on (rate limits are read from them too), each with the secrets removed.
    headers = cited_headers(headers, secrets)
    evidence = Evidence(status=status, error_code=code, message=message, url=redact_url(url), headers=headers)
    codes = {d.code for d in details}

    if status == 400 and _PLAIN_HTTP_TO_TLS.search(body or b""):
        return InsecureHTTP("the registry expects HTTPS but was asked in plain HTTP", evidence=evidence)
    if status == 429 or "TOOMANYREQUESTS" in codes:
        rate = parse_rate_limit(headers) or RateLimit()
        return RateLimited("the registry is rate limiting requests (429 Too Many Requests)",
                           status=status, code=code or "TOOMANYREQUESTS", evidence=evidence,
                           rate_limit=rate)
    if status == 401 or "UNAUTHORIZED" in codes:
        if insufficient_scope:
            message = ("the registry refused access to this repository (insufficient_scope): it is "
                       "private, or it does not exist")
        elif credentials_used:
            message = "the registry rejected the credentials (401 Unauthorized)"
        else:
            message = "the registry requires authentication (401 Unauthorized)"
        return RegistryAuthError(message, status=status, code=code, evidence=evidence,
                                 insufficient_scope=insufficient_scope, credentials_used=credentials_used)
    if status == 403 or "DENIED" in codes:
        return RegistryDenied("the registry denied access (403 Forbidden)", status=status, code=code,
                              evidence=evidence)
    if status == 404:
        cls = next((_NOT_FOUND_BY_CODE[c] for c in codes if c in _NOT_FOUND_BY_CODE), not_found)
        what = {ManifestUnknown: "manifest unknown", NameUnknown: "repository unknown",
                BlobUnknown: "blob unknown"}.get(cls, "not found")
        return cls(f"{what} (404)", status=status, code=code, evidence=evidence)
    if status >= 500:
        return RegistryServerError(f"the registry failed with {status}", status=status, code=code,
                                   evidence=evidence)
    return RegistryServerError(f"unexpected answer {status} from the registry", status=status, code=code,
                               evidence=evidence)


# --- transport failures --------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


_DNS_TEXT = re.compile(r"(?i)name or service not known|nodename nor servname|getaddrinfo failed|"
                       r"temporary failure in name resolution|no address associated|name resolution")
_PLAIN_HTTP_TEXT = re.compile(r"(?i)wrong version number|record layer failure|http request|"
                              r"unknown protocol|packet length too long")
# OpenSSL X509_V_ERR_* codes
_X509_EXPIRED = {9, 10}  # not yet valid, has expired
_X509_UNKNOWN_CA = {2, 18, 19, 20, 21, 27}
_X509_HOSTNAME = {62, 64}


def _tls_reason(exc: BaseException) -> str:
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            code = item.verify_code
            if code in _X509_EXPIRED:
                return "expired"
            if code in _X509_HOSTNAME:
                return "hostname_mismatch"
            if code in _X509_UNKNOWN_CA:
                return "unknown_authority"
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "expired" in text:
        return "expired"
    if "mismatch" in text or "not valid for" in text:
        return "hostname_mismatch"
    if "self-signed" in text or "self signed" in text or "local issuer" in text:
        return "unknown_authority"
    return "other"


def error_from_exception(exc: BaseException, url: str, *, secrets: Iterable[str] = ()) -> ImagecheckError:
    """The domain error for a failure to get any HTTP answer at all."""
    if isinstance(exc, ImagecheckError):
        return exc  # the egress transport's EgressDenied and our own errors pass through
    secrets = tuple(secrets)
    text = scrub("; ".join(dict.fromkeys(f"{type(e).__name__}: {e}" for e in _chain(exc) if str(e))),
                 secrets) or type(exc).__name__
    evidence = Evidence(url=redact_url(url), exception=_short(text))
    host = urlsplit(url).netloc.rpartition("@")[2]
    chain = list(_chain(exc))

    if isinstance(exc, TimeoutError | httpx.TimeoutException) or any(
            isinstance(e, TimeoutError | httpx.TimeoutException) for e in chain):
        return NetworkTimeout(f"no answer from {host} in time", evidence=evidence)
    if isinstance(exc, httpx.ProxyError):
        return ProxyFailure(f"the proxy failed to reach {host}", evidence=evidence)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "certificate verify failed" in text:
        reason = _tls_reason(exc)
        return TLSFailure(f"TLS certificate of {host} not trusted ({reason.replace('_', ' ')})",
                          reason=reason, evidence=evidence)
    if any(isinstance(e, ssl.SSLError) for e in chain) or "[SSL" in text:
        if _PLAIN_HTTP_TEXT.search(text):
            return InsecureHTTP(f"{host} answered HTTPS in plain HTTP", evidence=evidence)
        return TLSFailure(f"TLS handshake with {host} failed", reason="other", evidence=evidence)
    if any(isinstance(e, socket.gaierror) for e in chain) or _DNS_TEXT.search(text):
        return DNSFailure(f"the registry host {host} could not be resolved", evidence=evidence)
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(
            isinstance(e, OSError) and e.errno == errno.ECONNREFUSED for e in chain) or (
            "connection refused" in text.lower() or "connect call failed" in text.lower()):
        return ConnectionRefused(f"{host} refused the connection", evidence=evidence)
    if urlsplit(url).scheme == "http" and isinstance(exc, httpx.RemoteProtocolError) and (
            _TLS_PORT_TEXT.search(text)):
        # A TLS server hangs up on (or answers handshake bytes to) a plain HTTP request. A crashed
        # server looks the same, hence the "probably".
        return InsecureHTTP(f"{host} did not answer plain HTTP; it probably expects HTTPS", evidence=evidence)
    return RegistryUnreachable(f"could not talk to {host}", evidence=evidence)


_TLS_PORT_TEXT = re.compile(r"(?i)without sending a response|illegal|invalid status line")
