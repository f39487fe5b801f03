"""The OCI distribution client: one connection pool and token cache, one session per diagnosis.

``RegistryClient`` owns the ``httpx.AsyncClient`` (whose transport enforces the egress policy), the
token cache and the credential store. ``RegistrySession`` implements ``bot.domain.ports.RegistryPort``
and counts every HTTP request it makes (token requests and redirect hops included).

Every request goes through ``RegistrySession._exchange``: redirects followed by hand, bodies read under
a decoded-size cap, an overall deadline, per-registry concurrency, metrics. Auth is layered on top in
``_request``: a cached challenge lets the first request carry a token; otherwise the 401 of the real
request supplies the challenge (no separate ``/v2/`` ping).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.cookiejar
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypeVar

import httpx
from pydantic import ValidationError

from bot import metrics
from bot.domain.errors import (
    BlobUnknown,
    DigestMismatch,
    DNSFailure,
    EgressDenied,
    HopToRestrictedRegistry,
    ImagecheckError,
    InvalidReference,
    ManifestInvalid,
    ManifestUnknown,
    NameUnknown,
    RegistryAuthError,
    RegistryError,
    RegistryServerError,
)
from bot.domain.models import (
    BlobHead,
    Descriptor,
    Evidence,
    ImageConfig,
    IndexEntry,
    Manifest,
    ManifestHead,
    ManifestKind,
    Platform,
    ResponseMeta,
    TagList,
)
from bot.registry import wire
from bot.registry.auth import (
    Challenge,
    Credentials,
    RememberedRegistries,
    TokenCache,
    check_realm,
    oauth_refresh_form,
    oauth_unsupported,
    parse_oauth_error,
    parse_token_body,
    parse_www_authenticate,
    pick_challenge,
    realm_host,
    realm_may_receive_credentials,
    repository_scope,
    token_url,
)
from bot.registry.body import ACCEPT_ENCODING, read_capped
from bot.registry.config import RegistryClientConfig, RegistryEndpoint, normalize_registry
from bot.registry.credentials import CredentialStore
from bot.registry.errors_map import (
    cited_headers,
    error_from_exception,
    error_from_response,
    parse_date,
    parse_rate_limit,
    redact_url,
    scrub,
    scrub_text,
)
from bot.registry.metric_labels import RegistryLabels

if TYPE_CHECKING:
    from bot.registry.egress import Resolver

log = logging.getLogger(__name__)

USER_AGENT = "imagecheck/0.1 (+registry diagnosis)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# distribution's grammar (reference.go): path components and tags; digests as algorithm:hex
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_LINK_NEXT = re.compile(r"<([^>]*)>\s*;[^,]*?\brel\s*=\s*\"?next\"?", re.IGNORECASE)


@dataclass
class _Raw:
    """One HTTP answer after redirects, body already read under its cap."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str  # the final URL, not redacted: never put it in evidence without redact_url


@dataclass
class _AuthState:
    header: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)  # the bearer token sent, if any
    scheme: Literal["bearer", "basic"] | None = None
    realm: str | None = None
    authenticated: bool = False  # credentials (not just an anonymous token) were used
    # the token realm's host, when credentials exist but that realm may not receive them
    credentials_withheld_for_realm: str | None = None
    token_from_cache: bool = False
    token_key: tuple[str, str, str] | None = None


@dataclass
class _Answer:
    raw: _Raw
    meta: ResponseMeta


def egress_transport(config: RegistryClientConfig,
                     resolver: Resolver | None = None) -> httpx.AsyncBaseTransport:
    """The egress-policy transport for this configuration: named hosts allowed by exact host:port,
    a registry's own CA trusted for that registry only."""
    from bot.registry.egress import EgressPolicy, EgressTransport, ssl_context_for_ca

    policy = EgressPolicy(allowed=config.allowed_hosts(),
                          allow_private_hosts=frozenset(config.allow_private_hosts),
                          insecure=config.insecure_hosts())
    contexts = {host: ssl_context_for_ca(str(e.ca_file))
                for host, e in config.endpoints.items() if e.ca_file is not None}
    limits = httpx.Limits(max_connections=config.max_connections,
                          max_keepalive_connections=config.max_connections)
    return EgressTransport(policy, resolver, ssl_contexts=contexts,
                           connect_timeout_s=config.connect_timeout_s, limits=limits)


class _RedactHttpxUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; blob redirects carry signatures in the query.
    The composition root quiets httpx too, but a library user may not: redact here as well."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_HTTPX_FILTER = _RedactHttpxUrls()


def _check_repository(repository: str) -> None:
    if len(repository) > 255 or not _REPOSITORY.match(repository):
        raise InvalidReference(f"not a valid repository name: {repository[:80]!r}", input=repository)


