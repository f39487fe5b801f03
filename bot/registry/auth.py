"""Registry authentication as Docker does it: challenges, Basic, and Bearer tokens from a realm.

The pieces here do no I/O: ``client.py`` sends the token request through the same counted, capped and
policy-checked path as every other request, and hands the answer back to ``TokenCache``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import ValidationError

from bot.domain.errors import EgressDenied, RegistryAuthError, RegistryServerError
from bot.domain.models import Evidence
from bot.registry.config import DOCKER_HUB_API_HOST, RegistryEndpoint
from bot.registry.errors_map import redact_url
from bot.registry.wire import WireToken

MIN_TOKEN_TTL_S = 60.0
MAX_TOKEN_TTL_S = 3600.0
# Stop using a token this long before it expires, so it cannot expire in flight.
TOKEN_EXPIRY_MARGIN_S = 10.0
SWEEP_AT = 512  # cached tokens before expired ones are swept out
MAX_REGISTRIES_REMEMBERED = 1024  # per-registry facts kept (challenges); the least recently used go first

V = TypeVar("V")
# Hosts whose realm is known to belong to the registry although the host differs.
KNOWN_REALM_PAIRS = {DOCKER_HUB_API_HOST: ("auth.docker.io",)}
# What docker's credential helpers answer as Username when the Secret is an identity token.
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - a marker, not a secret
# OAuth2 requires a client_id; distribution's spec asks for "a meaningful value" for auditing.
OAUTH_CLIENT_ID = "imagecheck"


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer" | "basic" | anything else the server said
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


@dataclass(frozen=True)
class Credentials:
    """A login for one registry: a username and password, or an identity token.

    An identity token (``identitytoken`` in Docker's ``config.json``, or a helper's ``<token>`` user:
    what ``az acr login`` and other OAuth logins leave behind) is an OAuth2 refresh token. It is only
    ever exchanged for an access token at the registry's token realm (a form POST, distribution's
    ``spec/auth/oauth.md``); it is never sent as a Basic password, neither to the registry nor to the
    realm, because the spec gives it to "the authorization server which issues bearer tokens" only.
    """

    username: str
    password: str = field(repr=False)
    source: str = "settings"  # settings | docker-config | helper:<name>; never the secret itself
    identity_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_identity_token(cls, token: str, *, username: str = "", source: str) -> Credentials:
        """``username`` is informational (``az acr login`` stores the all-zero GUID); only the token
        authenticates."""
        return cls(username, "", source=source, identity_token=token)

    @property
    def uses_identity_token(self) -> bool:
        return bool(self.identity_token)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this login carries, for scrubbing text we did not write: also the Basic
        header's base64, which a server echoing our request headers would quote."""
        basic = self.basic_header() if self.password else None
        return tuple(s for s in (self.password, self.identity_token, basic and basic[len("Basic "):]) if s)

    def identity(self) -> str:
        """A stable, non-secret key for caches: who, not with what password (but a changed password
        or a new identity token must not reuse a token obtained with the old one)."""
        if self.identity_token:
            digest = hashlib.sha256(f"identitytoken\0{self.identity_token}".encode()).hexdigest()[:16]
            return f"{self.username or IDENTITY_TOKEN_USER}#{digest}"
        digest = hashlib.sha256(f"{self.username}\0{self.password}".encode()).hexdigest()[:16]
        return f"{self.username}#{digest}"

    def basic_header(self) -> str | None:
        """``None`` for an identity token: it is not a password (see the class docstring)."""
        if self.identity_token:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


