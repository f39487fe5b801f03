"""Verdict and findings -> ordered next steps that someone paged at 3 am can follow without thinking.

Steps come in the order they should be done: stop the bleeding first (usually: pin the digest that
resolved), then confirm on the node what can't be seen from outside it, then fix the cause for good.
Placeholders a person must fill in are written ``<like-this>``; everything else is copy-pasteable.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from enum import StrEnum

from bot.domain.models import Diagnosis, RemediationStep, Verdict


class FindingKind(StrEnum):
    """Stable machine names for ``Finding.kind``; renderers and tests may rely on them."""

    resolved = "resolved"
    repository_missing = "repository_missing"
    tag_missing = "tag_missing"
    tag_listed_without_manifest = "tag_listed_without_manifest"
    digest_missing = "digest_missing"
    tags_listed = "tags_listed"
    tags_unavailable = "tags_unavailable"
    tag_points_to = "tag_points_to"
    auth_challenge = "auth_challenge"
    access_hidden = "access_hidden"
    credentials_rejected = "credentials_rejected"
    credentials_withheld = "credentials_withheld"
    # the login is an identity token (OAuth refresh token) that was refused / that this registry won't take
    identity_token_rejected = "identity_token_rejected"  # noqa: S105 - a finding kind, no secret
    identity_token_unsupported = "identity_token_unsupported"  # noqa: S105 - a finding kind, no secret
    anonymous_access = "anonymous_access"
    access_denied = "access_denied"
    rate_limited = "rate_limited"
    pull_quota = "pull_quota"
    unreachable = "unreachable"
    blocked_by_policy = "blocked_by_policy"
    hop_refused = "hop_refused"  # the registry answered; its token realm or redirect is outside the policy
    restricted_hop = "restricted_hop"  # the registry answered; it sent us on to a channel-restricted registry
    registry_error = "registry_error"
    manifest_unsupported = "manifest_unsupported"
    platforms_present = "platforms_present"
    platform_missing = "platform_missing"
    image_platform = "image_platform"
    children_truncated = "children_truncated"
    dangling_child = "dangling_child"
    child_unchecked = "child_unchecked"
    blob_missing = "blob_missing"
    blobs_present = "blobs_present"
    blob_unchecked = "blob_unchecked"
    mirror_agrees = "mirror_agrees"
    mirror_stale = "mirror_stale"
    mirror_unchecked = "mirror_unchecked"
    clock_skew = "clock_skew"
    tag_moved = "tag_moved"


def _has(d: Diagnosis, kind: FindingKind) -> bool:
    return any(f.kind == kind for f in d.findings)


def _pin(d: Diagnosis, digest: str | None = None) -> RemediationStep | None:
    digest = digest or d.digest
    if not digest:
        return None
    pinned = d.reference.with_digest(digest)
    return RemediationStep(
        text=f"Stop the bleeding: deploy by digest, which cannot move or be mistyped ({d.reference.familiar} "
             f"resolved to {digest}).",
        command=f"kubectl -n <namespace> set image deploy/<deployment> <container>={pinned}")


def _node_pull(d: Diagnosis) -> RemediationStep:
    return RemediationStep(
        text="Pull it from an affected node itself (the node's network path, mirror and credentials are "
             "what matter, not your laptop's):",
        command=f"crictl pull {d.reference.normalized}")


def _pod_events() -> RemediationStep:
    return RemediationStep(text="Read the kubelet's exact pull error in the pod's events:",
                           command="kubectl -n <namespace> describe pod <pod> | sed -n '/Events:/,$p'")


def _pull_secret_hosts(d: Diagnosis) -> RemediationStep:
    return RemediationStep(
        text=f"Check the pod's pull secret has an entry for exactly `{d.reference.domain}` (an old or "
             "differently spelled host gets no credentials):",
        command="kubectl -n <namespace> get secret <pull-secret> -o jsonpath='{.data.\\.dockerconfigjson}' "
                "| base64 -d | jq -r '.auths | keys[]'")


def _mirror_settings() -> RemediationStep:
    # Nodes bootstrapped differently pull through different mirrors: "fails on some nodes only".
    return RemediationStep(text="See which mirror the node's runtime pulls through (compare a failing node "
                                "with a healthy one):",
                           command="docker info | grep -A3 'Registry Mirrors'  # containerd: "
                                   "ls /etc/containerd/certs.d/")


def _inspect(d: Diagnosis, ref: str | None = None) -> RemediationStep:
    ref = ref or d.reference.normalized
    return RemediationStep(text="Confirm from anywhere with registry access:",
                           command=f"skopeo inspect --raw docker://{ref}")


def _steps_ok(d: Diagnosis) -> list[RemediationStep | None]:
    local = d.reference.normalized
    return [
        RemediationStep(text="The registry serves this image. If pods still fail, the cause is on the "
                             "node's side: its network path, mirror, credentials or architecture."),
        _node_pull(d),
        RemediationStep(text="Compare what the node has cached with the digest above:",
                        command=f"crictl images --digests | grep {d.reference.path}  # docker: "
                                f"docker image inspect --format '{{{{json .RepoDigests}}}}' {local}"),
        _mirror_settings(),
        _pull_secret_hosts(d),
        _pin(d),
    ]


def _steps_tag_not_found(d: Diagnosis) -> list[RemediationStep | None]:
    tag = d.reference.tag or "latest"
    steps: list[RemediationStep | None] = []
    if _has(d, FindingKind.tag_listed_without_manifest):
        steps.append(RemediationStep(
            text=f"The registry lists tag `{tag}` but serves no manifest for it: a broken tag (its manifest "
                 "was deleted under it) or a registry still replicating. Push the tag again, or wait and "
                 "re-check if the registry replicates between regions:",
            command=f"imagecheck check --fresh {shlex.quote(d.reference.input)}"))
    if d.suggested_tags:
        nearest = d.suggested_tags[0]
        steps.append(RemediationStep(
            text=f"Tag `{tag}` does not exist. Did you mean `{nearest}`? Nearest existing tags: "
                 f"{', '.join(d.suggested_tags)}. Fix the reference in the deployment:",
            command=f"kubectl -n <namespace> set image deploy/<deployment> "
                    f"<container>={d.reference.name}:{nearest}"))
    else:
        steps.append(RemediationStep(text=f"Tag `{tag}` does not exist in {d.reference.name}; check the "
                                          "spelling, the project/namespace and the registry host."))
    steps += [
        RemediationStep(text="If the last healthy rollout ran a digest, pin it (it still pulls if the "
                             "manifest was only untagged):",
                        command="kubectl -n <namespace> get pods -o jsonpath='{range .items[*]}"
                                "{.status.containerStatuses[*].imageID}{\"\\n\"}{end}' | sort -u"),
        RemediationStep(text="If the tag should exist, find out why it was never pushed or was deleted: "
                             f"the CI push job's log (did it push to `{d.reference.domain}/{d.reference.path}` "
                             "exactly, or to another registry, region or project?), the registry's "
                             "retention/cleanup policy."),
        _inspect(d),
    ]
    return steps


def _steps_digest_not_found(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"The registry has no manifest {d.reference.digest} in {d.reference.name}: it "
                             "was deleted or garbage-collected, or it was pushed to another registry."),
        RemediationStep(text="Find a digest that still pulls: what healthy pods run now, or the CI log of "
                             "the release:",
                        command="kubectl -n <namespace> get pods -o jsonpath='{range .items[*]}"
                                "{.status.containerStatuses[*].imageID}{\"\\n\"}{end}' | sort -u"),
        _pin(d) if d.digest and d.digest != d.reference.digest else None,
        RemediationStep(text="Protect released digests from the cleanup job (retention rules that delete "
                             "untagged manifests break every deployment pinned to them)."),
    ]


def _steps_repo_missing(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"Check the repository name: `{d.reference.path}` on `{d.reference.domain}` "
                             "(project/namespace, organisation, region, a registry host that was renamed)."),
        RemediationStep(text="If it is private, the node needs credentials that can read it: a pull secret "
                             "for this exact host, whose account has pull access to the repository."),
        _pull_secret_hosts(d),
        RemediationStep(text="Try it with the credentials the node uses:",
                        command=f"skopeo inspect --raw --creds '<user>:<token>' "
                                f"docker://{d.reference.normalized}"),
        _pod_events(),
    ]


def _steps_auth_required(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"`{d.reference.domain}` wants credentials for this pull. Give the pod a pull "
                             "secret for that exact host:",
                        command=f"kubectl -n <namespace> create secret docker-registry <pull-secret> "
                                f"--docker-server={d.reference.domain} --docker-username=<user> "
                                "--docker-password=<token>"),
        _pull_secret_hosts(d),
        RemediationStep(text="Check the credentials themselves (expired token, rotated password):",
                        command=f"skopeo inspect --raw --creds '<user>:<token>' "
                                f"docker://{d.reference.normalized}"),
        _pod_events(),
    ]


def _steps_auth_forbidden(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"The credentials are valid but may not pull {d.reference.name}: grant the "
                             "account read (pull) access to this repository, or use one that has it."),
        _pull_secret_hosts(d),
        _pod_events(),
    ]


def _steps_platform(d: Diagnosis) -> list[RemediationStep | None]:
    present = sorted({p.platform for p in d.platforms})
    target = d.wanted_platforms or d.missing_platforms
    steps: list[RemediationStep | None] = [
        RemediationStep(text=f"The image has no {', '.join(d.missing_platforms)} variant"
                             + (f" (it has: {', '.join(present)})." if present else ".")
                             + " See which architectures the failing nodes run:",
                        command="kubectl get nodes -L kubernetes.io/arch  # on a node: uname -m"),
    ]
    arches = sorted({p.split("/")[1] for p in present if p.count("/") >= 1})
    if len(arches) == 1:
        patch = '{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/arch":"' + arches[0] + '"}}}}}'
        steps.append(RemediationStep(
            text=f"Stop the bleeding: schedule the workload only on {arches[0]} nodes:",
            command=f"kubectl -n <namespace> patch deploy <deployment> -p '{patch}'"))
    # A push replaces the whole tag: a build of only the missing platform would drop the ones the tag
    # serves today, so the one build command always carries both.
    kept = [p for p in present if p not in target and p != "unknown/unknown"]  # not attestations
    everything = ",".join(dict.fromkeys([*kept, *target])) or "<os/arch>,..."
    keep_note = (f" (a push replaces the whole tag, so keep {', '.join(kept)} in the same build)"
                 if kept and target else "")
    steps.append(RemediationStep(
        text=f"Fix for good: build and push every platform the fleet runs in one push{keep_note}:",
        command=f"docker buildx build --platform {everything} -t {d.reference.normalized} --push ."))
    steps.append(RemediationStep(text="Verify before releasing:",
                                 command=f"docker buildx imagetools inspect {d.reference.normalized}"))
    return steps


def _steps_rate_limited(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text="The registry is throttling pulls. Pods recover by themselves once the "
                             "window resets; do not restart them in a loop (each retry spends quota)."),
        RemediationStep(text=f"Pull from `{d.reference.domain}` with credentials (authenticated quotas are "
                             "higher, and per account instead of per shared NAT address)."),
        _pull_secret_hosts(d),
        RemediationStep(text="Stop spending quota: pin digests and use imagePullPolicy: IfNotPresent, or "
                             "pull through a caching mirror."),
        _mirror_settings(),
    ]


def _api_host(domain: str) -> str:
    """Where a registry's API answers; Docker Hub's is not at ``docker.io``."""
    return "registry-1.docker.io" if domain in ("docker.io", "index.docker.io") else domain


def _recheck(d: Diagnosis) -> str:
    return f"imagecheck check --fresh {d.reference.normalized}"


def _curl(d: Diagnosis, scheme: str = "https") -> str:
    return f"curl -sS -o /dev/null -w '%{{http_code}}\\n' {scheme}://{_api_host(d.reference.domain)}/v2/"


def _steps_tls(d: Diagnosis) -> list[RemediationStep | None]:
    host = _api_host(d.reference.domain)
    hostport = host if ":" in host else f"{host}:443"
    return [
        RemediationStep(text="See which certificate the registry presents, who issued it, when it expires:",
                        command=f"openssl s_client -connect {hostport} -servername {host.split(':')[0]} "
                                "</dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -dates"),
        RemediationStep(text="If it is signed by a private CA, install that CA for the node's runtime:",
                        command=f"sudo install -D ca.crt /etc/containerd/certs.d/{d.reference.domain}/ca.crt  "
                                f"# docker: /etc/docker/certs.d/{d.reference.domain}/ca.crt"),
        RemediationStep(text="Certificates look expired or not yet valid on a skewed clock; check the node:",
                        command="date -u; chronyc tracking"),
    ]


def _steps_insecure(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"`{d.reference.domain}` answers plain HTTP where HTTPS was expected. Put TLS "
                             "in front of it, or (test clusters only) declare it insecure on the nodes:",
                        command=f"docker: add \"{d.reference.domain}\" to \"insecure-registries\" in "
                                "/etc/docker/daemon.json; containerd: a hosts.toml with "
                                f"server = \"http://{d.reference.domain}\""),
        RemediationStep(text="Confirm what the endpoint speaks:", command=_curl(d, "http")),
    ]


def _steps_dns(d: Diagnosis) -> list[RemediationStep | None]:
    host = _api_host(d.reference.domain).split(":")[0]
    return [
        RemediationStep(text="Resolve the registry's name from an affected node:",
                        command=f"getent hosts {host} || nslookup {host}"),
        RemediationStep(text="Check the node's resolver and any search domains (and CoreDNS for pods):",
                        command="cat /etc/resolv.conf"),
        RemediationStep(text=f"Check the host name is spelled right: `{d.reference.domain}`."),
    ]


def _steps_network(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text="Test the path to the registry from an affected node:", command=_curl(d)),
        RemediationStep(text="Check for a proxy the runtime should (or should not) use:",
                        command="systemctl show containerd --property=Environment "
                                "| tr ' ' '\\n' | grep -i proxy"),
        RemediationStep(text="Check the registry (or its load balancer) is up and the port is right; "
                             "check firewall and egress rules between the nodes and the registry."),
        _mirror_settings(),
    ]


def _steps_blocked(d: Diagnosis) -> list[RemediationStep | None]:
    if _has(d, FindingKind.restricted_hop):
        return [
            RemediationStep(text="The registry answered by sending imagecheck on to another registry whose "
                                 "checks imagecheck's settings limit to certain channels, so nothing from "
                                 "there is shown. If the image really lives there, check it under that "
                                 "registry's own name, in a channel allowed to; the bot's operators know "
                                 "which registry it is (their log names it)."),
            _node_pull(d),
        ]
    if _has(d, FindingKind.hop_refused):
        return [
            RemediationStep(text="The registry itself answered, but its token realm (or a redirect) points "
                                 "at a host imagecheck may not contact. If that host is trusted, the bot's "
                                 "operators name it under the registry's `token_realms:` (or under "
                                 "`registries:`) in imagecheck's settings."),
            _node_pull(d),
        ]
    return [
        RemediationStep(text="imagecheck is not allowed to contact this registry, so it checked nothing. "
                             "If it is yours, ask the bot's operators to name it under `registries:` in "
                             "imagecheck's settings."),
        _node_pull(d),
    ]


def _steps_blob(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text="The manifest exists but blobs it needs are gone (garbage collection or a "
                             "partial push). Pulls of this digest will fail on every node without a cache."),
        RemediationStep(text="Re-push the image from a source that still has it (CI, another registry):",
                        command=f"skopeo copy --all docker://<source>/{d.reference.path}@"
                                f"{d.digest or '<digest>'} docker://{d.reference.normalized}"),
        RemediationStep(text="Or pin an older digest that is complete (check it with imagecheck --deep)."),
        RemediationStep(text="Make sure the registry's garbage collection runs read-only or with pushes "
                             "paused (distribution's GC is not safe during pushes)."),
    ]


def _steps_manifest_invalid(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text="The registry serves a manifest current runtimes won't pull (Docker schema 1, "
                             "or an artifact that is not a container image). Rebuild and push with a "
                             "current builder, or convert it:",
                        command=f"skopeo copy --format v2s2 docker://{d.reference.normalized} "
                                f"docker://{d.reference.normalized}"),
        _inspect(d),
    ]


def _steps_mirror(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        _pin(d),
        _mirror_settings(),
        RemediationStep(text="Evict the stale tag from the mirror's cache (or shorten its TTL for tags), or "
                             "bypass the mirror for this host while it catches up."),
        RemediationStep(text="Compare again after the fix:", command=_recheck(d)),
    ]


def _steps_dangling(d: Diagnosis) -> list[RemediationStep | None]:
    platforms = ",".join(p.platform for p in d.platforms) or "<os/arch>,..."
    return [
        RemediationStep(text="The index points at per-platform manifests the registry no longer has "
                             "(garbage collection after an untag, or a partial multi-platform push). "
                             "Push the whole multi-platform image again:",
                        command=f"docker buildx build --platform {platforms} "
                                f"-t {d.reference.normalized} --push ."),
        RemediationStep(text="Verify every platform resolves:",
                        command=f"docker buildx imagetools inspect {d.reference.normalized}"),
    ]


def _steps_registry_error(d: Diagnosis) -> list[RemediationStep | None]:
    return [
        RemediationStep(text=f"`{d.reference.domain}` answered with a server error: check its status page "
                             "or logs; pulls usually recover when it does."),
        _pin(d),
        RemediationStep(text="Check again later:", command=_recheck(d)),
    ]


def _steps_invalid_reference(d: Diagnosis) -> list[RemediationStep | None]:
    return [RemediationStep(text="Fix the image reference in the deployment (see the parse error); check it "
                                 "without touching the registry:",
                            command=f"imagecheck parse {shlex.quote(d.reference.input)}")]


_BY_VERDICT: dict[Verdict, Callable[[Diagnosis], list[RemediationStep | None]]] = {
    Verdict.ok: _steps_ok,
    Verdict.tag_not_found: _steps_tag_not_found,
    Verdict.digest_not_found: _steps_digest_not_found,
    Verdict.repo_not_found_or_denied: _steps_repo_missing,
    Verdict.auth_required: _steps_auth_required,
    Verdict.auth_forbidden: _steps_auth_forbidden,
    Verdict.platform_mismatch: _steps_platform,
    Verdict.rate_limited: _steps_rate_limited,
    Verdict.tls_error: _steps_tls,
    Verdict.insecure_http: _steps_insecure,
    Verdict.dns_error: _steps_dns,
    Verdict.network_timeout: _steps_network,
    Verdict.connection_refused: _steps_network,
    Verdict.blocked_by_policy: _steps_blocked,
    Verdict.registry_error: _steps_registry_error,
    Verdict.blob_unknown: _steps_blob,
    Verdict.manifest_invalid_or_unsupported: _steps_manifest_invalid,
    Verdict.mirror_stale: _steps_mirror,
    Verdict.dangling_index: _steps_dangling,
    Verdict.invalid_reference: _steps_invalid_reference,
}


def withheld_realm(d: Diagnosis) -> str | None:
    """The token realm host our credentials were withheld from (its finding's evidence names it)."""
    for f in d.findings:
        if f.kind == FindingKind.credentials_withheld and f.evidence.host:
            return f.evidence.host
    return None


def _steps_withheld(d: Diagnosis) -> list[RemediationStep]:
    """First, because until the credentials are sent the other steps are guessing."""
    realm = withheld_realm(d)
    if realm is None:
        return []
    return [RemediationStep(
        text=f"imagecheck has credentials for `{d.registry or d.reference.domain}` but did not send them to "
             f"its token realm `{realm}`, a different host, so this check ran anonymously. If that realm is "
             "the registry's own token service, list it under the endpoint's `token_realms` and check again:",
        command=f'token_realms: ["{realm}"]')]


def _steps_identity_token(d: Diagnosis) -> list[RemediationStep]:
    """First when the login was an identity token: a new password fixes nothing, a new login does."""
    domain = d.reference.domain
    if _has(d, FindingKind.identity_token_rejected):
        if domain.endswith(".azurecr.io"):
            return [RemediationStep(
                text="The identity token that `az acr login` stored for this registry has expired or was "
                     "revoked. Log in again where imagecheck runs (it writes a new one):",
                command=f"az acr login --name {shlex.quote(domain.split('.', 1)[0])}")]
        return [RemediationStep(
            text="The stored identity token (an OAuth login's refresh token) has expired or was revoked. Log "
                 "in again where imagecheck runs, with the tool that made it (`az acr login`, the cloud's "
                 "credential helper) or:",
            command=f"docker login {shlex.quote(domain)}")]
    if _has(d, FindingKind.identity_token_unsupported):
        return [RemediationStep(
            text="This registry's token service takes no identity tokens (OAuth refresh tokens). Log in with "
                 "a username and a password or access token instead:",
            command=f"docker login {shlex.quote(domain)} --username <user> --password-stdin")]
    return []


def _steps_for_findings(d: Diagnosis) -> list[RemediationStep]:
    kinds = {f.kind for f in d.findings}
    steps: list[RemediationStep] = []
    if FindingKind.tag_moved in kinds:
        steps.append(RemediationStep(
            text="The tag was re-pushed to new content: nodes that pulled before and after run different "
                 "images. Pin the digest you mean to run, and make release tags immutable."))
    if FindingKind.clock_skew in kinds:
        steps.append(RemediationStep(
            text="Our clock and the registry's disagree by more than a minute; tokens and certificates fail "
                 "on skewed clocks. Check time sync on the nodes:",
            command="date -u; chronyc tracking"))
    return steps


def remediation_for(diagnosis: Diagnosis) -> list[RemediationStep]:
    """Ordered next steps for a diagnosis whose verdict and findings are already decided."""
    build = _BY_VERDICT.get(diagnosis.verdict, _steps_registry_error)
    if any(f.kind == FindingKind.registry_error for f in diagnosis.findings):
        # A 5xx or nonsense answer has no verdict of its own; its steps are about the registry's health.
        build = _steps_registry_error
    steps = _steps_withheld(diagnosis) + _steps_identity_token(diagnosis)
    steps += [s for s in build(diagnosis) if s is not None]
    steps += _steps_for_findings(diagnosis)
    already_has_events = any(s.command and "describe pod" in s.command for s in steps)
    no_pod_events = (Verdict.ok, Verdict.blocked_by_policy, Verdict.invalid_reference)
    if diagnosis.verdict not in no_pod_events and not already_has_events:
        steps.append(_pod_events())
    return steps