def _check_reference(reference: str) -> None:
    if not (_TAG.match(reference) or _DIGEST.match(reference)):
        raise InvalidReference(f"not a valid tag or digest: {reference[:80]!r}", input=reference)


def _check_digest(digest: str) -> None:
    if not _DIGEST.match(digest):
        raise InvalidReference(f"not a valid digest: {digest[:80]!r}", input=digest)


def _digest_of(body: bytes, algorithm: str) -> str | None:
    if algorithm not in ("sha256", "sha384", "sha512"):
        return None
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _media_type(headers: httpx.Headers) -> str | None:
    value = headers.get("content-type")
    return value.split(";", 1)[0].strip().lower() or None if value else None


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    return int(value) if value and value.strip().isdigit() else None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default)


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return _origin(a) == _origin(b)


def _unusable_url(target: _Target, url: str, exc: BaseException) -> ImagecheckError:
    """A URL httpx cannot build a request for, such as a host that is not valid IDNA. On the registry's
    own base URL that is the name the user gave (no such host can resolve); anywhere else it came from
    the registry (a token realm, a redirect's Location): the registry's failure, not our policy's."""
    base = target.endpoint.base_url
    if url == base or url.startswith(base + "/"):
        return DNSFailure(f"the registry host {target.registry} is not a valid host name (bad IDNA label)",
                          evidence=Evidence(url=redact_url(url), exception=type(exc).__name__))
    return RegistryServerError(
        "the registry sent imagecheck to a URL that is not valid (its token realm or a redirect is "
        "misconfigured)",
        evidence=Evidence(url=redact_url(url), message="unusable URL from the registry",
                          exception=type(exc).__name__))


def _redirect_target(response: httpx.Response, location: str) -> httpx.URL:
    """The URL a redirect points at, its host decoded now: httpx decodes punycode lazily, and a bad
    label (``xn--ls8h.la``) would otherwise surface as a bare UnicodeError from a later check."""
    try:
        target = response.url.join(location)
        target.host  # noqa: B018  # reading it is the check
    except (ValueError, httpx.InvalidURL) as exc:  # ValueError includes idna's UnicodeError
        raise _bad_redirect(response.status_code, str(response.url), exc) from None
    return target


def _bad_redirect(status: int | None, url: str, exc: BaseException) -> RegistryServerError:
    return RegistryServerError(
        "the registry redirected to a URL that is not valid", status=status,
        evidence=Evidence(status=status, url=redact_url(url), message="redirect Location is not a usable URL",
                          exception=type(exc).__name__))


K = TypeVar("K")
T = TypeVar("T")


@asynccontextmanager
async def _while_used(table: dict[K, tuple[T, int]], key: K, make: Callable[[], T]) -> AsyncIterator[T]:
    """``table[key]``'s item (made on first use) while the block runs; the entry counts its holders and
    waiters and is removed when the last one leaves, so the table holds only what is in use."""
    item, users = table.get(key) or (make(), 0)
    table[key] = (item, users + 1)
    try:
        yield item
    finally:
        item, users = table[key]
        if users <= 1:
            del table[key]
        else:
            table[key] = (item, users - 1)


class RegistryClient:
    """One per process: connection pool, token cache, credentials. Make a session per diagnosis."""

    def __init__(self, config: RegistryClientConfig, *, transport: httpx.AsyncBaseTransport | None = None,
                 credentials: CredentialStore | None = None, resolver: Resolver | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._monotonic = monotonic
        httpx_logger = logging.getLogger("httpx")
        if _HTTPX_FILTER not in httpx_logger.filters:
            httpx_logger.addFilter(_HTTPX_FILTER)
        self._transport = transport if transport is not None else egress_transport(config, resolver)
        from bot.registry.egress.restricted import RestrictedHosts

        # registries the settings restrict: never reached on another registry's redirect or realm
        self.restricted = RestrictedHosts.from_endpoints(config.endpoints.values())
        self.http = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s,
                                  pool=config.request_deadline_s),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING},
            # No cookie jar: a session cookie a registry sets after a credentialed request would ride
            # along on anonymous probes and other users' checks (Nexus NXSESSIONID, Harbor sid).
            # (a bare CookieJar: httpx would copy an httpx.Cookies into a fresh jar and lose the policy)
            cookies=http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])),
        )
        self.tokens = TokenCache(monotonic)
        self.credentials = credentials if credentials is not None else CredentialStore(
            config.endpoints, docker_config_dir=config.docker_config_dir,
            use_docker_config=config.use_docker_config,
            helper_timeout_s=config.credential_helper_timeout_s, monotonic=monotonic)
        self._semaphores: dict[str, tuple[asyncio.Semaphore, int]] = {}  # semaphore, holders + waiters
        # The transport pools connections per host, so its limits are per host too: this is the cap on
        # requests in flight across every registry at once.
        self.global_slots = asyncio.Semaphore(config.max_connections)
        self._locks: dict[tuple[str, ...], tuple[asyncio.Lock, int]] = {}  # lock, holders + waiters
        # registries whose last first request needed no auth (bounded: see RememberedRegistries)
        self.unchallenged = RememberedRegistries[bool]()
        # metrics name only registries the settings name (or well-known ones): users type the rest
        self.metric_label = RegistryLabels([*config.endpoints, *config.extra_allowed_hosts])

    def session(self) -> RegistrySession:
        return RegistrySession(self)

    @asynccontextmanager
    async def registry_slot(self, registry: str) -> AsyncIterator[None]:
        """One of the registry's ``per_registry_concurrency`` request slots. Users type any public
        host, so the semaphore is forgotten once nobody holds or waits for it."""
        limit = self.config.per_registry_concurrency
        async with _while_used(self._semaphores, registry, lambda: asyncio.Semaphore(limit)) as sem, sem:
            yield

    @asynccontextmanager
    async def lock(self, key: tuple[str, ...]) -> AsyncIterator[None]:
        """A lock per key (single flight), forgotten when nobody holds or waits for it."""
        async with _while_used(self._locks, key, asyncio.Lock) as lock, lock:
            yield

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


