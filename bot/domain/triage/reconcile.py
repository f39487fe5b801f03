"""Reconcile what the pasted log says with what the registry says now.

The log is the node's view at the time of the failure; a ``Diagnosis`` is imagecheck's view now, from
imagecheck's network position and with imagecheck's credentials. Agreement confirms the cause;
disagreement is itself a finding (a stale mirror, replication delay, a re-pushed tag, the node's
credentials or network path differing from ours), and each sentence cites the check's evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import InvalidPlatform
from bot.domain.models import Category, Diagnosis, TriageResult, Verdict
from bot.domain.reference import parse_platform, platform_matches
from bot.domain.remedy import FindingKind
from bot.domain.triage.focus import tied_references

_NOT_FOUND = {Category.tag_not_found, Category.digest_not_found}
_NODE_PATH = {Category.dns_error, Category.network_timeout, Category.connection_refused, Category.proxy_error,
              Category.tls_error, Category.insecure_http, Category.clock_skew}
_AUTH_VERDICTS = {Verdict.auth_required, Verdict.auth_forbidden, Verdict.repo_not_found_or_denied}
_NODE_PATH_HINT = {
    Category.dns_error: "its DNS resolver or search domains",
    Category.network_timeout: "its firewall, egress rules or link",
    Category.connection_refused: "its routing or firewall",
    Category.proxy_error: "its proxy settings",
    Category.tls_error: "its CA bundle or a TLS-intercepting proxy",
    Category.insecure_http: "its insecure-registry settings",
    Category.clock_skew: "its clock",
}


def _short(digest: str | None) -> str:
    if not digest:
        return "no digest"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest


def _evidence(d: Diagnosis) -> str:
    """A compact citation of the check: digest, the first finding's status/code, when and whether cached."""
    parts: list[str] = []
    if d.digest:
        parts.append(_short(d.digest))
    for finding in d.findings:
        ev = finding.evidence
        if ev.status is not None or ev.error_code:
            code = f" {ev.error_code}" if ev.error_code else ""
            parts.append(f"HTTP {ev.status}{code}" if ev.status is not None else code.strip())
            break
    when = d.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts.append(f"checked {when}" + (f", cached {d.cache_age_s:.0f}s" if d.from_cache and d.cache_age_s else ""))
    if d.registry:
        parts.append(f"via {d.registry}")
    return "; ".join(parts)


def _offered(d: Diagnosis) -> str:
    return ", ".join(p.platform for p in d.platforms) or "no platform list"


def _same_platform(a: str, b: str) -> bool:
    """Compare like containerd does (``linux/arm64`` is ``linux/arm64/v8``); unparseable text compares as written."""
    try:
        return platform_matches(parse_platform(a), parse_platform(b))
    except InvalidPlatform:
        return a == b


def _offers(d: Diagnosis, wanted: str) -> bool:
    """Whether the checked index lists ``wanted``."""
    return any(_same_platform(wanted, p.platform) for p in d.platforms)


def _checked_for(d: Diagnosis, wanted: str) -> bool:
    return any(_same_platform(wanted, p) for p in d.wanted_platforms)


def _auth_confirmation(d: Diagnosis) -> str:
    """Say which request the registry refused: ours with credentials, or ours without any."""
    kinds = {f.kind for f in d.findings}
    if FindingKind.credentials_withheld in kinds:
        return ("confirmed, our check was also refused with 401; it went without credentials because the "
                "configured ones are not sent to the registry's token realm (see token_realms)")
    if FindingKind.identity_token_rejected in kinds:  # an OAuth refresh token: refused 400 invalid_grant
        return ("confirmed, the registry's token service also refused our identity token (expired or "
                "revoked: log in again)")
    if FindingKind.credentials_rejected in kinds:
        return "confirmed, the registry also refused our configured credentials with 401"
    return "confirmed, our anonymous check was also refused with 401"


def _no_platform_checked(ref: str, d: Diagnosis, cite: str) -> str:
    """A check that wanted no platform says nothing about a platform mismatch: it only read the tag."""
    offers = f" The index offers {_offered(d)}." if d.platforms else ""
    return (f"{ref}: the check covered no platform (the log names none and none was asked for) {cite}, so it "
            f"can neither confirm nor rule out the mismatch.{offers} Check again with --platform <node "
            "os/arch> (the node's platform, e.g. linux/arm64).")


def _untied(ref: str, d: Diagnosis, cite: str) -> str:
    return (f"{ref}: the log does not tie this image to the failure; the registry says {d.verdict.value}: "
            f"{d.summary} {cite}.")


