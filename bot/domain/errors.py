"""A small exception tree, in the manner of httpx's: catch at any level.

Adapters raise these (never their library's own exceptions) so the domain can turn any failure into
a verdict with evidence, and one error handler at each edge can render any of them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from bot.domain.models import Evidence, RateLimit, Verdict


class ImagecheckError(Exception):
    """Base of every error imagecheck raises on purpose."""

    verdict: ClassVar[Verdict | None] = None

    def __init__(self, message: str, *, evidence: Evidence | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence or Evidence()


class InvalidReference(ImagecheckError):
    verdict = Verdict.invalid_reference

    def __init__(self, message: str, *, input: str, hint: str | None = None,
                 suggestion: str | None = None) -> None:
        super().__init__(message)
        self.input = input
        self.hint = hint
        self.suggestion = suggestion  # what was probably meant, when we can tell


class InvalidPlatform(ImagecheckError):
    pass


class ConfigError(ImagecheckError):
    pass


class EgressDenied(ImagecheckError):
    """The egress policy refused a destination. The message never says what it resolved to."""

    verdict = Verdict.blocked_by_policy


class HopToRestrictedRegistry(EgressDenied):
    """The checked registry sent the client (a redirect or its token realm) on to another registry that
    the settings restrict, and the client refused. The message and evidence never name that registry:
    the asker may be someone the restriction keeps out."""


# --- the registry answered, with an error -------------------------------------------------------


class RegistryError(ImagecheckError):
    """An HTTP answer from a registry that is an error (OCI error envelope when present)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 evidence: Evidence | None = None) -> None:
        ev = evidence or Evidence(status=status, error_code=code, message=message)
        super().__init__(message, evidence=ev)
        self.status = status if status is not None else ev.status
        self.code = code if code is not None else ev.error_code


class ManifestUnknown(RegistryError):
    verdict = Verdict.tag_not_found


class NameUnknown(RegistryError):
    verdict = Verdict.repo_not_found_or_denied


class BlobUnknown(RegistryError):
    verdict = Verdict.blob_unknown


OAuthRefusal = Literal["rejected", "unsupported"]


class RegistryAuthError(RegistryError):
    """401: credentials missing, wrong, or (``insufficient_scope``) not enough for this repository."""

    verdict = Verdict.auth_required

    def __init__(self, message: str, *, status: int | None = 401, code: str | None = None,
                 evidence: Evidence | None = None, insufficient_scope: bool = False,
                 credentials_used: bool = False, credentials_withheld_for_realm: str | None = None,
                 oauth_refusal: OAuthRefusal | None = None) -> None:
        super().__init__(message, status=status, code=code, evidence=evidence)
        self.insufficient_scope = insufficient_scope
        self.credentials_used = credentials_used
        # The token realm's host when credentials exist but were not sent there (not an allowed realm).
        self.credentials_withheld_for_realm = credentials_withheld_for_realm
        # Set when the login was an identity token (an OAuth2 refresh token, as `az acr login` stores)
        # and it was refused: "rejected" (the token realm turned it down: expired or revoked) or
        # "unsupported" (the realm's OAuth2 endpoint takes no such tokens: 404/405/unsupported_grant_type,
        # or the registry wants Basic auth, which a refresh token cannot answer).
        self.oauth_refusal = oauth_refusal


class RegistryDenied(RegistryError):
    """403 / ``DENIED``: authenticated, but not allowed."""

    verdict = Verdict.auth_forbidden


class RateLimited(RegistryError):
    verdict = Verdict.rate_limited

    def __init__(self, message: str, *, status: int | None = 429, code: str | None = "TOOMANYREQUESTS",
                 evidence: Evidence | None = None, rate_limit: RateLimit | None = None) -> None:
        super().__init__(message, status=status, code=code, evidence=evidence)
        self.rate_limit = rate_limit or RateLimit()


class ManifestInvalid(RegistryError):
    """Schema 1, an unknown media type, unparseable JSON."""

    verdict = Verdict.manifest_invalid_or_unsupported


class DigestMismatch(RegistryError):
    """The body's sha256 is not the digest asked for or announced: the registry (or a proxy) lied."""

    verdict = Verdict.manifest_invalid_or_unsupported


class ResponseTooLarge(RegistryError):
    verdict = Verdict.manifest_invalid_or_unsupported


class RegistryServerError(RegistryError):
    """5xx or an answer that makes no sense for the request."""


# --- the registry could not be reached ----------------------------------------------------------


class RegistryUnreachable(ImagecheckError):
    pass


class DNSFailure(RegistryUnreachable):
    verdict = Verdict.dns_error


class ConnectionRefused(RegistryUnreachable):
    verdict = Verdict.connection_refused


class NetworkTimeout(RegistryUnreachable):
    verdict = Verdict.network_timeout


class TLSFailure(RegistryUnreachable):
    verdict = Verdict.tls_error

    def __init__(self, message: str, *, reason: str = "other", evidence: Evidence | None = None) -> None:
        super().__init__(message, evidence=evidence)
        self.reason = reason  # unknown_authority | expired | hostname_mismatch | other


class InsecureHTTP(RegistryUnreachable):
    """The registry speaks plain HTTP where HTTPS was expected (or the reverse)."""

    verdict = Verdict.insecure_http


class ProxyFailure(RegistryUnreachable):
    pass


# --- state --------------------------------------------------------------------------------------


class StoreUnavailable(ImagecheckError):
    """Redis is down or timing out. Callers degrade (no cache) rather than fail."""