# --- WWW-Authenticate ---------------------------------------------------------------------------


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _read_token(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in " \t,=\"":
        i += 1
    return text[start:i], i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    # text[i] is the opening quote; backslash escapes the next character (RFC 9110 quoted-pair).
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    return "".join(out), i  # unterminated: take what there is


def parse_www_authenticate(values: str | Iterable[str]) -> list[Challenge]:
    """Every challenge in one or more ``WWW-Authenticate`` values, in order.

    Handles quoted values containing commas and ``=``, several challenges in one header, token68
    forms, and stray whitespace or empty list elements. Parameter names are lowercased.
    """
    texts = [values] if isinstance(values, str) else list(values)
    challenges: list[Challenge] = []
    for text in texts:
        i = 0
        scheme: str | None = None
        params: dict[str, str] = {}
        while i < len(text):
            i = _skip_space(text, i)
            if i < len(text) and text[i] == ",":
                i += 1
                continue
            word, j = _read_token(text, i)
            if not word:
                i = j + 1  # a stray quote or '=': skip it
                continue
            k = _skip_space(text, j)
            if k < len(text) and text[k] == "=" and scheme is not None:
                k = _skip_space(text, k + 1)
                if k < len(text) and text[k] == '"':
                    value, i = _read_quoted(text, k)
                else:
                    value, i = _read_token(text, k)
                    # token68 may end in '=' padding
                    while i < len(text) and text[i] == "=":
                        value += "="
                        i += 1
                params[word.lower()] = value
                continue
            # a bare word starts a new challenge
            if scheme is not None:
                challenges.append(Challenge(scheme.lower(), params))
            scheme, params, i = word, {}, j
        if scheme is not None:
            challenges.append(Challenge(scheme.lower(), params))
    return challenges


def pick_challenge(challenges: list[Challenge]) -> Challenge | None:
    """Bearer if offered (what Docker prefers), else Basic, else nothing we can answer."""
    for wanted in ("bearer", "basic"):
        for ch in challenges:
            if ch.scheme == wanted:
                return ch
    return None


# --- where credentials may go --------------------------------------------------------------------


def _hostname(host_or_url: str) -> str:
    text = host_or_url if "://" in host_or_url else f"//{host_or_url}"
    return (urlsplit(text).hostname or "").lower()


def _hostport(host_or_url: str) -> str:
    text = host_or_url if "://" in host_or_url else f"//{host_or_url}"
    return urlsplit(text).netloc.rpartition("@")[2].lower()


def realm_host(realm: str) -> str:
    """The realm's host as ``token_realms:`` would list it (``host`` or ``host:port`` as written)."""
    return _hostport(realm)


def realm_may_receive_credentials(endpoint: RegistryEndpoint, realm: str) -> bool:
    """Docker sends registry credentials to any realm; we only send them where they belong.

    They belong to: the registry's own host name on any port (a realm on ``registry.example:5001``
    serves ``registry.example``), a known pairing (Docker Hub's ``auth.docker.io``), or a host listed
    under the endpoint's ``token_realms`` (``host`` allows any port, ``host:port`` only that port).
    """
    realm_host = _hostname(realm)
    if not realm_host:
        return False
    registry_hosts = {_hostname(endpoint.host), _hostname(endpoint.api_host)}
    if realm_host in registry_hosts:
        return True
    if realm_host in KNOWN_REALM_PAIRS.get(_hostname(endpoint.api_host), ()):
        return True
    allowed = {r.lower() for r in endpoint.token_realms}
    return realm_host in allowed or _hostport(realm) in allowed


def check_realm(endpoint: RegistryEndpoint, realm: str) -> None:
    """A realm must be an absolute https URL (http only for a registry configured insecure).

    A realm that is no URL at all (a port past 65535, a broken host) is the registry's own failure,
    not something imagecheck's policy refused: saying "imagecheck may not contact the registry" would
    send on-call after our settings while the registry's auth configuration is what is broken.
    A host that is not valid IDNA (``xn--registry.example``) is such a broken URL too: httpx decodes
    the host only when it is read, which would otherwise first happen while building the request."""
    try:
        parts = urlsplit(realm)
        parts.port  # noqa: B018  # urlsplit checks the port only when it is read
        httpx.URL(realm).host  # noqa: B018  # decodes punycode labels: idna.IDNAError is a UnicodeError
    except (ValueError, httpx.InvalidURL):  # ValueError includes UnicodeError
        raise RegistryServerError(
            "the registry's token realm is not a valid URL (its auth challenge is misconfigured)",
            evidence=Evidence(message="invalid token realm in WWW-Authenticate", url=redact_url(realm))) from None
    if (parts.scheme == "https" or (parts.scheme == "http" and endpoint.insecure)) and parts.hostname:
        return
    raise EgressDenied(
        "the registry's token realm is not an allowed https URL",
        evidence=Evidence(message="token realm refused", url=redact_url(realm)))


def token_url(challenge: Challenge, scope: str) -> str:
    realm = challenge.realm or ""
    query: list[tuple[str, str]] = []
    if challenge.service:
        query.append(("service", challenge.service))
    if scope:
        query.append(("scope", scope))
    if not query:
        return realm
    return realm + ("&" if "?" in realm else "?") + urlencode(query)


def repository_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


# --- OAuth2 refresh-token requests (identity tokens) ---------------------------------------------

# A realm that answers the POST with one of these does not implement distribution's OAuth2 endpoint
# (the spec: "If the request to the endpoint returns 404 using the HTTP POST method ..."; some servers
# say 405 Method Not Allowed). Its GET endpoint has no field for a refresh token, so an identity token
# cannot be used there at all: docker gives up too (containerd's GET retry sends the token as a Basic
# password, which no spec defines; we don't).
OAUTH_UNSUPPORTED_STATUSES = frozenset({404, 405})
# RFC 6749 section 5.2: the server speaks OAuth2 but not this grant type.
OAUTH_UNSUPPORTED_ERRORS = frozenset({"unsupported_grant_type"})
_OAUTH_ERROR_CODE = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$")  # RFC 6749 A.7, capped


def oauth_refresh_form(challenge: Challenge, scope: str, identity_token: str) -> bytes:
    """The form body that trades an identity token for an access token (``grant_type=refresh_token``,
    as docker, containerd and containers/image send it). Goes in a POST body, never in a URL."""
    form = [("grant_type", "refresh_token"), ("refresh_token", identity_token),
            ("client_id", OAUTH_CLIENT_ID)]
    if challenge.service:
        form.append(("service", challenge.service))
    if scope:
        form.append(("scope", scope))
    return urlencode(form).encode("ascii")


@dataclass(frozen=True)
class OAuthError:
    """What a refused OAuth2 token request said (RFC 6749 section 5.2), fit to keep as evidence."""

    code: str | None  # invalid_grant, unsupported_grant_type, ...: a registered short token
    description: str | None  # the server's words; the caller scrubs them before keeping them


def parse_oauth_error(body: bytes) -> OAuthError:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return OAuthError(None, None)
    if not isinstance(data, dict):
        return OAuthError(None, None)
    code, text = data.get("error"), data.get("error_description") or data.get("details")
    return OAuthError(code if isinstance(code, str) and _OAUTH_ERROR_CODE.match(code) else None,
                      text[:300] if isinstance(text, str) and text else None)


def oauth_unsupported(status: int, error: OAuthError) -> bool:
    """The realm does not do refresh-token grants (as opposed to refusing this token)."""
    return status in OAUTH_UNSUPPORTED_STATUSES or error.code in OAUTH_UNSUPPORTED_ERRORS


# --- tokens --------------------------------------------------------------------------------------


def clamp_ttl(expires_in: float | None) -> float:
    if expires_in is None:
        return MIN_TOKEN_TTL_S
    return max(MIN_TOKEN_TTL_S, min(MAX_TOKEN_TTL_S, float(expires_in)))


def parse_token_body(body: bytes, *, url: str) -> tuple[str, float]:
    """``(token, ttl_s)`` from a realm's JSON answer; ``token`` or ``access_token`` (OAuth2 style)."""
    try:
        parsed = WireToken.model_validate_json(body)
    except ValidationError as exc:
        raise RegistryAuthError(
            "the token server answered something that is not a token",
            evidence=Evidence(message="invalid token response", url=redact_url(url),
                              exception=type(exc).__name__)) from None
    token = parsed.bearer()
    if not token:
        raise RegistryAuthError(
            "the token server answered without a token",
            evidence=Evidence(message="token response without token", url=redact_url(url)))
    return token, clamp_ttl(parsed.expires_in)


TokenKey = tuple[str, str, str]  # (registry, scope, identity or "anonymous")


class RememberedRegistries(OrderedDict[str, V]):
    """Something learned per registry (its auth challenge, that it needs none), for the
    ``MAX_REGISTRIES_REMEMBERED`` registries most recently learned about. Users can type any public
    host, so a long-running bot must not keep an entry for every host it ever saw; forgetting one
    costs one extra request."""

    def __setitem__(self, registry: str, value: V) -> None:
        super().__setitem__(registry, value)
        self.move_to_end(registry)
        while len(self) > MAX_REGISTRIES_REMEMBERED:
            self.popitem(last=False)


class TokenCache:
    """Bearer tokens per registry + scope + identity, used until shortly before they expire.

    Shared by every session of one client, so a repeat check in the same process makes no token
    request. Anonymous and credentialed tokens never share an entry.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self.challenges = RememberedRegistries[Challenge]()  # last challenge per registry

    @staticmethod
    def key(registry: str, scope: str, credentials: Credentials | None) -> TokenKey:
        return (registry, scope, credentials.identity() if credentials else "anonymous")

    def get(self, key: TokenKey) -> str | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        token, usable_until = entry
        if self._monotonic() >= usable_until:
            del self._tokens[key]
            return None
        return token

    def put(self, key: TokenKey, token: str, ttl_s: float) -> None:
        now = self._monotonic()
        if len(self._tokens) >= SWEEP_AT:  # a long-running bot sees many repositories
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        margin = min(TOKEN_EXPIRY_MARGIN_S, ttl_s / 2)
        self._tokens[key] = (token, now + ttl_s - margin)

    def drop(self, key: TokenKey, *, only: str | None = None) -> None:
        """Forget a token; with ``only``, just if it is still that token (not a newer one)."""
        entry = self._tokens.get(key)
        if entry is not None and (only is None or entry[0] == only):
            del self._tokens[key]

    def __len__(self) -> int:
        return len(self._tokens)
