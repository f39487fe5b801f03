"""The checks, as a plan over ports: ask the registry the fewest questions that explain a pull.

1. Resolve the reference: one manifest GET (on Docker Hub a HEAD first, because HEADs don't spend pull
   quota and often answer the question on their own).
2. When that fails, explain the failure with evidence. A 404 is followed by the tags list, which is
   what tells "no such tag" (the repository answers; list the nearest tags) from "no such repository"
   (``NAME_UNKNOWN``). A 401 is explained by who asked: anonymously, with credentials, and whether
   the registry only said ``insufficient_scope`` (private *or* missing; it won't say which).
3. When it resolves, check what the node will need next: the wanted platforms in the index (or the
   single image's config), that the chosen children still exist (dangling index), with ``deep`` every
   config and layer blob, and that each mirror serves the same digest as upstream.
4. Along the way, note the registry's clock (``Date``) and pull quota.

Every finding carries what was observed; ``remedy.remediation_for`` turns the result into next steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

from bot.domain.errors import (
    BlobUnknown,
    EgressDenied,
    HopToRestrictedRegistry,
    ImagecheckError,
    ManifestUnknown,
    NameUnknown,
    RateLimited,
    RegistryAuthError,
    RegistryDenied,
    RegistryError,
    RegistryUnreachable,
)
from bot.domain.models import (
    Descriptor,
    Diagnosis,
    Evidence,
    Finding,
    ImageRef,
    IndexEntry,
    Manifest,
    ManifestKind,
    Platform,
    PlatformDigest,
    RateLimit,
    ResponseMeta,
    Severity,
    Verdict,
)
from bot.domain.ports import Clock, RegistryPort
from bot.domain.reference import platform_matches, select_platform
from bot.domain.remedy import FindingKind, remediation_for
from bot.domain.tags import nearest_tags

# Registries whose quota counts manifest GETs but not HEADs.
HEAD_FIRST_REGISTRIES = frozenset({"docker.io", "registry-1.docker.io", "index.docker.io"})
MAX_CHILDREN_CHECKED = 8  # an index with 30 platforms shouldn't cost 30 requests
MAX_BLOBS_CHECKED = 64
MAX_CONCURRENT_HEADS = 8
CLOCK_SKEW_LIMIT_S = 60.0
SUGGESTED_TAGS = 5

T = TypeVar("T")


def short_digest(digest: str | None) -> str:
    """``sha256:4c3b7d6b2a6d…`` — enough to tell digests apart in a sentence."""
    if not digest:
        return "?"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}…" if hexpart else digest


def _age(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f}".removesuffix(".0") + " h"


def _error_evidence(exc: ImagecheckError) -> Evidence:
    ev = exc.evidence.model_copy()
    if isinstance(exc, RegistryUnreachable) and not ev.exception:
        ev.exception = f"{type(exc).__name__}: {exc.message}"
    if ev.message is None and not isinstance(exc, EgressDenied):
        ev.message = exc.message
    return ev


def _meta_evidence(meta: ResponseMeta) -> Evidence:
    return Evidence(status=meta.status, url=meta.url)


def _is_attestation(entry: IndexEntry) -> bool:
    # buildkit marks provenance/SBOM manifests unknown/unknown; no node will ever pull them.
    p = entry.platform
    return entry.attestation or (p is not None and p.os == "unknown" and p.architecture == "unknown")


class _Diagnoser:
    """The state of one diagnosis while its plan runs. Not reused."""

    def __init__(self, ref: ImageRef, registry: RegistryPort, *, wanted: Sequence[Platform], deep: bool,
                 mirrors: Sequence[str], clock: Clock) -> None:
        self.ref = ref
        self.reg = registry
        self.wanted = list(dict.fromkeys(wanted))
        self.deep = deep
        self.mirrors = [m for m in dict.fromkeys(mirrors) if m != ref.domain]
        self.clock = clock
        self.verdict = Verdict.ok
        self.summary = ""
        self.digest: str | None = None
        self.media_type: str | None = None
        self.platforms: list[PlatformDigest] = []
        self.missing: list[str] = []
        self.suggested: list[str] = []
        self.findings: list[Finding] = []
        self._dates: list[tuple[datetime, datetime, Evidence]] = []  # (registry Date, our clock, where)
        self._quota: RateLimit | None = None
        self._problems: list[tuple[Verdict, str]] = []  # verdicts found after resolving, in priority order
        self._blob_failures = 0
        self.resolved = False  # the upstream answered with the manifest (a GET or a sufficient HEAD)

    # --- bookkeeping ----------------------------------------------------------------------------

    def add(self, kind: FindingKind, summary: str, evidence: Evidence | None = None,
            severity: Severity = Severity.info) -> None:
        self.findings.append(Finding(kind=kind, severity=severity, summary=summary,
                                     evidence=evidence or Evidence()))

    def fail(self, verdict: Verdict, summary: str) -> None:
        self.verdict = verdict
        self.summary = summary

    def observe(self, meta: ResponseMeta | None) -> None:
        if meta is None:
            return
        if meta.date is not None:
            self._dates.append((meta.date, self.clock.now(), Evidence(url=meta.url, headers={
                "date": meta.date.strftime("%a, %d %b %Y %H:%M:%S GMT")})))
        if meta.rate_limit is not None and meta.rate_limit.remaining is not None:
            self._quota = meta.rate_limit

    def observe_error(self, exc: ImagecheckError) -> None:
        headers = {k.lower(): v for k, v in exc.evidence.headers.items()}
        raw = headers.get("date")
        if raw:
            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                return
            if when.tzinfo is not None:
                self._dates.append((when, self.clock.now(), Evidence(url=exc.evidence.url,
                                                                     headers={"date": raw})))

    @property
    def host(self) -> str:
        return self.ref.domain

    @property
    def repo(self) -> str:
        return self.ref.path

    # --- the plan -------------------------------------------------------------------------------

    async def run(self) -> None:
        manifest = await self.resolve()
        if manifest is not None:
            await self.inspect(manifest)
            if self._problems:
                self.fail(*self._problems[0])
            else:
                self.summary = self._ok_summary(manifest)
        if self.resolved and self.mirrors and self.digest:
            await self.compare_mirrors()
        self.note_clock_and_quota()

    async def resolve(self) -> Manifest | None:
        reference = self.ref.reference
        try:
            if self.host in HEAD_FIRST_REGISTRIES and not (self.wanted or self.deep):
                # A HEAD may answer on its own (no quota spent); with platforms or --deep the body is
                # needed anyway, so the HEAD would only be one request more.
                head = await self.reg.head_manifest(self.host, self.repo, reference)
                self.observe(head.meta)
                if not self._needs_body(head.media_type):
                    self.digest, self.media_type = head.digest, head.media_type
                    self.add(FindingKind.resolved,
                             f"{self.ref.familiar} resolves to {head.digest} ({head.media_type})",
                             _meta_evidence(head.meta))
                    self.summary = (f"{self.ref.familiar} is pullable: {short_digest(head.digest)} "
                                    f"(checked with a HEAD, no pull quota spent).")
                    self.resolved = True
                    return None
            manifest = await self.reg.get_manifest(self.host, self.repo, reference)
        except ImagecheckError as exc:
            self.observe_error(exc)
            await self.explain(exc)
            return None
        self.observe(manifest.meta)
        self.resolved = True
        self.digest, self.media_type = manifest.digest, manifest.media_type
        self.add(FindingKind.resolved, f"{self.ref.familiar} resolves to {manifest.digest} "
                                       f"({manifest.media_type})", _meta_evidence(manifest.meta))
        return manifest

    def _needs_body(self, media_type: str | None) -> bool:
        if self.wanted or self.deep or media_type is None:
            return True
        mt = media_type.lower()
        # An index needs its body for the platform list and the dangling-child check; schema 1 to say so.
        return "index" in mt or "manifest.list" in mt or "distribution.manifest.v1" in mt

    # --- when the manifest request failed -------------------------------------------------------

    async def explain(self, exc: ImagecheckError) -> None:
        if isinstance(exc, NameUnknown):
            self._repository_missing(exc.evidence, None)
        elif isinstance(exc, ManifestUnknown):
            await self._explain_not_found(exc)
        elif isinstance(exc, RegistryAuthError):
            await self._explain_auth(exc)
        elif isinstance(exc, RegistryDenied):
            self.add(FindingKind.access_denied, f"{self.host} denied pulling {self.repo}: {exc.message}",
                     _error_evidence(exc), Severity.error)
            self.fail(Verdict.auth_forbidden,
                      f"{self.host} knows who we are but won't let us pull {self.repo} (403 denied).")
        elif isinstance(exc, RateLimited):
            self._rate_limited(exc)
        elif isinstance(exc, HopToRestrictedRegistry):
            # The registry answered, then sent us on to a registry the settings restrict. Which one is
            # not said (the asker may be kept out of it); the evidence is the checked registry's hop.
            self.add(FindingKind.restricted_hop, f"{self.host}: {exc.message}", _error_evidence(exc),
                     Severity.error)
            self.fail(Verdict.blocked_by_policy,
                      f"{self.host} sent imagecheck on to a restricted registry, which imagecheck does not "
                      f"follow from another registry; the image could not be checked.")
        elif isinstance(exc, EgressDenied):
            # Say nothing about where the name resolved to: that is what the policy protects. But say
            # WHICH host was refused: a registry that answered and then sent us to an unlisted token
            # realm or redirect target is a different fix from a registry we may not contact at all.
            elsewhere = _refused_elsewhere(exc.evidence.url, self.host)
            if elsewhere:
                self.add(FindingKind.hop_refused,
                         f"{self.host} answered, then sent imagecheck to {elsewhere} (its token realm or a "
                         f"redirect), which imagecheck's egress policy does not allow",
                         Evidence(message="blocked by imagecheck's egress policy", url=exc.evidence.url),
                         Severity.error)
                self.fail(Verdict.blocked_by_policy,
                          f"{self.host} sends clients to {elsewhere}, which imagecheck may not contact; "
                          f"the image could not be checked.")
            else:
                self.add(FindingKind.blocked_by_policy,
                         f"imagecheck's egress policy does not allow contacting {self.host}",
                         Evidence(message="blocked by imagecheck's egress policy"), Severity.error)
                self.fail(Verdict.blocked_by_policy,
                          f"imagecheck may not contact {self.host}; nothing was checked.")
        elif isinstance(exc, RegistryUnreachable) and exc.verdict is not None:
            self.add(FindingKind.unreachable, exc.message, _error_evidence(exc), Severity.error)
            self.fail(exc.verdict, f"Could not talk to {self.host}: {exc.message}.")
        elif exc.verdict is Verdict.manifest_invalid_or_unsupported:
            self.add(FindingKind.manifest_unsupported, exc.message, _error_evidence(exc), Severity.error)
            self.fail(Verdict.manifest_invalid_or_unsupported,
                      f"{self.ref.familiar} has a manifest container runtimes won't pull: {exc.message}.")
        else:
            # 5xx and answers that make no sense are the registry's own failure; an unreachable error
            # without a verdict of its own (a proxy in the way) is closest to a refused connection.
            self.add(FindingKind.registry_error, exc.message, _error_evidence(exc), Severity.error)
            verdict = Verdict.connection_refused if isinstance(exc, RegistryUnreachable) else \
                Verdict.registry_error
            self.fail(verdict, f"{self.host} failed to answer for {self.ref.familiar}: {exc.message}.")

    def _repository_missing(self, evidence: Evidence, manifest_evidence: Evidence | None) -> None:
        if manifest_evidence is not None:
            self.add(FindingKind.tag_missing if not self.ref.digest else FindingKind.digest_missing,
                     f"The manifest request for {self.ref.reference} answered "
                     f"{manifest_evidence.status} {manifest_evidence.error_code or ''}".rstrip(),
                     manifest_evidence)
        self.add(FindingKind.repository_missing,
                 f"The repository {self.repo} does not exist on {self.host} "
                 f"({evidence.status or 404} {evidence.error_code or 'NAME_UNKNOWN'}"
                 + (" from its tags list)" if manifest_evidence is not None else ")"),
                 evidence, Severity.error)
        self.fail(Verdict.repo_not_found_or_denied,
                  f"Repository {self.repo} does not exist on {self.host} (the registry says NAME_UNKNOWN).")

    async def _explain_not_found(self, exc: ManifestUnknown) -> None:
        manifest_ev = _error_evidence(exc)
        try:
            tags = await self.reg.list_tags(self.host, self.repo)
        except NameUnknown as name_exc:
            self._repository_missing(_error_evidence(name_exc), manifest_ev)
            return
        except ImagecheckError as tags_exc:
            self.observe_error(tags_exc)
            self.add(FindingKind.tags_unavailable,
                     f"Could not list the tags of {self.repo} to tell a missing tag from a missing "
                     f"repository: {tags_exc.message}", _error_evidence(tags_exc), Severity.warning)
            tags = None
        if self.ref.digest:
            await self._digest_missing(manifest_ev, tags.tags if tags else None)
            return
        tag = self.ref.tag or "latest"
        self.add(FindingKind.tag_missing, f"{self.host} has no manifest for tag {tag} "
                                          f"({manifest_ev.status} {manifest_ev.error_code or ''})".rstrip(),
                 manifest_ev, Severity.error)
        if tags is None:
            self.fail(Verdict.tag_not_found, f"Tag {tag} of {self.ref.name} was not found.")
            return
        self.observe(tags.meta)
        if tag in tags.tags:
            # Listed, yet its manifest is 404: the tag is broken (or the registry is mid-replication).
            # Suggesting the very tag that failed as "did you mean" would contradict the verdict.
            self.suggested = nearest_tags(tag, [t for t in tags.tags if t != tag], limit=SUGGESTED_TAGS)
            self.add(FindingKind.tag_listed_without_manifest,
                     f"{self.repo} lists tag {tag}, but the registry has no manifest for it",
                     _meta_evidence(tags.meta) if tags.meta else Evidence(), Severity.error)
            self.fail(Verdict.tag_not_found,
                      f"Tag {tag} is listed in {self.ref.name} but its manifest is missing (a broken tag, or "
                      f"a registry still replicating).")
            return
        self.suggested = nearest_tags(tag, tags.tags, limit=SUGGESTED_TAGS)
        listed = f"{len(tags.tags)} tags" + (" (list truncated)" if tags.truncated else "")
        self.add(FindingKind.tags_listed, f"The repository {self.repo} exists with {listed}"
                 + (f"; nearest to {tag}: {', '.join(self.suggested)}" if self.suggested else ""),
                 _meta_evidence(tags.meta) if tags.meta else Evidence())
        hint = f" Nearest existing tags: {', '.join(self.suggested)}." if self.suggested else ""
        self.fail(Verdict.tag_not_found,
                  f"Tag {tag} does not exist in {self.ref.name} (the repository exists).{hint}")

    async def _digest_missing(self, manifest_ev: Evidence, tags: list[str] | None) -> None:
        digest = self.ref.digest or ""
        status = f"{manifest_ev.status} {manifest_ev.error_code or ''}".rstrip()
        self.add(FindingKind.digest_missing, f"{self.host} has no manifest {digest} in {self.repo} "
                 f"({status})", manifest_ev, Severity.error)
        if tags is not None:
            self.add(FindingKind.tags_listed, f"The repository {self.repo} exists with {len(tags)} tags")
        tag = self.ref.tag
        if tag and tags is not None and tag in tags:
            # The tag written next to the digest still exists: say where it points now.
            try:
                head = await self.reg.head_manifest(self.host, self.repo, tag)
            except ImagecheckError as exc:
                self.observe_error(exc)
            else:
                self.observe(head.meta)
                self.digest = head.digest
                self.suggested = [tag]
                self.add(FindingKind.tag_points_to,
                         f"Tag {tag} now points to {head.digest}", _meta_evidence(head.meta))
        self.fail(Verdict.digest_not_found,
                  f"Digest {short_digest(digest)} is not in {self.ref.name} (deleted, garbage-collected, "
                  "or pushed elsewhere); the repository exists.")

    async def _explain_auth(self, exc: RegistryAuthError) -> None:
        ev = _error_evidence(exc)
        realm = exc.credentials_withheld_for_realm
        if realm and not exc.credentials_used:
            # Credentials exist but went nowhere: the refusal was of an anonymous request, say so.
            self.add(FindingKind.credentials_withheld,
                     f"Credentials for {self.host} exist but were not sent to its token realm {realm} (not listed "
                     "under token_realms), so the check asked anonymously",
                     Evidence(message=f"credentials withheld from token realm {realm}", host=realm), Severity.warning)
            if exc.insufficient_scope:
                self.add(FindingKind.access_hidden,
                         f"Asked anonymously, {self.host} answered insufficient_scope for {self.repo}: the "
                         "repository doesn't exist or anonymous callers lack access — the registry won't say which",
                         ev, Severity.error)
                self.fail(Verdict.repo_not_found_or_denied,
                          f"{self.repo} on {self.host} doesn't exist or isn't readable anonymously; the configured "
                          f"credentials were not sent to the token realm {realm}, so they are untested.")
                return
            self.add(FindingKind.auth_challenge, f"{self.host} requires authentication: {exc.message}", ev,
                     Severity.error)
            self.fail(Verdict.auth_required,
                      f"{self.host} requires credentials to pull {self.repo}; the configured ones were not sent to "
                      f"the token realm {realm}, so they are untested.")
            return
        if exc.oauth_refusal is not None:
            await self._identity_token_refused(exc, ev)
            return
        has_creds = exc.credentials_used or self.reg.has_credentials(self.host)
        if exc.insufficient_scope:
            who = ("with the configured credentials" if has_creds
                   else "anonymously (no credentials configured)")
            self.add(FindingKind.access_hidden,
                     f"Asked {who}, {self.host} answered insufficient_scope for {self.repo}: the repository "
                     "doesn't exist or you lack access — the registry won't say which", ev, Severity.error)
            self.fail(Verdict.repo_not_found_or_denied,
                      f"{self.repo} on {self.host} doesn't exist or you lack access — the registry won't say "
                      "which" + ("." if has_creds else "; no credentials are configured for it."))
            return
        if not has_creds:
            self.add(FindingKind.auth_challenge, f"{self.host} requires authentication: {exc.message}", ev,
                     Severity.error)
            self.fail(Verdict.auth_required,
                      f"{self.host} requires credentials to pull {self.repo}, and none are configured.")
            return
        self.add(FindingKind.credentials_rejected, f"{self.host} rejected the configured credentials: "
                                                   f"{exc.message}", ev, Severity.error)
        await self._try_anonymously(f"rejected the configured credentials for {self.repo}", ".",
                                    "remove or fix the credentials")

    async def _identity_token_refused(self, exc: RegistryAuthError, ev: Evidence) -> None:
        """The login is an identity token (an OAuth2 refresh token, what `az acr login` stores) and it
        was refused. The fix is a new login, not a new password: say so."""
        what = ("an identity token (an OAuth2 refresh token, which `az acr login` and OAuth-based `docker "
                "login`s store instead of a password)")
        if exc.oauth_refusal == "rejected":
            self.add(FindingKind.credentials_rejected, f"{self.host}: {exc.message}", ev, Severity.error)
            self.add(FindingKind.identity_token_rejected,
                     f"The login imagecheck has for {self.host} is {what}; once it expires or is revoked, only a "
                     "new login replaces it", severity=Severity.info)
            await self._try_anonymously(
                f"rejected the stored identity token for {self.repo}",
                ": it has expired or was revoked (an old `az acr login` or OAuth `docker login`); log in again.",
                "log in again, or remove the stale login")
            return
        self.add(FindingKind.credentials_rejected, f"{self.host}: {exc.message}", ev, Severity.error)
        self.add(FindingKind.identity_token_unsupported,
                 f"The login imagecheck has for {self.host} is {what}, and this registry does not take one",
                 severity=Severity.info)
        await self._try_anonymously(
            f"does not accept the stored identity token for {self.repo}",
            " (it takes no OAuth refresh tokens); log in with a username and password instead.",
            "log in with a username and password, or remove the login")

    async def _try_anonymously(self, refused: str, ending: str, fix: str) -> None:
        """After a refused login: would it work without one? Then the login is the whole problem.
        The verdict reads ``{host} {refused}{ending}``, or with ``(anonymous pulls work: {fix})``."""
        try:
            head = await self.reg.head_manifest(self.host, self.repo, self.ref.reference, anonymous=True)
        except ImagecheckError as anon_exc:
            self.observe_error(anon_exc)
            self.add(FindingKind.anonymous_access, f"Anonymously: {anon_exc.message}",
                     _error_evidence(anon_exc))
            self.fail(Verdict.auth_required, f"{self.host} {refused}{ending}")
        else:
            self.observe(head.meta)
            self.digest, self.media_type = head.digest, head.media_type
            self.add(FindingKind.anonymous_access,
                     f"Anonymously the image resolves ({head.digest}): only the credentials are wrong",
                     _meta_evidence(head.meta))
            self.fail(Verdict.auth_required, f"{self.host} {refused} (anonymous pulls work: {fix}).")

    def _rate_limited(self, exc: RateLimited) -> None:
        rl = exc.rate_limit
        parts = []
        if rl.remaining is not None:
            parts.append(f"{rl.remaining}" + (f" of {rl.limit}" if rl.limit is not None else "")
                         + " pulls left" + (f" per {_age(rl.window_s)}" if rl.window_s else ""))
        if rl.retry_after_s is not None:
            parts.append(f"retry after {_age(rl.retry_after_s)}")
        detail = f" ({'; '.join(parts)})" if parts else ""
        self.add(FindingKind.rate_limited, f"{self.host} answered {exc.status} {exc.code or ''}".rstrip()
                 + detail, _error_evidence(exc), Severity.error)
        self.fail(Verdict.rate_limited, f"{self.host} is rate limiting pulls{detail}.")

    # --- when it resolved -----------------------------------------------------------------------

    async def inspect(self, manifest: Manifest) -> None:
        if manifest.kind is ManifestKind.index:
            await self._inspect_index(manifest)
        elif manifest.kind is ManifestKind.image:
            await self._inspect_image(manifest)
        else:
            what = "Docker schema 1 (deprecated, refused by current runtimes)" \
                if manifest.kind is ManifestKind.schema1 else f"not a container image ({manifest.media_type})"
            self.add(FindingKind.manifest_unsupported, f"The manifest is {what}",
                     Evidence(status=manifest.meta.status, url=manifest.meta.url,
                              headers={"content-type": manifest.media_type}), Severity.error)
            self._problems.append((Verdict.manifest_invalid_or_unsupported,
                                   f"{self.ref.familiar} resolves, but its manifest is {what}."))

    async def _inspect_index(self, index: Manifest) -> None:
        entries = [e for e in index.entries if not _is_attestation(e)]
        self.platforms = [PlatformDigest(platform=str(e.platform) if e.platform else "unknown",
                                         digest=e.digest, media_type=e.media_type) for e in entries]
        present = ", ".join(p.platform for p in self.platforms) or "none"
        noun = "platform" if len(entries) == 1 else "platforms"
        self.add(FindingKind.platforms_present, f"The index lists {len(entries)} {noun}: {present}")
        chosen: list[IndexEntry] = []
        for want in self.wanted:
            entry = select_platform(want, entries)
            if entry is None:
                self.missing.append(str(want))
            elif entry not in chosen:
                chosen.append(entry)
        if self.missing:
            self.add(FindingKind.platform_missing,
                     f"No {', '.join(self.missing)} in the index (it has: {present})",
                     Evidence(url=index.meta.url, message=f"platforms in index: {present}"), Severity.error)
            self._problems.append((Verdict.platform_mismatch,
                                   f"{self.ref.familiar} has no {', '.join(self.missing)} image "
                                   f"(it has: {present})."))
        if not self.wanted:
            chosen = entries[:MAX_CHILDREN_CHECKED]
            if len(entries) > MAX_CHILDREN_CHECKED:
                self.add(FindingKind.children_truncated,
                         f"Checked the first {MAX_CHILDREN_CHECKED} of {len(entries)} platform manifests")
        dangling = [e for e, ok in zip(chosen, await self._bounded(self._check_child(e) for e in chosen),
                                       strict=True) if not ok]
        if dangling:
            names = ", ".join(str(e.platform) if e.platform else short_digest(e.digest) for e in dangling)
            self._problems.append((Verdict.dangling_index,
                                   f"{self.ref.familiar}'s index points at manifests the registry no longer "
                                   f"has ({names})."))
        self._add_blob_problem()

    async def _check_child(self, entry: IndexEntry) -> bool:
        """False when the child manifest is gone; other failures are noted and count as present."""
        label = str(entry.platform) if entry.platform else "child"
        try:
            if self.deep:
                child = await self.reg.get_manifest(self.host, self.repo, entry.digest)
                self.observe(child.meta)
                blobs = [child.config] if child.config else []
                await self._check_blobs([*blobs, *child.layers], label)
            else:
                head = await self.reg.head_manifest(self.host, self.repo, entry.digest)
                self.observe(head.meta)
        except ManifestUnknown as exc:
            status = f"{exc.status} {exc.code or ''}".rstrip()
            self.add(FindingKind.dangling_child,
                     f"The {label} manifest {entry.digest} is listed in the index but missing ({status})",
                     _error_evidence(exc), Severity.error)
            return False
        except ImagecheckError as exc:
            self.observe_error(exc)
            self.add(FindingKind.child_unchecked, f"Could not check the {label} manifest: {exc.message}",
                     _error_evidence(exc), Severity.warning)
        return True

    async def _inspect_image(self, image: Manifest) -> None:
        if not (self.wanted or self.deep) or image.config is None:
            return
        try:
            config = await self.reg.get_image_config(self.host, self.repo, image.config.digest)
        except BlobUnknown as exc:
            self._blob_missing(image.config, "config", exc)
        except ImagecheckError as exc:
            self.observe_error(exc)
            self.add(FindingKind.blob_unchecked, f"Could not read the image config: {exc.message}",
                     _error_evidence(exc), Severity.warning)
        else:
            self.observe(config.meta)
            if config.os and config.architecture:
                platform = Platform(os=config.os, architecture=config.architecture, variant=config.variant)
                self.platforms = [PlatformDigest(platform=str(platform), digest=image.digest,
                                                 media_type=image.media_type)]
                self.add(FindingKind.image_platform,
                         f"Single-platform image for {platform} (from its config blob)",
                         Evidence(url=config.meta.url if config.meta else None,
                                  message=f"config: os={config.os} architecture={config.architecture}"
                                          + (f" variant={config.variant}" if config.variant else "")))
                self.missing = [str(w) for w in self.wanted if not platform_matches(w, platform)]
                if self.missing:
                    self.add(FindingKind.platform_missing,
                             f"The image is {platform} only; wanted {', '.join(self.missing)}",
                             Evidence(message=f"config architecture={config.architecture}"), Severity.error)
                    self._problems.append((Verdict.platform_mismatch,
                                           f"{self.ref.familiar} is a single-platform {platform} image; "
                                           f"no {', '.join(self.missing)} variant exists."))
        if self.deep:
            await self._check_blobs(image.layers, "image")
        self._add_blob_problem()

    # --- blobs ----------------------------------------------------------------------------------

    def _blob_missing(self, blob: Descriptor, what: str, exc: RegistryError) -> None:
        self._blob_failures += 1
        self.add(FindingKind.blob_missing, f"The {what} blob {blob.digest} is missing "
                                           f"({exc.status} {exc.code or 'BLOB_UNKNOWN'})",
                 _error_evidence(exc), Severity.error)

    def _add_blob_problem(self) -> None:
        if self._blob_failures and not any(v is Verdict.blob_unknown for v, _ in self._problems):
            self._problems.append((Verdict.blob_unknown,
                                   f"{self.ref.familiar} resolves, but {self._blob_failures} of its blobs "
                                   "are missing: pulls will fail."))

    async def _check_blobs(self, blobs: Sequence[Descriptor], label: str) -> None:
        unique = list({b.digest: b for b in blobs}.values())[:MAX_BLOBS_CHECKED]

        async def head(blob: Descriptor) -> None:
            try:
                result = await self.reg.head_blob(self.host, self.repo, blob.digest)
                self.observe(result.meta)
            except BlobUnknown as exc:
                self._blob_missing(blob, f"{label} layer" if "config" not in blob.media_type
                                   else f"{label} config", exc)
            except ImagecheckError as exc:
                self.observe_error(exc)
                self.add(FindingKind.blob_unchecked, f"Could not check blob {short_digest(blob.digest)}: "
                                                     f"{exc.message}", _error_evidence(exc), Severity.warning)

        before = self._blob_failures
        await self._bounded(head(b) for b in unique)
        if self._blob_failures == before and unique:
            self.add(FindingKind.blobs_present,
                     f"All {len(unique)} blobs of the {label} manifest are present")

    @staticmethod
    async def _bounded(jobs: Iterable[Awaitable[T]]) -> list[T]:
        sem = asyncio.Semaphore(MAX_CONCURRENT_HEADS)

        async def one(job: Awaitable[T]) -> T:
            async with sem:
                return await job

        return list(await asyncio.gather(*(one(j) for j in jobs)))

    # --- mirrors --------------------------------------------------------------------------------

    async def compare_mirrors(self) -> None:
        reference = self.ref.reference
        for mirror in self.mirrors:
            try:
                head = await self.reg.head_manifest(mirror, self.repo, reference)
            except ManifestUnknown as exc:
                self.add(FindingKind.mirror_stale,
                         f"Mirror {mirror} has no {reference} while upstream {self.host} serves "
                         f"{self.digest}: the mirror is stale", _error_evidence(exc), Severity.error)
                self._mirror_problem(mirror, f"mirror {mirror} doesn't have it yet")
                continue
            except ImagecheckError as exc:
                self.observe_error(exc)
                self.add(FindingKind.mirror_unchecked, f"Could not ask mirror {mirror}: {exc.message}",
                         _error_evidence(exc), Severity.warning)
                continue
            self.observe(head.meta)
            ev = _meta_evidence(head.meta)
            ev.headers = {"docker-content-digest": head.digest or ""}
            if head.digest == self.digest:
                self.add(FindingKind.mirror_agrees, f"Mirror {mirror} serves the same digest as upstream", ev)
                continue
            self.add(FindingKind.mirror_stale,
                     f"Mirror {mirror} serves {head.digest} for {reference}, upstream {self.host} serves "
                     f"{self.digest}: the mirror is stale (upstream is the source of truth)",
                     ev, Severity.error)
            self._mirror_problem(mirror, f"mirror {mirror} serves {short_digest(head.digest)}, upstream "
                                         f"{short_digest(self.digest)}")

    def _mirror_problem(self, mirror: str, detail: str) -> None:
        if self.verdict is Verdict.ok:
            self.fail(Verdict.mirror_stale,
                      f"{self.ref.familiar}: {detail}. Nodes pulling through the mirror get old or no "
                      "content.")

    # --- closing notes --------------------------------------------------------------------------

    def note_clock_and_quota(self) -> None:
        if self._dates:
            theirs, ours, ev = self._dates[0]
            skew = (theirs - ours).total_seconds()
            if abs(skew) > CLOCK_SKEW_LIMIT_S:
                direction = "ahead of" if skew > 0 else "behind"
                ev.message = f"registry Date {theirs.isoformat()} vs our clock {ours.isoformat()}"
                self.add(FindingKind.clock_skew,
                         f"{self.host}'s clock is {_age(skew)} {direction} ours: tokens and certificates "
                         "fail on skewed clocks", ev, Severity.warning)
        if self._quota is not None and self.verdict is not Verdict.rate_limited:
            q = self._quota
            window = f" per {_age(q.window_s)}" if q.window_s else ""
            total = f" of {q.limit}" if q.limit is not None else ""
            self.add(FindingKind.pull_quota, f"Pull quota: {q.remaining}{total} left{window}",
                     Evidence(headers={"ratelimit-remaining": str(q.remaining)}),
                     Severity.warning if q.remaining == 0 else Severity.info)

    def _ok_summary(self, manifest: Manifest) -> str:
        what = f"an index of {len(self.platforms)} platforms" if manifest.kind is ManifestKind.index else (
            f"a {self.platforms[0].platform} image" if self.platforms else "a single-platform image")
        wanted = f"; has {', '.join(str(w) for w in self.wanted)}" if self.wanted else ""
        return f"{self.ref.familiar} is pullable: {short_digest(manifest.digest)}, {what}{wanted}."


async def diagnose(ref: ImageRef, registry: RegistryPort, *, platforms: Sequence[Platform] = (),
                   deep: bool = False, mirrors: Sequence[str] = (), clock: Clock) -> Diagnosis:
    """Check ``ref`` against its registry (and ``mirrors``) and explain what a pull would hit."""
    started = clock.monotonic()
    checked_at = clock.now()
    plan = _Diagnoser(ref, registry, wanted=platforms, deep=deep, mirrors=mirrors, clock=clock)
    await plan.run()
    diagnosis = Diagnosis(
        reference=ref, verdict=plan.verdict, summary=plan.summary, registry=ref.domain,
        digest=plan.digest, media_type=plan.media_type, platforms=plan.platforms,
        wanted_platforms=[str(p) for p in plan.wanted], missing_platforms=plan.missing,
        suggested_tags=plan.suggested, findings=plan.findings, requests=registry.request_count,
        checked_at=checked_at, duration_ms=(clock.monotonic() - started) * 1000.0)
    diagnosis.remediation = remediation_for(diagnosis)
    return diagnosis


_DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def _refused_elsewhere(url: str | None, registry: str) -> str | None:
    """The ``host[:port]`` of a refused URL when it is not the registry itself, else None."""
    if not url:
        return None
    netloc = urlsplit(url).netloc.rpartition("@")[2].lower()
    if not netloc:
        return None
    same = {registry.lower()}
    if registry.lower() in _DOCKER_HUB_HOSTS:
        same |= _DOCKER_HUB_HOSTS
    bare = netloc.removesuffix(":443")
    return None if netloc in same or bare in same else netloc