@dataclass
class _Target:
    registry: str  # normalised Docker-style domain, the cache and metrics key
    endpoint: RegistryEndpoint
    repository: str
    credentials: Credentials | None
    secrets: tuple[str, ...] = field(default=())


class RegistrySession:
    """One diagnosis's view of the registries (implements ``RegistryPort``)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client
        self._config = client.config
        self._count = 0

    @property
    def request_count(self) -> int:
        return self._count

    def has_credentials(self, registry: str) -> bool:
        return self._client.credentials.has(registry)

    async def credentials_identity(self, registry: str) -> str:
        await self._client.credentials.prewarm()
        found = await self._client.credentials.get(registry)
        return found.identity() if found is not None else ""

    # --- the port ---------------------------------------------------------------------------------

    async def head_manifest(self, registry: str, repository: str, reference: str, *,
                            anonymous: bool = False) -> ManifestHead:
        _check_repository(repository)
        _check_reference(reference)
        target = await self._target(registry, repository, anonymous)
        answer = await self._request(target, "HEAD", f"/v2/{repository}/manifests/{reference}",
                                     accept=wire.MANIFEST_ACCEPT, not_found=ManifestUnknown,
                                     max_bytes=self._config.max_small_body_bytes)
        headers = answer.raw.headers
        digest = headers.get("docker-content-digest")
        if digest and _DIGEST.match(reference) and digest != reference:
            raise DigestMismatch(
                "the registry announced a different digest than the one asked for",
                evidence=self._evidence(answer, message=f"asked {reference}, announced {digest}"))
        return ManifestHead(digest=digest, media_type=_media_type(headers),
                            size=_int_header(headers, "content-length"), meta=answer.meta)

    async def get_manifest(self, registry: str, repository: str, reference: str, *,
                           anonymous: bool = False) -> Manifest:
        _check_repository(repository)
        _check_reference(reference)
        target = await self._target(registry, repository, anonymous)
        answer = await self._request(target, "GET", f"/v2/{repository}/manifests/{reference}",
                                     accept=wire.MANIFEST_ACCEPT, not_found=ManifestUnknown,
                                     max_bytes=self._config.max_manifest_bytes)
        return self._parse_manifest(answer, reference)

    async def get_image_config(self, registry: str, repository: str, digest: str, *,
                               anonymous: bool = False) -> ImageConfig:
        _check_repository(repository)
        _check_digest(digest)
        target = await self._target(registry, repository, anonymous)
        # Configs carry the build history: images with long histories exceed 64 KiB, so they get the
        # manifest cap (issue 6 keeps the small cap for error and token bodies).
        answer = await self._request(target, "GET", f"/v2/{repository}/blobs/{digest}",
                                     not_found=BlobUnknown, max_bytes=self._config.max_manifest_bytes)
        body = answer.raw.body
        actual = _digest_of(body, digest.split(":", 1)[0])
        if actual is not None and actual != digest:
            raise DigestMismatch("the config blob's content does not match its digest",
                                 evidence=self._evidence(answer, message=f"asked {digest}, got {actual}"))
        try:
            parsed = wire.WireImageConfig.model_validate_json(body)
        except ValidationError:
            evidence = self._evidence(answer, message="unparseable image config")
            raise ManifestInvalid("the image config is not valid JSON", evidence=evidence) from None
        return ImageConfig(os=parsed.os, architecture=parsed.architecture, variant=parsed.variant,
                           created=_parse_created(parsed.created), meta=answer.meta)

    async def list_tags(self, registry: str, repository: str, *, anonymous: bool = False,
                        page_size: int = 1000, max_pages: int = 10, max_tags: int = 10_000) -> TagList:
        _check_repository(repository)
        target = await self._target(registry, repository, anonymous)
        base = httpx.URL(target.endpoint.base_url)
        url = httpx.URL(f"{target.endpoint.base_url}/v2/{repository}/tags/list",
                        params={"n": str(max(1, page_size))})
        tags: list[str] = []
        seen: set[str] = {str(url)}
        pages = 0
        truncated = False
        first_meta: ResponseMeta | None = None
        while True:
            answer = await self._request(target, "GET", str(url), not_found=NameUnknown,
                                         max_bytes=self._config.max_manifest_bytes)
            pages += 1
            first_meta = first_meta or answer.meta
            try:
                page = wire.WireTagList.model_validate_json(answer.raw.body)
            except ValidationError:
                raise RegistryServerError("the registry's tag list is not valid JSON",
                                          evidence=self._evidence(answer, message="unparseable tag list")
                                          ) from None
            tags.extend(t for t in (page.tags or []) if isinstance(t, str))
            if len(tags) >= max_tags:
                truncated = truncated or len(tags) > max_tags or self._next_link(answer, url) is not None
                tags = tags[:max_tags]
                break
            next_url = self._next_link(answer, url)
            if next_url is None:
                break
            if not _same_origin(next_url, base) or str(next_url) in seen or pages >= max_pages:
                # a Link to another origin is not followed (credentials and policy are per origin)
                truncated = True
                break
            seen.add(str(next_url))
            url = next_url
        return TagList(repository=repository, tags=tags, pages=pages, truncated=truncated, meta=first_meta)

    async def head_blob(self, registry: str, repository: str, digest: str, *,
                        anonymous: bool = False) -> BlobHead:
        _check_repository(repository)
        _check_digest(digest)
        target = await self._target(registry, repository, anonymous)
        answer = await self._request(target, "HEAD", f"/v2/{repository}/blobs/{digest}",
                                     not_found=BlobUnknown, max_bytes=self._config.max_small_body_bytes)
        return BlobHead(digest=digest, size=_int_header(answer.raw.headers, "content-length"),
                        meta=answer.meta)

    # --- manifests --------------------------------------------------------------------------------

    def _parse_manifest(self, answer: _Answer, reference: str) -> Manifest:
        body = answer.raw.body
        header_type = _media_type(answer.raw.headers)
        try:
            parsed = wire.WireManifest.model_validate_json(body)
        except ValidationError:
            raise ManifestInvalid("the manifest is not valid JSON",
                                  evidence=self._evidence(answer, message="unparseable manifest")) from None
        # The body's mediaType wins; the header only when it names a manifest type (some registries
        # send application/json). OCI 1.0 manifests may omit mediaType: then their shape decides.
        known = wire.INDEX_TYPES | wire.IMAGE_TYPES | wire.SCHEMA1_TYPES
        media_type = parsed.media_type or (header_type if header_type in known else "") or ""
        if not media_type and parsed.schema_version == 2:
            if parsed.manifests is not None:
                media_type = wire.OCI_INDEX
            elif parsed.config is not None:
                media_type = wire.OCI_MANIFEST
        # schema 1 first: its announced digest covers the payload without signatures, so a digest
        # check would report a false mismatch.
        if header_type in wire.SCHEMA1_TYPES or media_type in wire.SCHEMA1_TYPES or \
                parsed.schema_version == 1:
            raise ManifestInvalid(
                "the manifest is Docker schema 1, which current runtimes no longer pull",
                code="MANIFEST_INVALID",
                evidence=self._evidence(answer, message="unsupported schema 1 manifest"))
        digest = self._verified_digest(answer, reference)
        if media_type in wire.INDEX_TYPES:
            kind = ManifestKind.index
        elif media_type in wire.IMAGE_TYPES:
            kind = ManifestKind.image
        else:
            raise ManifestInvalid(
                f"unsupported manifest media type {(media_type or header_type or 'none')[:100]!r}",
                evidence=self._evidence(answer, message="unknown manifest media type"))
        entries = [_entry(d) for d in parsed.manifests or []] if kind is ManifestKind.index else []
        config = _descriptor(parsed.config) if parsed.config is not None else None
        layers = [_descriptor(d) for d in parsed.layers or []]
        return Manifest(digest=digest, media_type=media_type, kind=kind, size=len(body), entries=entries,
                        config=config, layers=layers, meta=answer.meta)

    def _verified_digest(self, answer: _Answer, reference: str) -> str:
        body = answer.raw.body
        announced = answer.raw.headers.get("docker-content-digest")
        expected = reference if _DIGEST.match(reference) else announced
        if expected is None:
            return f"sha256:{hashlib.sha256(body).hexdigest()}"
        actual = _digest_of(body, expected.split(":", 1)[0])
        if actual is None:
            raise ManifestInvalid(f"unsupported digest algorithm in {expected[:80]!r}",
                                  evidence=self._evidence(answer, message="unsupported digest algorithm"))
        if actual != expected or (announced and _DIGEST.match(reference) and announced != reference):
            raise DigestMismatch(
                "the manifest's content does not match its digest",
                evidence=self._evidence(answer, message=f"expected {expected}, content is {actual}"))
        return actual

    # --- requests with auth -----------------------------------------------------------------------

    async def _target(self, registry: str, repository: str, anonymous: bool) -> _Target:
        host = normalize_registry(registry)
        endpoint = self._config.endpoint(host)
        await self._client.credentials.prewarm()  # so has_credentials() never runs a helper on the loop
        creds = None if anonymous else await self._client.credentials.get(host)
        return _Target(host, endpoint, repository, creds, creds.secrets if creds else ())

    async def _request(self, target: _Target, method: str, path_or_url: str, *, accept: str | None = None,
                       not_found: type[RegistryError], max_bytes: int) -> _Answer:
        url = path_or_url if "://" in path_or_url else target.endpoint.base_url + path_or_url
        headers = {"Accept": accept} if accept else {}
        tokens = self._client.tokens
        scope = repository_scope(target.repository)
        state = _AuthState()
        raw: _Raw | None = None
        client = self._client
        challenge = tokens.challenges.get(target.registry)
        if challenge is None and target.registry not in client.unchallenged:
            # The first real request discovers the challenge (no /v2/ ping); concurrent first
            # requests to the same registry wait for it rather than each collecting the same 401.
            async with client.lock(("challenge", target.registry)):
                challenge = tokens.challenges.get(target.registry)
                if challenge is None and target.registry not in client.unchallenged:
                    raw = await self._exchange(target, method, url, headers, max_bytes=max_bytes)
                    self._remember_challenge(target, raw)
        if raw is None:
            if challenge is not None:
                state = await self._authorize(target, challenge, scope)
            raw = await self._exchange(target, method, url, self._with_auth(headers, state),
                                       max_bytes=max_bytes)
        if raw.status == 401:
            challenge = self._remember_challenge(target, raw)
            if challenge is not None:
                retry = False
                if challenge.scheme == "bearer":
                    sent_token = state.token is not None
                    scope_refused = challenge.error == "insufficient_scope"
                    # A token refused for its scope stays cached (asking again gets the same answer
                    # until it expires); any other refusal means the token itself went bad.
                    if sent_token and not scope_refused and state.token_key is not None:
                        tokens.drop(state.token_key, only=state.token)
                    retry = not sent_token or (state.token_from_cache and not scope_refused)
                elif challenge.scheme == "basic":
                    retry = target.credentials is not None and state.scheme != "basic"
                if retry:
                    state = await self._authorize(target, challenge, scope, refused=state.token)
                    raw = await self._exchange(target, method, url, self._with_auth(headers, state),
                                               max_bytes=max_bytes)
        meta = self._meta(raw, state)
        if raw.status >= 400:
            insufficient = False
            if raw.status == 401:
                last = pick_challenge(parse_www_authenticate(raw.headers.get_list("www-authenticate")))
                insufficient = last is not None and last.error == "insufficient_scope"
            error = error_from_response(raw.status, raw.headers, raw.body, raw.url, not_found=not_found,
                                        credentials_used=state.authenticated, insufficient_scope=insufficient,
                                        secrets=target.secrets)
            if isinstance(error, RegistryAuthError):
                error.credentials_withheld_for_realm = state.credentials_withheld_for_realm
            raise error
        if raw.status not in (200, 203):
            raise RegistryServerError(
                f"unexpected answer {raw.status} from the registry",
                status=raw.status, evidence=Evidence(status=raw.status, url=redact_url(raw.url),
                                                     headers=cited_headers(raw.headers, target.secrets)))
        return _Answer(raw, meta)

    def _remember_challenge(self, target: _Target, raw: _Raw) -> Challenge | None:
        """Cache a 401's challenge for the registry; remember registries that answered without one."""
        if raw.status != 401:
            if target.registry not in self._client.tokens.challenges:
                self._client.unchallenged[target.registry] = True
            return None
        challenge = pick_challenge(parse_www_authenticate(raw.headers.get_list("www-authenticate")))
        if challenge is not None:
            self._client.tokens.challenges[target.registry] = challenge
            self._client.unchallenged.pop(target.registry, None)
        return challenge

    @staticmethod
    def _with_auth(headers: Mapping[str, str], state: _AuthState) -> dict[str, str]:
        out = dict(headers)
        if state.header:
            out["Authorization"] = state.header
        return out

    async def _authorize(self, target: _Target, challenge: Challenge, scope: str, *,
                         refused: str | None = None) -> _AuthState:
        """Authorization for one request; ``refused`` is a token the registry just turned down."""
        if challenge.scheme == "basic":
            if target.credentials is None:
                return _AuthState(scheme=None, realm=challenge.realm)
            basic = target.credentials.basic_header()
            if basic is None:  # an identity token is no password: it goes to token realms only
                raise RegistryAuthError(
                    "the registry asks for a username and password (Basic auth), and the only login "
                    "for it is an identity token, which is traded at a token realm, not sent as a password",
                    evidence=Evidence(status=401, url=redact_url(target.endpoint.base_url + "/v2/"),
                                      message="Basic challenge; identity token not sent"),
                    oauth_refusal="unsupported")
            return _AuthState(header=basic, scheme="basic", realm=challenge.realm, authenticated=True)
        if challenge.scheme != "bearer" or not challenge.realm:
            return _AuthState()
        realm = challenge.realm
        check_realm(target.endpoint, realm)
        creds = target.credentials
        withheld: str | None = None
        if creds is not None and not realm_may_receive_credentials(target.endpoint, realm):
            # Not the registry's realm: ask anonymously, and remember why, so a refusal is not
            # blamed on credentials that were never sent.
            creds, withheld = None, realm_host(realm)
        key = TokenCache.key(target.registry, scope, creds)
        tokens = self._client.tokens
        # one token request per key at a time: concurrent requests for one repository share it
        async with self._client.lock(("token", *key)):
            cached = tokens.get(key)
            if cached is not None and cached != refused:
                return _AuthState(header=f"Bearer {cached}", scheme="bearer", realm=realm, token=cached,
                                  authenticated=creds is not None, token_from_cache=True, token_key=key,
                                  credentials_withheld_for_realm=withheld)
            try:
                token, ttl = await self._fetch_token(target, challenge, scope, creds)
            except RegistryAuthError as exc:
                exc.credentials_withheld_for_realm = withheld
                raise
            tokens.put(key, token, ttl)
        return _AuthState(header=f"Bearer {token}", scheme="bearer", realm=realm, token=token,
                          authenticated=creds is not None, token_key=key,
                          credentials_withheld_for_realm=withheld)

    async def _fetch_token(self, target: _Target, challenge: Challenge, scope: str,
                           creds: Credentials | None) -> tuple[str, float]:
        if creds is not None and creds.identity_token:
            return await self._fetch_token_oauth(target, challenge, scope, creds.identity_token)
        url = token_url(challenge, scope)
        headers = {"Accept": "application/json"}
        basic = creds.basic_header() if creds is not None else None
        if basic is not None:
            headers["Authorization"] = basic
        raw = await self._exchange(target, "GET", url, headers, max_bytes=self._config.max_small_body_bytes)
        if raw.status == 401 or raw.status == 403:
            evidence = Evidence(status=raw.status, url=redact_url(raw.url),
                                headers=cited_headers(raw.headers, target.secrets),
                                message="token request refused")
            if creds is not None:
                raise RegistryAuthError("the token server rejected the credentials", status=raw.status,
                                        evidence=evidence, credentials_used=True)
            raise RegistryAuthError("the token server refused an anonymous token", status=raw.status,
                                    evidence=evidence)
        if raw.status != 200:
            raise error_from_response(raw.status, raw.headers, raw.body, raw.url,
                                      not_found=RegistryServerError, credentials_used=creds is not None,
                                      secrets=target.secrets)
        return parse_token_body(raw.body, url=raw.url)

    async def _fetch_token_oauth(self, target: _Target, challenge: Challenge, scope: str,
                                 identity_token: str) -> tuple[str, float]:
        """Trade an identity token for an access token: a form POST to the realm (distribution's
        ``spec/auth/oauth.md``). The caller has already checked that this realm may receive it."""
        realm = challenge.realm or ""
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        raw = await self._exchange(target, "POST", realm, headers,
                                   content=oauth_refresh_form(challenge, scope, identity_token),
                                   max_bytes=self._config.max_small_body_bytes)
        if raw.status == 200:
            return parse_token_body(raw.body, url=raw.url)
        error = parse_oauth_error(raw.body)
        said = scrub_text(scrub(error.description, target.secrets)) if error.description else None
        evidence = Evidence(status=raw.status, error_code=error.code, url=redact_url(raw.url),
                            headers=cited_headers(raw.headers, target.secrets),
                            message="identity token refused" + (f": {said}" if said else ""))
        answer = f"{raw.status}" + (f" {error.code}" if error.code else "")
        if oauth_unsupported(raw.status, error):
            raise RegistryAuthError(
                f"the token server does not accept identity tokens (its OAuth2 endpoint answered {answer})",
                status=raw.status, code=error.code, evidence=evidence, credentials_used=True,
                oauth_refusal="unsupported")
        if raw.status in (400, 401, 403):  # RFC 6749: invalid_grant is a 400; some servers say 401
            raise RegistryAuthError(
                f"the token server rejected the identity token ({answer}): it expired or was revoked",
                status=raw.status, code=error.code, evidence=evidence, credentials_used=True,
                oauth_refusal="rejected")
        raise error_from_response(raw.status, raw.headers, raw.body, raw.url,
                                  not_found=RegistryServerError, credentials_used=True, secrets=target.secrets)

    # --- one HTTP exchange ------------------------------------------------------------------------

    async def _exchange(self, target: _Target, method: str, url: str, headers: Mapping[str, str], *,
                        max_bytes: int, content: bytes | None = None) -> _Raw:
        """Send one request, following redirects by hand, under the per-request deadline."""
        where = [url]  # the hop in flight, for the error's evidence
        try:
            # Waiting for a slot is not the registry's slowness: the deadline starts once we have one.
            async with self._client.registry_slot(target.registry), self._client.global_slots:
                async with asyncio.timeout(self._config.request_deadline_s):
                    return await self._follow(target, method, headers, max_bytes=max_bytes, where=where,
                                              content=content)
        except ImagecheckError as exc:
            # the egress transport's DNSFailure / EgressDenied know no URL; say which request it was
            if exc.evidence.url is None:
                exc.evidence.url = redact_url(where[-1])
            raise
        except (TimeoutError, httpx.HTTPError, OSError, ssl.SSLError) as exc:
            raise error_from_exception(exc, where[-1], secrets=target.secrets) from None

    async def _follow(self, target: _Target, method: str, headers: Mapping[str, str], *, max_bytes: int,
                      where: list[str], content: bytes | None = None) -> _Raw:
        current_headers = dict(headers)
        for hop in range(self._config.max_redirects + 1):
            current = where[-1]
            if hop == 0:  # a token realm (the registry's own URLs are never refused)
                self._refuse_restricted(target, httpx.URL(current), via=None)
            response = await self._send(target, method, current, current_headers, content=content)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    next_url = _redirect_target(response, location)
                    self._check_redirect(response.url, next_url)
                    self._refuse_restricted(target, next_url, via=response)
                    if content is not None:
                        self._check_body_redirect(response, next_url)
                    if _origin(next_url)[1:] != _origin(response.url)[1:]:
                        current_headers.pop("Authorization", None)  # credentials stay with their host
                    if response.status_code == 303 and method != "HEAD":
                        method = "GET"
                    where.append(str(next_url))
                    continue
                body = b""
                if method != "HEAD":
                    is_error = response.status_code >= 400
                    limit = self._config.max_small_body_bytes if is_error else max_bytes
                    body = await read_capped(response, limit, truncate=is_error, url=redact_url(current))
                return _Raw(response.status_code, response.headers, body, current)
            finally:
                await response.aclose()
        raise RegistryServerError(
            f"more than {self._config.max_redirects} redirects",
            evidence=Evidence(url=redact_url(where[-1]), message="redirect limit reached"))

    async def _send(self, target: _Target, method: str, url: str, headers: Mapping[str, str], *,
                    content: bytes | None = None) -> httpx.Response:
        started = time.perf_counter()
        status = "error"
        try:
            try:
                request = self._client.http.build_request(method, url, headers=dict(headers), content=content)
            except (ValueError, httpx.InvalidURL) as exc:  # ValueError includes idna's UnicodeError
                status = ""  # nothing was sent: not a request to count
                raise _unusable_url(target, url, exc) from None
            try:
                response = await self._client.http.send(request, stream=True, follow_redirects=False)
            except ValueError as exc:
                # httpx prepares the redirect's next request even when not following it, reading the
                # Location's host: a bad IDNA label there is a UnicodeError from send() itself
                raise _bad_redirect(None, url, exc) from None
            status = str(response.status_code)
            return response
        except EgressDenied:
            status = ""  # refused before any connection: not a request to count
            raise
        finally:
            if status:
                self._count += 1
                label = self._client.metric_label(target.registry)
                metrics.REGISTRY_REQUESTS.labels(registry=label, status=status).inc()
                metrics.REGISTRY_LATENCY.labels(registry=label).observe(
                    time.perf_counter() - started)

    @staticmethod
    def _check_redirect(current: httpx.URL, next_url: httpx.URL) -> None:
        if next_url.scheme not in ("http", "https"):
            raise EgressDenied("redirect to a non-HTTP URL refused",
                               evidence=Evidence(url=redact_url(str(next_url))))
        if current.scheme == "https" and next_url.scheme == "http":
            raise EgressDenied("redirect from https to plain http refused",
                               evidence=Evidence(url=redact_url(str(next_url)),
                                                 message="https -> http redirect"))

    @staticmethod
    def _check_body_redirect(response: httpx.Response, next_url: httpx.URL) -> None:
        """A request with a body (the identity-token POST) follows only 307/308 within its origin.

        The body is the secret, and it is not a header the cross-host rule above can strip: resent to
        another host it would reach a realm nobody allowed; and 301/302/303 turn a POST into a GET
        without its body, which would quietly ask anonymously instead.
        """
        if response.status_code in (307, 308) and _same_origin(response.url, next_url):
            return
        raise EgressDenied(
            "the token server redirected the identity-token request elsewhere; imagecheck does not "
            "send the token on",
            evidence=Evidence(status=response.status_code, url=redact_url(str(response.url)),
                              message="identity-token request redirected; not followed"))

    def _refuse_restricted(self, target: _Target, url: httpx.URL, *, via: httpx.Response | None) -> None:
        """Refuse a hop onto a restricted registry other than the one checked (see
        ``bot.registry.egress.restricted``); ``via`` is the redirect that asked for it, None for a
        token realm. Raised before sending, so the refused hop is no request and is not counted.

        What the asker sees: THAT a restricted registry was refused, never WHICH one. The asker may be
        in a channel that may not check it, and the checked registry's redirect is not theirs to
        learn the private registry's name from (a diagnosis is also cached and shown to others).
        Saying "restricted" is no new oracle: typing that host in such a channel already gets "limited
        to certain channels". The evidence URL is therefore the hop that sent us there (the checked
        registry's, or for a realm the registry's own base URL), and the host goes to the operators'
        log only.
        """
        if not self._client.restricted.refuses(url, checking=target.endpoint):
            return
        log.warning("refused a %s from %s onto restricted registry %s",
                    "token realm" if via is None else "redirect", target.registry,
                    url.netloc.decode("ascii", errors="replace").rpartition("@")[2])
        if via is None:
            raise HopToRestrictedRegistry(
                "the registry's token realm is on a restricted registry (one imagecheck's settings limit "
                "to certain channels); imagecheck refused to ask it for a token",
                evidence=Evidence(url=redact_url(target.endpoint.base_url + "/v2/"),
                                  message="token realm on a restricted registry refused"))
        raise HopToRestrictedRegistry(
            "the registry redirected the request to a restricted registry (one imagecheck's settings "
            "limit to certain channels); imagecheck refused to follow the redirect",
            evidence=Evidence(status=via.status_code, url=redact_url(str(via.url)),
                              message="redirect to a restricted registry refused"))

    # --- small helpers ----------------------------------------------------------------------------

    def _meta(self, raw: _Raw, state: _AuthState) -> ResponseMeta:
        return ResponseMeta(status=raw.status, url=redact_url(raw.url),
                            date=parse_date(raw.headers.get("date")),
                            rate_limit=parse_rate_limit(raw.headers), auth_scheme=state.scheme,
                            auth_realm=redact_url(state.realm) if state.realm else None,
                            authenticated=state.authenticated)

    @staticmethod
    def _evidence(answer: _Answer, *, message: str) -> Evidence:
        raw = answer.raw
        return Evidence(status=raw.status, url=redact_url(raw.url), headers=cited_headers(raw.headers),
                        message=message)

    def _next_link(self, answer: _Answer, current: httpx.URL) -> httpx.URL | None:
        for value in answer.raw.headers.get_list("link"):
            match = _LINK_NEXT.search(value)
            if match:
                try:
                    next_url = current.join(match.group(1).strip())
                    next_url.host  # noqa: B018  # decodes punycode: a bad label is a UnicodeError
                except (httpx.InvalidURL, ValueError):
                    return None
                return next_url
        return None


def _entry(desc: wire.WireDescriptor) -> IndexEntry:
    platform = None
    if desc.platform is not None:
        platform = Platform(os=desc.platform.os, architecture=desc.platform.architecture,
                            variant=desc.platform.variant or None, os_version=desc.platform.os_version)
    attestation = desc.annotations.get(wire.ATTESTATION_ANNOTATION) == wire.ATTESTATION_VALUE
    return IndexEntry(media_type=desc.media_type or "", digest=desc.digest, size=desc.size,
                      platform=platform, attestation=attestation)


def _descriptor(desc: wire.WireDescriptor) -> Descriptor:
    return Descriptor(media_type=desc.media_type or "", digest=desc.digest, size=desc.size)


def _parse_created(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        # Go writes nanoseconds; Python 3.11 accepts at most microseconds
        trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
        try:
            return datetime.fromisoformat(trimmed)
        except ValueError:
            return None


__all__ = ["RegistryClient", "RegistrySession"]
