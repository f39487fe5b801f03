"""The domain's data contract.

The CLI's ``--json``, the Slack renderer and the Redis store all serialise these same models, so a
field added here shows up everywhere at once. Registry wire shapes stay in ``bot/registry/wire.py``.
Every persisted model carries ``schema_version`` so that a newer release can read older records.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from bot.domain.host_literals import parse_host_literal, without_scope

SCHEMA_VERSION = 1
DEFAULT_TAG = "latest"
# Models that `imagecheck check` never builds (triage, incidents) build their pydantic schema on first
# use instead of at import: each costs one to five milliseconds that every CLI start would pay.
_BUILT_ON_FIRST_USE = ConfigDict(defer_build=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Verdict(StrEnum):
    """The diagnosis's headline. Shared with triage categories and the CLI's JSON."""

    ok = "ok"
    tag_not_found = "tag_not_found"
    digest_not_found = "digest_not_found"
    repo_not_found_or_denied = "repo_not_found_or_denied"
    auth_required = "auth_required"
    auth_forbidden = "auth_forbidden"
    platform_mismatch = "platform_mismatch"
    rate_limited = "rate_limited"
    tls_error = "tls_error"
    insecure_http = "insecure_http"
    dns_error = "dns_error"
    network_timeout = "network_timeout"
    connection_refused = "connection_refused"
    invalid_reference = "invalid_reference"
    blob_unknown = "blob_unknown"
    manifest_invalid_or_unsupported = "manifest_invalid_or_unsupported"
    mirror_stale = "mirror_stale"
    dangling_index = "dangling_index"
    blocked_by_policy = "blocked_by_policy"
    # Beyond the list: a 5xx (or an answer that makes no sense) is the registry's own failure;
    # calling it "manifest invalid" would send on-call after the image instead of the registry.
    registry_error = "registry_error"


class Category(StrEnum):
    """What a pasted error log is about. Names match ``Verdict`` where both exist."""

    tag_not_found = "tag_not_found"
    digest_not_found = "digest_not_found"
    repo_not_found_or_denied = "repo_not_found_or_denied"
    auth_required = "auth_required"
    auth_forbidden = "auth_forbidden"
    platform_mismatch = "platform_mismatch"
    rate_limited = "rate_limited"
    tls_error = "tls_error"
    insecure_http = "insecure_http"
    dns_error = "dns_error"
    network_timeout = "network_timeout"
    connection_refused = "connection_refused"
    proxy_error = "proxy_error"
    invalid_reference = "invalid_reference"
    blob_unknown = "blob_unknown"
    manifest_invalid_or_unsupported = "manifest_invalid_or_unsupported"
    disk_or_storage = "disk_or_storage"
    clock_skew = "clock_skew"
    backoff_only = "backoff_only"
    other = "other"


# --- references and platforms -------------------------------------------------------------------

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"index.docker.io", "registry-1.docker.io"})


def canonical_registry(domain: str) -> str:
    """The one spelling of a registry for every settings lookup (credentials, mirrors, channels):
    host names are case-insensitive, and Docker Hub answers to several names. Comparing raw spellings
    let ``REGISTRY.corp`` slip past a per-channel restriction on ``registry.corp``."""
    host = domain.strip().lower()
    name, sep, port = host.rpartition(":")
    if not (sep and port.isdigit() and "]" not in port):  # no port (or the inside of a bare IPv6 literal)
        name, port = host, ""
    name = _address_spelling(name.rstrip(".") if not name.endswith("]") else name)
    if port:
        name = name if int(port) == 443 else f"{name}:{int(port)}"  # https' own port; "05000" is 5000
    return DOCKER_HUB if name in _DOCKER_HUB_ALIASES else name


def _address_spelling(host: str) -> str:
    """An IP address in the one spelling the egress policy uses (``[::ffff:a00:5]`` and ``0xa.0.0.5`` are
    ``10.0.0.5``), so a respelled address names the same registry; names and non-addresses unchanged."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = parse_host_literal(bare)
    except ValueError:  # looks like an address but isn't one: the egress policy refuses it anyway
        return host
    if address is None:
        return host
    address = without_scope(address)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return f"[{address}]"
        address = address.ipv4_mapped
    return str(address)