def _one(result: TriageResult, d: Diagnosis, tied: frozenset[str] | None) -> str:
    ref = d.reference.familiar
    cat = result.category
    v = d.verdict
    cite = f"({_evidence(d)})"
    if v is Verdict.blocked_by_policy:
        if any(f.kind == FindingKind.restricted_hop for f in d.findings):  # it answered; its hop was refused
            return f"{ref}: not checked, its registry sent imagecheck on to a restricted registry {cite}."
        return f"{ref}: not checked, the registry is outside imagecheck's egress policy {cite}."
    # The category is what the failure lines say; an image only mentioned elsewhere in the paste (a
    # sidecar "already present on machine") did not fail that way, so it gets no category sentence.
    if tied is not None and d.reference.normalized not in tied:
        return _untied(ref, d, cite)
    if cat in _NOT_FOUND:
        if v is Verdict.ok:
            return (f"{ref}: the log says it was not found, but the registry has it now {cite}. Likely: the "
                    "node pulled through a stale mirror or pull-through cache, registry replication had not "
                    "caught up yet, the tag was pushed or re-pushed after the failure, or the node's "
                    "credentials differ from ours (some registries answer 'not found' to callers without "
                    "access).")
        if v.value == cat.value:
            tags = f" Tags that exist: {', '.join(d.suggested_tags[:5])}." if d.suggested_tags else ""
            return f"{ref}: confirmed, the registry still has no such manifest {cite}.{tags}"
        if v is Verdict.mirror_stale:
            return f"{ref}: confirmed the mirror is behind its upstream: {d.summary} {cite}."
        if v in _AUTH_VERDICTS:
            return (f"{ref}: the registry now refuses us ({v.value}) {cite}; its 'not found' may be how it "
                    "hides a private repository from callers without access.")
    if cat is Category.repo_not_found_or_denied:
        if v in _AUTH_VERDICTS:
            return (f"{ref}: confirmed, the registry does not show us the repository either ({v.value}) "
                    f"{cite}: it does not exist, or it is private to credentials we do not have.")
        if v is Verdict.ok:
            return (f"{ref}: the repository exists and we can read it {cite}, so the node is missing the right "
                    "credentials for this registry host (imagePullSecrets, credential helper).")
    if cat is Category.auth_required:
        if v is Verdict.auth_required:
            return f"{ref}: {_auth_confirmation(d)} {cite}: the registry requires credentials for this repository."
        if v is Verdict.ok:
            return (f"{ref}: our check succeeded {cite}, so the image is there; the node's credentials are "
                    "missing, wrong or expired.")
    if cat is Category.auth_forbidden:
        if v in _AUTH_VERDICTS:
            return f"{ref}: confirmed, the registry refuses us too ({v.value}) {cite}."
        if v is Verdict.ok:
            return (f"{ref}: we may pull it {cite}; the identity the node uses lacks pull permission, or the "
                    "node's address is blocked.")
    if cat is Category.platform_mismatch:
        wanted = result.platform
        if v is Verdict.platform_mismatch:
            missing = ", ".join(d.missing_platforms) or wanted or "the wanted platform"
            return f"{ref}: confirmed, the index lacks {missing}; it offers {_offered(d)} {cite}."
        if not wanted and not d.wanted_platforms:
            return _no_platform_checked(ref, d, cite)
        # A passing check for the log's platform means the registry serves it now, whatever the spelling.
        served_now = wanted is not None and (_offers(d, wanted) or (v is Verdict.ok and _checked_for(d, wanted)))
        if wanted and (served_now or d.platforms):
            if served_now:
                return (f"{ref}: the index offers {wanted} now {cite}: the image was probably re-pushed with "
                        "more platforms after the failure, or the node pulled through a mirror holding an "
                        "older index.")
            return f"{ref}: confirmed, the index offers {_offered(d)}, not {wanted} {cite}."
        if v is Verdict.ok and wanted:
            return (f"{ref}: the check passed for {', '.join(d.wanted_platforms) or 'its default platforms'} "
                    f"{cite}; check again with --platform {wanted} to test the node's platform.")
    if cat is Category.rate_limited:
        if v is Verdict.rate_limited:
            return f"{ref}: confirmed, the registry is rate-limiting us too {cite}."
        return (f"{ref}: we are not rate-limited ({v.value}) {cite}; the limit applies to the node's source "
                "IP or account (Docker Hub counts anonymous pulls per IP).")
    if cat in _NODE_PATH:
        if v.value == cat.value:
            return f"{ref}: confirmed from here too: {d.summary} {cite}."
        if v is Verdict.ok:
            return (f"{ref}: the registry answers us normally {cite}, so the {cat.value.replace('_', ' ')} is "
                    f"on the node's side: check {_NODE_PATH_HINT[cat]}.")
    if cat is Category.blob_unknown and v is Verdict.ok:
        return (f"{ref}: the manifest resolves now {cite}; a missing blob points at an incomplete push or a "
                "mirror missing layers: re-push, or purge the image from the mirror.")
    if cat is Category.manifest_invalid_or_unsupported and v is Verdict.ok:
        return (f"{ref}: the registry serves us a valid manifest ({d.media_type or 'unknown type'}) {cite}; a "
                "proxy or mirror on the node's path may be serving something else.")
    if cat is Category.disk_or_storage and v is Verdict.ok:
        return f"{ref}: the registry side is fine {cite}; the failure is the node's disk."
    if cat in (Category.backoff_only, Category.other, Category.invalid_reference):
        return f"{ref}: the log gives no registry-side cause; the registry says {v.value}: {d.summary} {cite}."
    if v.value == cat.value:
        return f"{ref}: confirmed: {d.summary} {cite}."
    return (f"{ref}: the log says {cat.value}, but the registry now answers {v.value}: {d.summary} {cite}.")


def reconcile(result: TriageResult, diagnoses: Sequence[Diagnosis]) -> list[str]:
    """One sentence per diagnosis comparing the log's category with the registry's verdict now.

    Only references the category's evidence lines name (or every one, when those lines name none) are
    compared with the category; the others are reported as not tied to the failure.
    """
    tied = tied_references(result)
    return [_one(result, d, tied) for d in diagnoses]
