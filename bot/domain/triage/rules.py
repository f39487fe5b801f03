"""The triage taxonomy: one table a person on call can read and extend.

For each ``Category``: the patterns that recognise it (as Docker, containerd, kubelet, CRI-O, podman,
skopeo, buildkit, nerdctl, Helm and the registries word it), what it means, and the first things to do.

How a pattern matches (see ``classify.py``): the paste is lowercased once; a pattern fires on a line that
contains its literal ``needle``; when it also has a ``regex``, that regex must match *starting at the
needle* (so every regex begins with its needle, is bounded, and has no nested quantifiers: matching stays
linear in the size of the paste). ``anchor`` is a literal that every match of the regex contains after
the needle (``"not found"`` for ``repository <name> not found``): needle occurrences on lines without it
are not tried, so a common needle cannot use up the pattern's tries. ``weight`` is how specific the
wording is: a root cause scores high, a generic wrapper (``ErrImagePull``) low, so specific causes win.
``digest`` patterns report ``digest_not_found`` instead of ``tag_not_found`` when their line pulls by digest.

Adding a rule: append a ``Pattern`` to the right category with a new ``id``, add the real-world snippet
(with its ``source``) to ``tests/corpus/``, and run ``pytest tests/triage``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain.models import Category, RemediationStep
from bot.domain.triage.probe import Probe

# The reference placeholder in remediation commands; triage fills in the first reference it extracted.
REF = "{ref}"


@dataclass(frozen=True, slots=True)
class Pattern:
    id: str
    needle: str  # lowercase literal
    weight: float
    regex: str | None = None  # lowercase; must start with ``needle``; bounded quantifiers only
    digest: bool = False  # becomes digest_not_found when the line names a digest
    anchor: str | None = None  # literal the regex's match always contains beyond the needle


@dataclass(frozen=True, slots=True)
class Rule:
    category: Category
    meaning: str
    next_steps: tuple[RemediationStep, ...]
    patterns: tuple[Pattern, ...] = field(default_factory=tuple)


def _step(text: str, command: str | None = None) -> RemediationStep:
    return RemediationStep(text=text, command=command)


# A registry's bare answer to a manifest request, as the whole rest of the line:
# `https://host/v2/<repo>/manifests/<ref>": <answer>`, then at most the period `docker run` adds, the
# closing quotes and brackets of a log or JSON line, or the GitLab runner's "(manager.go:237:0s)".
_AFTER_MANIFEST_URL = r'/v2/[^\s"\\]{1,600}/manifests/[^\s"\\]{1,300}(?:\\?")?: '
_THEN_LINE_END = r'[\s."\'`)\]}\\]{0,8}(?:\([a-z_]{1,40}\.go:[0-9]{1,6}:[0-9a-z.]{1,12}\)\s{0,4})?$'

_CHECK = _step("Ask the registry directly what it has for this reference.", f"imagecheck check {REF}")

RULES: tuple[Rule, ...] = (
    Rule(
        Category.tag_not_found,
        "The registry answered, and it has no manifest for this tag in this repository: the tag was never "
        "pushed, was deleted (retention policy, cleanup job), is misspelled, or the pull went to a mirror "
        "that does not have it.",
        (
            _CHECK,
            _step("Compare the tag with the tags that exist (typo, missing 'v' prefix, wrong repository)."),
            _step("Check whether a cleanup or retention policy deleted it, or the CI push step failed."),
            _step("If the node pulls through a mirror or pull-through cache, check the mirror has the tag."),
        ),
        (
            # Digests are sometimes abbreviated in pastes ("@sha256:654482cf..."): any length is accepted;
            # ``digest=True`` turns these into digest_not_found when the line pulls by digest.
            Pattern("tag.containerd_resolve_not_found", "failed to resolve reference", 0.93,
                    r'failed to resolve reference \\?"[^"\s\\]{1,600}\\?": [^\n]{0,600}?not found',
                    digest=True),
            # BuildKit (docker build / buildx) on a FROM whose tag does not exist. ``[^\s]`` keeps these off
            # "...: no match for platform in manifest: not found", which is platform_mismatch.
            Pattern("tag.buildkit_source_metadata_not_found", "source metadata for ", 0.93,
                    r"source metadata for [^\s]{1,600}: [^\s]{1,600}: not found", digest=True),
            Pattern("tag.buildkit_solve_not_found", "failed to solve: ", 0.9,
                    r"failed to solve: [^\s]{1,600}: [^\s]{1,600}: not found", digest=True),
            Pattern("tag.buildkit_llb_not_found", "llb definition: ", 0.9,
                    r"llb definition: [^\s]{1,600}: not found", digest=True),
            Pattern("tag.ecs_resolve_ref_not_found", "failed to resolve ref ", 0.93,
                    r"failed to resolve ref [^\s]{1,600}: [^\n]{0,600}?: not found", digest=True),
            Pattern("tag.swarm_image_not_found", "error: image ", 0.85, r"error: image [^\s]{1,512} not found",
                    anchor="not found"),
            Pattern("tag.docker_manifest_for_not_found", "manifest for ", 0.93,
                    r"manifest for [^\s]{1,600} not found", digest=True),
            Pattern("tag.manifest_unknown", "manifest unknown", 0.86, digest=True),
            Pattern("tag.manifest_unknown_code", "manifest_unknown", 0.86, digest=True),
            Pattern("tag.cri_code_not_found", "code = notfound", 0.88, digest=True),
            Pattern("tag.acr_manifest_tagged_not_found", "manifest tagged by ", 0.9,
                    r'manifest tagged by \\?"[^"\n]{1,256}\\?" is not found'),
            Pattern("tag.harbor_artifact_not_found", "artifact ", 0.85,
                    r"artifact [^\s]{1,512} not found", digest=True, anchor="not found"),
            Pattern("tag.ecr_requested_image_not_found", "requested image not found", 0.9),
            Pattern("tag.docker_v1_tag_not_found", "not found in repository", 0.9),
        ),
    ),
    Rule(
        Category.digest_not_found,
        "The registry has no manifest with this digest in this repository: the image was deleted or "
        "garbage-collected, the digest belongs to another repository or registry, or it is a per-platform "
        "digest copied from somewhere else.",
        (
            _CHECK,
            _step("Check where the digest came from (a lock file, a Helm value, a CI output) and that it names "
                  "this repository."),
            _step("If the tag still exists, pin its current digest instead."),
        ),
        (
            Pattern("digest.reading_manifest_sha256", "reading manifest sha256:", 0.92,
                    r"reading manifest sha256:[0-9a-f]{64} in [^\s]{1,512} (?:manifest unknown|not found)"),
        ),
    ),
    Rule(
        Category.repo_not_found_or_denied,
        "The repository does not exist, or it is private and the puller may not see it: many registries "
        "(Docker Hub, GHCR, Quay) give the same answer for both, on purpose.",
        (
            _CHECK,
            _step("Check the repository name and registry host for typos (and that it was ever pushed)."),
            _step("If it is private: give the node credentials (imagePullSecrets, a credential helper, "
                  "`docker login`) for exactly this registry host."),
        ),
        (
            Pattern("repo.pull_access_denied", "pull access denied", 0.95),
            Pattern("repo.does_not_exist", "repository does not exist", 0.93),
            Pattern("repo.resource_denied", "requested access to the resource is denied", 0.92),
            Pattern("repo.name_unknown", "name unknown", 0.9),
            Pattern("repo.name_unknown_code", "name_unknown", 0.9),
            Pattern("repo.not_known_to_registry", "repository name not known to registry", 0.92),
            Pattern("repo.insufficient_scope", "insufficient_scope", 0.8),
            Pattern("repo.ecr_not_found_exception", "repositorynotfoundexception", 0.93),
            Pattern("repo.ecr_does_not_exist", "does not exist in the registry", 0.93),
            Pattern("repo.repo_not_found", "repo not found", 0.85),
            Pattern("repo.docker_repository_not_found", "repository ", 0.88,
                    r"repository [^\s]{1,512} not found", anchor="not found"),
            # Docker's whole answer when a manifest request got a bare 403 (a HEAD has no body to quote):
            # `Head "https://ghcr.io/v2/acme/tool/manifests/1.0": denied`. GHCR answers so for a private
            # package pulled without login and for a package that does not exist alike. Only a line that
            # *ends* right after a manifest URL counts (docker run adds a ".", the GitLab runner its
            # "(manager.go:237:0s)"), so wording that merely contains "denied" elsewhere does not.
            Pattern("repo.manifest_url_denied", "/v2/", 0.82,
                    _AFTER_MANIFEST_URL + "denied" + _THEN_LINE_END,
                    anchor=": denied"),
        ),
    ),
    Rule(
        Category.auth_required,
        "The registry wants credentials and got none, or got wrong or expired ones.",
        (
            _step("Check which credentials the puller uses for this exact registry host (imagePullSecrets "
                  "on the pod or service account, ~/.docker/config.json, a credential helper)."),
            _step("Log in again: tokens from `aws ecr get-login-password`, `gcloud auth` and `az acr login` "
                  "expire after hours."),
            _CHECK,
        ),
        (
            Pattern("auth.authentication_required", "authentication required", 0.9),
            Pattern("auth.no_basic_auth_credentials", "no basic auth credentials", 0.95),
            Pattern("auth.incorrect_password", "incorrect username or password", 0.95),
            Pattern("auth.invalid_password", "invalid username/password", 0.95),
            Pattern("auth.ecr_token_expired", "authorization token has expired", 0.95),
            Pattern("auth.401_unauthorized", "401 unauthorized", 0.9),
            Pattern("auth.401_paren", "401 (unauthorized)", 0.9),
            Pattern("auth.status_401", "status 401", 0.85),
            Pattern("auth.status_code_401", "status code 401", 0.85),
            Pattern("auth.anonymous_token_401", "failed to fetch anonymous token", 0.9,
                    r"failed to fetch anonymous token: [^\n]{0,600}?401"),
            Pattern("auth.oauth_token_401", "failed to fetch oauth token", 0.9,
                    r"failed to fetch oauth token: [^\n]{0,600}?401"),
            Pattern("auth.unauthorized_prefix", "unauthorized:", 0.75),
            # The 401 counterpart of repo.manifest_url_denied: `Head "https://ghcr.io/v2/x/manifests/1.0":
            # unauthorized` and nothing after it (GHCR: a private or missing package pulled anonymously).
            Pattern("auth.manifest_url_unauthorized", "/v2/", 0.8,
                    _AFTER_MANIFEST_URL + "unauthorized" + _THEN_LINE_END,
                    anchor=": unauthorized"),
            Pattern("auth.unauthenticated_requests", "unauthenticated requests do not have permission", 0.93),
            Pattern("auth.credential_helper", "error getting credentials", 0.88),
            Pattern("auth.bearer_token_mismatch", "requested repository does not match bearer token", 0.85),
            Pattern("auth.pull_secrets_missing", "unable to retrieve some image pull secrets", 0.6),
        ),
    ),
    Rule(
        Category.auth_forbidden,
        "The registry knows who is asking and refuses: the credentials lack pull permission on this "
        "repository (IAM role, project membership, a repository policy), or an IP allow-list or a "
        "registry-side block applies.",
        (
            _step("Check the identity's pull permission on this repository (ECR repository policy and IAM "
                  "`ecr:BatchGetImage`, Artifact Registry `roles/artifactregistry.reader`, ACR `AcrPull`, "
                  "GHCR package access, GitLab project membership)."),
            _step("If an HTML 403 page came back, a proxy, firewall or geo-block answered, not the "
                  "registry."),
            _CHECK,
        ),
        (
            Pattern("forbidden.403_forbidden", "403 forbidden", 0.9),
            Pattern("forbidden.403_paren", "403 (forbidden)", 0.9),
            Pattern("forbidden.status_403", "status 403", 0.85),
            Pattern("forbidden.http_403", "http 403", 0.85),
            Pattern("forbidden.gcp_permission_denied", "permission ", 0.93,
                    r'permission \\?"[a-z.]{3,100}\\?" denied', anchor="denied"),
            Pattern("forbidden.does_not_have_permission", "does not have permission", 0.88),
            Pattern("forbidden.gitlab_access_forbidden", "access forbidden", 0.9),
            Pattern("forbidden.ecr_not_authorized", "is not authorized to perform", 0.93),
            Pattern("forbidden.head_forbidden", ": forbidden", 0.75),
            Pattern("forbidden.ghcr_denied_denied", "denied: denied", 0.85),
            Pattern("forbidden.anonymous_token_403", "failed to fetch anonymous token", 0.9,
                    r"failed to fetch anonymous token: [^\n]{0,600}?403"),
        ),
    ),
    Rule(
        Category.platform_mismatch,
        "The image exists, but not for the platform the node asked for: the index (manifest list) has no "
        "entry for this os/arch/variant, or the image is single-platform and built for another "
        "architecture.",
        (
            _step("List the platforms the image offers.", f"imagecheck check {REF}"),
            _step("Use a tag that is published for your platform, or build a multi-platform image "
                  "(`docker buildx build --platform linux/amd64,linux/arm64`)."),
            _step("As a stop-gap only: pin the node pool to the architecture the image was built for."),
        ),
        (
            Pattern("platform.no_matching_manifest", "no matching manifest for", 0.97),
            Pattern("platform.no_match_for_platform", "no match for platform in manifest", 0.97),
            Pattern("platform.no_match_for_current_platform", "no match for current platform", 0.97),
            Pattern("platform.no_image_found_in_list", "no image found in manifest list for architecture",
                    0.97),
            Pattern("platform.no_image_found_in_index", "no image found in image index for architecture",
                    0.97),
            Pattern("platform.detected_host_platform", "does not match the detected host platform", 0.9),
            Pattern("platform.specified_platform", "does not match the specified platform", 0.95),
            Pattern("platform.windows_os", "image operating system ", 0.95,
                    r'image operating system \\?"[a-z]{1,20}\\?" cannot be used on this platform',
                    anchor="platform"),
            Pattern("platform.exec_format_error", "exec format error", 0.75),
            Pattern("platform.manifest_list_entries", "in the manifest list entries", 0.9),
        ),
    ),
    Rule(
        Category.rate_limited,
        "The registry is throttling the puller: Docker Hub limits anonymous pulls per source IP (and "
        "authenticated pulls per account); other registries throttle per account or project.",
        (
            _step("Authenticate the pulls (imagePullSecrets for Docker Hub) so they count against an "
                  "account rather than the shared NAT IP."),
            _step("Pull through a mirror or pull-through cache, or copy the image to your own registry."),
            _step("Check the remaining quota without spending it (a HEAD request does not count).",
                  f"imagecheck check {REF}"),
        ),
        (
            Pattern("rate.toomanyrequests", "toomanyrequests", 0.97),
            Pattern("rate.429_too_many_requests", "429 too many requests", 0.95),
            Pattern("rate.too_many_requests", "too many requests", 0.9),
            Pattern("rate.status_429", "status 429", 0.9),
            Pattern("rate.pull_rate_limit", "pull rate limit", 0.95),
            Pattern("rate.rate_exceeded", "rate exceeded", 0.85),
            Pattern("rate.throttling", "throttlingexception", 0.88),
            Pattern("rate.kubelet_pull_qps", "pull qps exceeded", 0.85),
        ),
    ),
    Rule(
        Category.clock_skew,
        "The node's clock is wrong: certificates look 'not yet valid' and signed requests or tokens are "
        "rejected as expired or from the future.",
        (
            _step("Check the node's time against a reference (`date -u`, `timedatectl`, `chronyc tracking`)."),
            _step("Fix time sync (chrony/ntpd/systemd-timesyncd) and retry the pull."),
        ),
        (
            Pattern("clock.cert_not_yet_valid", "certificate has expired or is not yet valid: current time ",
                    0.97, r"certificate has expired or is not yet valid: current time [^\n]{1,80}? is before "),
            Pattern("clock.signature_not_yet_current", "signature not yet current", 0.95),
            Pattern("clock.signature_expired", "signature expired", 0.9),
            Pattern("clock.request_time_too_skewed", "requesttimetooskewed", 0.95),
            Pattern("clock.token_used_before_issued", "token used before issued", 0.95),
            Pattern("clock.clock_skew", "clock skew", 0.85),
            Pattern("clock.token_not_valid_yet", "token is not valid yet", 0.9),
        ),
    ),
    Rule(
        Category.tls_error,
        "The TLS connection to the registry failed verification: the node does not trust the CA that "
        "signed the registry's certificate (a private CA or a TLS-intercepting proxy), the certificate "
        "does not name this host, or it has expired.",
        (
            _step("Install the registry's CA on the node (/etc/docker/certs.d/<host>/ca.crt, "
                  "/etc/containerd/certs.d/<host>/hosts.toml, or the system trust store)."),
            _step("Check which certificate is served: `openssl s_client -connect <host>:443 -servername "
                  "<host>` (a corporate proxy may be swapping it)."),
            _step("Check the certificate's names and dates; renew it if it expired."),
        ),
        (
            Pattern("tls.unknown_authority", "certificate signed by unknown authority", 0.95),
            Pattern("tls.valid_for_other_names", "x509: certificate is valid for ", 0.95,
                    r"x509: certificate is valid for [^\n]{1,600}?, not "),
            Pattern("tls.expired", "certificate has expired", 0.88),
            Pattern("tls.x509", "x509:", 0.85),
            Pattern("tls.failed_to_verify", "tls: failed to verify certificate", 0.93),
            Pattern("tls.verify_failed", "certificate verify failed", 0.9),
            Pattern("tls.remote_error", "remote error: tls:", 0.85),
            Pattern("tls.handshake_failure", "tls: handshake failure", 0.85),
            Pattern("tls.self_signed", "self signed certificate", 0.9),
            Pattern("tls.self_signed_dash", "self-signed certificate", 0.9),
            Pattern("tls.legacy_common_name", "legacy common name field", 0.95),
            Pattern("tls.bad_certificate", "tls: bad certificate", 0.85),
            Pattern("tls.ssl_certificate_problem", "ssl certificate problem", 0.9),
            Pattern("tls.local_issuer", "unable to get local issuer certificate", 0.9),
            Pattern("tls.pkix", "pkix path building failed", 0.9),
            Pattern("tls.unknown_certificate_authority", "tls: unknown certificate authority", 0.9),
        ),
    ),
    Rule(
        Category.insecure_http,
        "Scheme mismatch: the registry speaks plain HTTP while the client expected HTTPS (or the "
        "reverse). Runtimes only use HTTP for registries explicitly configured as insecure.",
        (
            _step("Prefer serving the registry over HTTPS."),
            _step("Otherwise declare it insecure on every node: `insecure-registries` in "
                  "/etc/docker/daemon.json, or a `hosts.toml` with `http://` for containerd, or "
                  "`insecure = true` in registries.conf for CRI-O/podman."),
        ),
        (
            Pattern("insecure.http_response_to_https_client", "server gave http response to https client",
                    0.97),
            Pattern("insecure.first_record_not_tls", "first record does not look like a tls handshake", 0.93),
            Pattern("insecure.http_request_to_https_server", "client sent an http request to an https server",
                    0.9),
        ),
    ),
    Rule(
        Category.dns_error,
        "The registry's host name did not resolve on the node: a typo in the host, a private DNS zone the "
        "node cannot see, or the node's DNS server is down or unreachable.",
        (
            _step("Resolve the host from the node itself (`nslookup <host>`, `getent hosts <host>`)."),
            _step("Check the host name in the reference for typos, and the node's /etc/resolv.conf."),
            _CHECK,
        ),
        (
            Pattern("dns.no_such_host", "no such host", 0.95),
            Pattern("dns.lookup_timeout", "lookup ", 0.96,
                    r"lookup [^\s]{1,255} on [^\n]{1,80}?: [^\n]{0,160}?i/o timeout"),
            Pattern("dns.lookup_refused", "lookup ", 0.96,
                    r"lookup [^\s]{1,255} on [^\n]{1,80}?: [^\n]{0,160}?connection refused"),
            Pattern("dns.server_misbehaving", "server misbehaving", 0.93),
            Pattern("dns.temporary_failure", "temporary failure in name resolution", 0.95),
            Pattern("dns.name_or_service_not_known", "name or service not known", 0.95),
            Pattern("dns.could_not_resolve_host", "could not resolve host", 0.95),
            Pattern("dns.nodename_nor_servname", "nodename nor servname provided", 0.95),
        ),
    ),
    Rule(
        Category.network_timeout,
        "The connection to the registry (or to its storage/CDN) timed out or was cut: a firewall dropping "
        "packets, an egress rule, a slow or overloaded link, or a registry outage.",
        (
            _step("Test the path from the node: `curl -v https://<host>/v2/` (expect 200 or 401 quickly)."),
            _step("Check egress firewall/security-group rules and NAT for the registry and its blob CDN."),
            _CHECK,
        ),
        (
            Pattern("timeout.io_timeout", "i/o timeout", 0.85),
            Pattern("timeout.tls_handshake", "tls handshake timeout", 0.9),
            Pattern("timeout.client_timeout", "client.timeout exceeded", 0.9),
            Pattern("timeout.awaiting_headers", "timeout awaiting response headers", 0.85),
            Pattern("timeout.request_canceled", "request canceled while waiting for connection", 0.88),
            Pattern("timeout.context_deadline", "context deadline exceeded", 0.8),
            Pattern("timeout.connection_timed_out", "connection timed out", 0.88),
            Pattern("timeout.operation_timed_out", "operation timed out", 0.85),
            Pattern("timeout.connection_reset", "connection reset by peer", 0.7),
            Pattern("timeout.unexpected_eof", "unexpected eof", 0.55),
            Pattern("timeout.context_canceled", "context canceled", 0.5),
        ),
    ),
    Rule(
        Category.connection_refused,
        "Nothing accepted the connection: the registry (or the port) is down, the address is wrong, or a "
        "firewall actively rejects it; 'no route to host' means the network path itself is missing.",
        (
            _step("Check the registry is up and listening on that host and port."),
            _step("Check the port in the reference (a registry on :5000 needs it written in the reference)."),
            _CHECK,
        ),
        (
            Pattern("refused.connection_refused", "connection refused", 0.88),
            Pattern("refused.actively_refused", "actively refused", 0.9),
            Pattern("refused.no_route_to_host", "no route to host", 0.85),
            Pattern("refused.network_unreachable", "network is unreachable", 0.85),
            Pattern("refused.host_unreachable", "host is unreachable", 0.85),
        ),
    ),
    Rule(
        Category.proxy_error,
        "The pull went through an HTTP(S) proxy and the proxy failed: it refused the connection, wants "
        "credentials (407), or is not running at the configured address.",
        (
            _step("Check HTTP_PROXY/HTTPS_PROXY/NO_PROXY for the runtime's service (systemd drop-in for "
                  "dockerd/containerd), not just your shell."),
            _step("Add the registry to NO_PROXY if it should be reached directly."),
        ),
        (
            Pattern("proxy.proxyconnect", "proxyconnect tcp", 0.97),
            Pattern("proxy.authentication_required", "proxy authentication required", 0.97),
            Pattern("proxy.error_connecting_to_proxy", "error connecting to proxy", 0.95),
            Pattern("proxy.socks_connect", "socks connect", 0.9),
            Pattern("proxy.proxy_error", "proxy error", 0.8),
            Pattern("proxy.desktop_connecting_to", "writing response to ", 0.93,
                    r"writing response to [^\s]{1,255}: connecting to ", anchor="connecting to"),
        ),
    ),
    Rule(
        Category.invalid_reference,
        "The image reference itself is malformed, so nothing was asked of any registry: upper-case "
        "letters in the repository, a stray space or quote, an unfilled template variable, or a "
        "short name that the runtime refuses to expand.",
        (
            _step("Check the exact string the workload uses (Helm values, env substitution, manifests).",
                  f"imagecheck parse {REF}"),
            _step("Repository names must be lowercase; tags are [A-Za-z0-9_.-], at most 128 characters."),
            _step("For podman/CRI-O short names: write the fully qualified name (docker.io/library/...)."),
        ),
        (
            Pattern("invalid.reference_format", "invalid reference format", 0.97),
            Pattern("invalid.kubelet_invalid_image_name", "invalidimagename", 0.95),
            Pattern("invalid.default_image_tag", "failed to apply default image tag", 0.93),
            Pattern("invalid.couldnt_parse", "couldn't parse image reference", 0.95),
            Pattern("invalid.must_be_lowercase", "repository name must be lowercase", 0.97),
            Pattern("invalid.not_valid_repository_tag", "is not a valid repository/tag", 0.95),
            Pattern("invalid.short_name", "short-name ", 0.9,
                    r'short-name \\?"[^"\n]{1,256}\\?" did not resolve to an alias'),
            Pattern("invalid.image_name", "invalid image name", 0.85),
            Pattern("invalid.no_short_name_alias", "no matching short-name alias has been found", 0.9),
            Pattern("invalid.could_not_parse_reference", "could not parse reference", 0.9),
            Pattern("invalid.checksum_digest_format", "invalid checksum digest format", 0.85),
            Pattern("invalid.at_least_one_component", "repository name must have at least one component",
                    0.95),
            Pattern("invalid.error_parsing_reference", "error parsing reference", 0.85),
        ),
    ),
    Rule(
        Category.blob_unknown,
        "The manifest was found, but a layer or config blob it points to is missing or corrupt on the "
        "registry or mirror: an interrupted push, garbage collection racing a push, or a broken cache.",
        (
            _step("Re-push the image (from a clean build) so every blob is uploaded again."),
            _step("If a mirror or pull-through cache served it, purge that image from the cache."),
            _CHECK,
        ),
        (
            Pattern("blob.blob_unknown", "blob unknown", 0.93),
            Pattern("blob.blob_unknown_code", "blob_unknown", 0.93),
            Pattern("blob.unknown_blob", "unknown blob", 0.93),
            Pattern("blob.containerd_content_not_found", "content at ", 0.9,
                    r"content at [^\s]{1,2048}/blobs/sha256:[0-9a-f]{64} not found", anchor="blob"),
            Pattern("blob.layer_verification_failed", "filesystem layer verification failed", 0.88),
            Pattern("blob.unexpected_commit_digest", "unexpected commit digest", 0.88),
        ),
    ),
    Rule(
        Category.manifest_invalid_or_unsupported,
        "The registry returned a manifest the runtime will not use: a Docker schema 1 image (pulls "
        "disabled since Docker 26 / containerd 2.0), an unknown media type, or something that is not a "
        "manifest at all (an HTML page from a proxy).",
        (
            _step("Rebuild and re-push the image with a current builder (it writes OCI or schema 2)."),
            _step("If a mirror or proxy answered with HTML, fix or bypass the mirror."),
            _CHECK,
        ),
        (
            Pattern("manifest.schema1_disabled", "schema 1 support is disabled", 0.97),
            Pattern("manifest.schema1_notice", "docker image manifest version 2, schema 1", 0.93),
            Pattern("manifest.manifest_invalid", "manifest invalid", 0.9),
            Pattern("manifest.manifest_invalid_code", "manifest_invalid", 0.9),
            Pattern("manifest.unsupported_manifest_media_type", "unsupported manifest media type", 0.93),
            Pattern("manifest.unsupported_media_type", "unsupported media type", 0.8),
            Pattern("manifest.unexpected_media_type", "unexpected media type", 0.85),
            Pattern("manifest.type_not_supported", "manifest type not supported", 0.85),
            Pattern("manifest.verification_failed", "manifest verification failed", 0.88),
            Pattern("manifest.mediatype_should_be", "mediatype in manifest should be", 0.9),
        ),
    ),
    Rule(
        Category.disk_or_storage,
        "The pull reached the node but could not be stored: the disk holding the runtime's images is "
        "full, over quota, read-only or failing.",
        (
            _step("Check free space where images live (`df -h /var/lib/containerd /var/lib/docker`)."),
            _step("Free space: `crictl rmi --prune`, `docker system prune`, or let kubelet image GC run; "
                  "check for node DiskPressure."),
        ),
        (
            Pattern("disk.no_space_left", "no space left on device", 0.97),
            Pattern("disk.quota_exceeded", "disk quota exceeded", 0.95),
            Pattern("disk.ephemeral_storage", "low on resource: ephemeral-storage", 0.9),
            Pattern("disk.disk_pressure", "diskpressure", 0.75),
            Pattern("disk.read_only_fs", "read-only file system", 0.85),
            Pattern("disk.register_layer", "failed to register layer", 0.7),
            Pattern("disk.extract_layer", "failed to extract layer", 0.7),
            Pattern("disk.io_error", "input/output error", 0.75),
            Pattern("disk.image_gc_failed", "image garbage collection failed", 0.85),
            Pattern("disk.imagegcfailed", "imagegcfailed", 0.85),
        ),
    ),
    Rule(
        Category.backoff_only,
        "Only the Kubernetes wrapper is visible (ImagePullBackOff / ErrImagePull): kubelet is waiting "
        "before retrying a failed pull. The cause is in the 'Failed to pull image' event above it.",
        (
            _step("Paste the pod's events, which carry the cause.", "kubectl describe pod <pod>"),
            _CHECK,
        ),
        (
            Pattern("wrapper.image_pull_backoff", "imagepullbackoff", 0.3),
            Pattern("wrapper.err_image_pull", "errimagepull", 0.3),
            Pattern("wrapper.back_off_pulling", "back-off pulling image", 0.3),
            Pattern("wrapper.pull_image_error", "pullimageerror", 0.3),
            Pattern("wrapper.failed_to_pull", "failed to pull image", 0.25),
            Pattern("wrapper.ecs_cannot_pull", "cannotpullcontainererror", 0.3),
        ),
    ),
    Rule(
        Category.other,
        "No known pull-error wording was recognised in this text.",
        (
            _step("Paste the full error (kubectl describe pod, the runtime's log) or check a reference "
                  "directly.", f"imagecheck check {REF}"),
        ),
    ),
)

RULES_BY_CATEGORY: dict[Category, Rule] = {rule.category: rule for rule in RULES}

# Probes (see ``probe.py``) that rule out, in one pass each, a whole category and then each needle.
CATEGORY_PROBES: dict[Category, Probe] = {
    rule.category: Probe.any_of(p.needle for p in rule.patterns) for rule in RULES if rule.patterns
}
NEEDLE_PROBES: dict[str, Probe] = {p.id: Probe.any_of([p.needle]) for rule in RULES for p in rule.patterns}

# Compiled once: pattern id -> regex (patterns without a regex match on their needle alone).
COMPILED: dict[str, re.Pattern[str]] = {
    p.id: re.compile(p.regex) for rule in RULES for p in rule.patterns if p.regex is not None
}


def _validate() -> None:
    """Fail at import if the table breaks its own invariants (cheap, and catches typos in new rules)."""
    seen: set[str] = set()
    for rule in RULES:
        for p in rule.patterns:
            if p.id in seen:
                raise ValueError(f"duplicate pattern id {p.id}")
            seen.add(p.id)
            if p.needle != p.needle.lower():
                raise ValueError(f"pattern {p.id}: needle must be lowercase")
            # The anchor must occur in every text the regex matches, or lines without it would hide hits.
            if p.anchor is not None and (p.regex is None or p.anchor not in p.regex):
                raise ValueError(f"pattern {p.id}: anchor {p.anchor!r} is not part of the regex's match")
            if p.regex is not None and not p.regex.startswith(p.needle[:4]):
                raise ValueError(f"pattern {p.id}: regex must start with its needle")
            if not 0.0 < p.weight < 1.0:
                raise ValueError(f"pattern {p.id}: weight must be in (0, 1)")
    missing = set(Category) - set(RULES_BY_CATEGORY)
    if missing:
        raise ValueError(f"categories without a rule: {sorted(missing)}")


_validate()