class ImageRef(BaseModel):
    """A parsed, normalised image reference (see ``bot.domain.reference.parse_reference``).

    ``domain`` is the registry as Docker names it (``docker.io``, ``localhost:5000``); ``path`` the
    repository inside it (``library/nginx``). When both a tag and a digest were written, the digest
    wins for pulling (as in Docker's ``ParseDockerRef``) but the tag is kept for display and pinning.
    """

    model_config = ConfigDict(frozen=True)

    input: str
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def normalized(self) -> str:
        if self.digest:
            return f"{self.domain}/{self.path}@{self.digest}"
        return f"{self.domain}/{self.path}:{self.tag or DEFAULT_TAG}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def familiar(self) -> str:
        """The short form Docker prints: ``nginx:latest``, ``ghcr.io/o/r:1``."""
        name = self.name
        if self.domain == "docker.io":
            name = self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path
        if self.digest:
            return f"{name}@{self.digest}"
        return f"{name}:{self.tag or DEFAULT_TAG}"

    @property
    def name(self) -> str:
        """``domain/path``, the repository's full name without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def repository(self) -> str:
        return self.path

    @property
    def registry_key(self) -> str:
        """``canonical_registry(domain)``: the key for settings lookups about this registry."""
        return canonical_registry(self.domain)

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def effective_tag(self) -> str | None:
        if self.digest and not self.tag:
            return None
        return self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> str:
        """The pinned reference ``domain/path@digest``."""
        return f"{self.domain}/{self.path}@{digest}"


class Platform(BaseModel):
    """``os/arch[/variant]`` normalised like containerd (``aarch64`` -> ``arm64``)."""

    model_config = ConfigDict(frozen=True)

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture]
        if self.variant:
            parts.append(self.variant)
        return "/".join(parts)


# --- what the registry answered (domain view; wire shapes live in bot.registry.wire) -------------


class RateLimit(BaseModel):
    """Quota headers as the registry sent them (Docker Hub: ``RateLimit-Limit: 100;w=21600``)."""

    limit: int | None = None
    remaining: int | None = None
    window_s: int | None = None
    retry_after_s: float | None = None
    source: str | None = None


class ResponseMeta(BaseModel):
    """Facts about one registry response that findings may cite."""

    status: int
    url: str | None = None  # never carries credentials or tokens
    date: datetime | None = None  # the registry's Date header, for clock-skew findings
    rate_limit: RateLimit | None = None
    auth_scheme: Literal["bearer", "basic"] | None = None
    auth_realm: str | None = None
    authenticated: bool = False  # whether credentials (not just an anonymous token) were used


class Descriptor(BaseModel):
    media_type: str
    digest: str
    size: int = 0


class IndexEntry(BaseModel):
    """One child of an OCI index / Docker manifest list."""

    media_type: str
    digest: str
    size: int = 0
    platform: Platform | None = None
    attestation: bool = False  # buildkit's unknown/unknown attestation manifests


class ManifestKind(StrEnum):
    # "index" shadows str.index; the member name is part of the JSON contract, so keep it.
    index = "index"  # type: ignore[assignment]
    image = "image"
    schema1 = "schema1"
    unknown = "unknown"


class ManifestHead(BaseModel):
    digest: str | None
    media_type: str | None
    size: int | None = None
    meta: ResponseMeta


class Manifest(BaseModel):
    digest: str  # verified against the body by the registry adapter
    media_type: str
    kind: ManifestKind
    size: int
    entries: list[IndexEntry] = Field(default_factory=list)
    config: Descriptor | None = None
    layers: list[Descriptor] = Field(default_factory=list)
    meta: ResponseMeta


class ImageConfig(BaseModel):
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created: datetime | None = None
    meta: ResponseMeta | None = None


class TagList(BaseModel):
    repository: str
    tags: list[str]
    pages: int = 1
    truncated: bool = False  # stopped at the page or tag cap
    meta: ResponseMeta | None = None


class BlobHead(BaseModel):
    digest: str
    size: int | None = None
    meta: ResponseMeta


# --- diagnosis ----------------------------------------------------------------------------------


class Evidence(BaseModel):
    """What was observed, verbatim enough to be trusted: a status, an error code, a header, a line."""

    status: int | None = None
    error_code: str | None = None
    message: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    exception: str | None = None
    log_line: str | None = None
    host: str | None = None  # the host a finding is about when it isn't the registry checked (a token realm)


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"


class Finding(BaseModel):
    """One observed fact with its evidence. ``kind`` is a stable machine name (``tag_moved``...)."""

    kind: str
    severity: Severity = Severity.info
    summary: str
    evidence: Evidence = Field(default_factory=Evidence)


class RemediationStep(BaseModel):
    text: str
    command: str | None = None  # an exact command to run, shown as code


class PlatformDigest(BaseModel):
    platform: str
    digest: str
    media_type: str | None = None


class Diagnosis(BaseModel):
    schema_version: int = SCHEMA_VERSION
    reference: ImageRef
    verdict: Verdict
    summary: str
    registry: str | None = None  # the host that was asked
    digest: str | None = None
    media_type: str | None = None
    platforms: list[PlatformDigest] = Field(default_factory=list)
    wanted_platforms: list[str] = Field(default_factory=list)
    missing_platforms: list[str] = Field(default_factory=list)
    suggested_tags: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    remediation: list[RemediationStep] = Field(default_factory=list)
    requests: int = 0
    checked_at: datetime = Field(default_factory=utcnow)
    duration_ms: float = 0.0
    from_cache: bool = False
    cache_age_s: float | None = None
    degraded: list[str] = Field(default_factory=list)
    correlation_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.ok


# --- triage -------------------------------------------------------------------------------------


class TriageEvidence(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    line_no: int  # 1-based line in the redacted text
    line: str  # the redacted line
    start: int  # span of the match within ``line``
    end: int
    rule: str


class CategoryScore(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[TriageEvidence] = Field(default_factory=list)


class ExtractedReference(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    as_written: str
    normalized: str | None = None
    valid: bool = True
    error: str | None = None


class TriageResult(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    schema_version: int = SCHEMA_VERSION
    source: str | None = None
    category: Category
    confidence: float = 0.0
    categories: list[CategoryScore] = Field(default_factory=list)
    meaning: str = ""
    next_steps: list[RemediationStep] = Field(default_factory=list)
    references: list[ExtractedReference] = Field(default_factory=list)
    platform: str | None = None
    runtime: str | None = None
    registry_host: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    redacted: str = ""
    redactions: int = 0
    truncated: bool = False
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    reconciliation: list[str] = Field(default_factory=list)


# --- incidents ----------------------------------------------------------------------------------


class IncidentStatus(StrEnum):
    open = "open"
    mitigated = "mitigated"
    resolved = "resolved"


class TimelineKind(StrEnum):
    checked = "checked"
    triaged = "triaged"
    pinned = "pinned"
    rechecked = "rechecked"
    mirror_compared = "mirror_compared"
    resolved = "resolved"
    note = "note"


class TimelineEvent(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    at: datetime = Field(default_factory=utcnow)
    kind: TimelineKind
    actor: str | None = None  # a Slack user id or "cli"
    summary: str
    reference: str | None = None
    digest: str | None = None
    verdict: Verdict | None = None


class Pin(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    reference: str  # normalized reference that was pinned
    pinned: str  # domain/path@digest
    digest: str
    by: str | None = None
    at: datetime = Field(default_factory=utcnow)


class Incident(BaseModel):
    model_config = _BUILT_ON_FIRST_USE

    schema_version: int = SCHEMA_VERSION
    id: str  # "<channel>:<thread_ts>"
    channel: str
    thread_ts: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    status: IncidentStatus = IncidentStatus.open
    created_by: str | None = None
    references: list[str] = Field(default_factory=list)
    diagnoses: dict[str, Diagnosis] = Field(default_factory=dict)  # latest per normalized ref
    pins: list[Pin] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)

    @staticmethod
    def make_id(channel: str, thread_ts: str) -> str:
        return f"{channel}:{thread_ts}"

    def participants(self) -> frozenset[str]:
        """Who took part: the user who started it and every actor on its timeline. The store indexes
        incidents by these users and App Home shows each user only these incidents."""
        actors = {event.actor for event in self.timeline if event.actor}
        return frozenset({self.created_by, *actors} if self.created_by else actors)


class TagSighting(BaseModel):
    """One ``tag -> digest`` mapping as seen over time (tag history)."""

    digest: str
    first_seen: datetime
    last_seen: datetime


class CachedDiagnosis(BaseModel):
    diagnosis: Diagnosis
    stored_at: datetime
