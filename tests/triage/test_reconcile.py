"""Reconciling the log's view with a registry check's view (diagnoses built as plain domain values)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.models import Diagnosis, Evidence, Finding, PlatformDigest, Verdict
from bot.domain.reference import parse_reference
from bot.domain.triage import reconcile, triage

DIGEST = "sha256:" + "c0ffee" * 10 + "c0ff"
WHEN = datetime(2026, 11, 29, 23, 0, 0, tzinfo=UTC)


def diag(ref: str, verdict: Verdict, **kw: object) -> Diagnosis:
    return Diagnosis(reference=parse_reference(ref), verdict=verdict, summary=kw.pop("summary", verdict.value),
                     checked_at=WHEN, **kw)


def test_log_says_not_found_but_tag_exists_now() -> None:
    result = triage("Error response from daemon: manifest for acme/api:7 not found: manifest unknown")
    [line] = reconcile(result, [diag("acme/api:7", Verdict.ok, digest=DIGEST, registry="registry-1.docker.io")])
    assert "has it now" in line
    assert "sha256:c0ffeec0ffee" in line
    assert "2026-11-29T23:00:00Z" in line
    for cause in ("stale mirror", "replication", "re-pushed", "credentials differ"):
        assert cause in line


def test_not_found_confirmed_lists_tags_that_exist() -> None:
    result = triage("manifest for acme/api:7 not found: manifest unknown")
    [line] = reconcile(result, [diag("acme/api:7", Verdict.tag_not_found, suggested_tags=["7.0", "6"])])
    assert "confirmed" in line
    assert "7.0, 6" in line


def test_platform_mismatch_confirmed_by_the_index() -> None:
    result = triage("no matching manifest for linux/arm64/v8 in the manifest list entries")
    d = diag("acme/api:7", Verdict.platform_mismatch, missing_platforms=["linux/arm64/v8"],
             platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST)])
    [line] = reconcile(result, [d])
    assert "confirmed" in line
    assert "linux/arm64/v8" in line
    assert "linux/amd64" in line


def test_platform_present_now_points_at_a_re_push() -> None:
    result = triage("no matching manifest for linux/arm64/v8 in the manifest list entries")
    d = diag("acme/api:7", Verdict.ok, platforms=[PlatformDigest(platform="linux/arm64/v8", digest=DIGEST)])
    assert "re-pushed" in reconcile(result, [d])[0]


def test_auth_confirmed_by_our_anonymous_401() -> None:
    result = triage("Error response from daemon: Get https://r.acme.io/v2/a/manifests/1: no basic auth credentials")
    d = diag("r.acme.io/a:1", Verdict.auth_required,
             findings=[Finding(kind="auth", summary="401", evidence=Evidence(status=401, error_code="UNAUTHORIZED"))])
    [line] = reconcile(result, [d])
    assert "confirmed" in line
    assert "401" in line
    assert "HTTP 401 UNAUTHORIZED" in line


def test_network_problem_on_the_node_when_we_reach_the_registry() -> None:
    result = triage("dial tcp: lookup r.acme.io on 10.0.0.2:53: no such host")
    line = reconcile(result, [diag("r.acme.io/a:1", Verdict.ok, digest=DIGEST)])[0]
    assert "node's side" in line
    assert "DNS" in line


def test_rate_limit_not_seen_from_here() -> None:
    result = triage("toomanyrequests: You have reached your pull rate limit")
    line = reconcile(result, [diag("nginx:1", Verdict.ok)])[0]
    assert "not rate-limited" in line
    assert "per IP" in line


def test_one_line_per_diagnosis_and_none_without_checks() -> None:
    result = triage("ImagePullBackOff")
    lines = reconcile(result, [diag("a/b:1", Verdict.ok), diag("c/d:2", Verdict.blocked_by_policy)])
    assert len(lines) == 2
    assert "a/b:1" in lines[0]
    assert "egress policy" in lines[1]
    assert reconcile(result, []) == []


def test_platform_spelled_without_its_default_variant_counts_as_offered() -> None:
    # buildx writes linux/arm64 where the daemon's error says linux/arm64/v8: the same platform
    result = triage("no matching manifest for linux/arm64/v8 in the manifest list entries")
    d = diag("acme/api:7", Verdict.ok, wanted_platforms=["linux/arm64/v8"],
             platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST),
                        PlatformDigest(platform="linux/arm64", digest=DIGEST)])
    [line] = reconcile(result, [d])
    assert "offers linux/arm64/v8 now" in line
    assert "confirmed" not in line


def test_a_passing_check_for_the_logs_platform_means_it_is_served_now() -> None:
    # a single-platform image: no index list, but the check for the node's platform passed
    result = triage("no matching manifest for linux/arm64/v8 in the manifest list entries")
    d = diag("acme/api:7", Verdict.ok, wanted_platforms=["linux/arm64"])
    assert "offers linux/arm64/v8 now" in reconcile(result, [d])[0]


def test_platform_really_missing_is_still_confirmed() -> None:
    result = triage("no matching manifest for linux/arm/v7 in the manifest list entries")
    d = diag("acme/api:7", Verdict.ok, platforms=[PlatformDigest(platform="linux/arm/v6", digest=DIGEST)])
    [line] = reconcile(result, [d])
    assert "confirmed" in line
    assert "not linux/arm/v7" in line


def test_auth_401_from_our_rejected_credentials_is_not_called_anonymous() -> None:
    result = triage("Error response from daemon: Get https://r.acme.io/v2/a/manifests/1: no basic auth credentials")
    d = diag("r.acme.io/a:1", Verdict.auth_required,
             findings=[Finding(kind="credentials_rejected", summary="r.acme.io rejected the configured credentials",
                               evidence=Evidence(status=401, error_code="UNAUTHORIZED"))])
    [line] = reconcile(result, [d])
    assert "confirmed" in line
    assert "anonymous" not in line
    assert "configured credentials" in line


def test_auth_failure_from_a_rejected_identity_token_says_identity_token_not_401() -> None:
    # An `az acr login` token is traded by an OAuth POST: the refusal is 400 invalid_grant, not a 401.
    result = triage("Error response from daemon: Head \"https://r.azurecr.io/v2/a/manifests/1\": unauthorized: "
                    "authentication required")
    d = diag("r.azurecr.io/a:1", Verdict.auth_required, findings=[
        Finding(kind="credentials_rejected", summary="rejected the identity token",
                evidence=Evidence(status=400, error_code="invalid_grant")),
        Finding(kind="identity_token_rejected", summary="the identity token expired or was revoked")])
    [line] = reconcile(result, [d])
    assert "confirmed" in line
    assert "identity token" in line
    assert "401" not in line


def test_auth_401_with_credentials_withheld_from_the_realm_says_so() -> None:
    result = triage("Error response from daemon: Get https://r.acme.io/v2/a/manifests/1: no basic auth credentials")
    d = diag("r.acme.io/a:1", Verdict.auth_required,
             findings=[Finding(kind="credentials_withheld", summary="withheld"),
                       Finding(kind="auth_challenge", summary="401", evidence=Evidence(status=401))])
    [line] = reconcile(result, [d])
    assert "token_realms" in line
    assert "without credentials" in line


# --- which references the log's category is said of ---------------------------------------------

SIDECAR = "docker.io/istio/proxyv2:1.20.0"
EVENTS_NOT_FOUND = (
    f'  Normal   Pulled   2m   kubelet  Container image "{SIDECAR}" already present on machine\n'
    '  Normal   Pulled   2m   kubelet  Successfully pulled image "docker.io/library/busybox:1.36" in 1.2s\n'
    '  Warning  Failed   1m   kubelet  Failed to pull image "ghcr.io/acme/api:v9": rpc error: code = NotFound '
    'desc = failed to pull and unpack image "ghcr.io/acme/api:v9": failed to resolve reference '
    '"ghcr.io/acme/api:v9": ghcr.io/acme/api:v9: not found\n'
    "  Warning  Failed   1m   kubelet  Error: ErrImagePull\n"
)


def test_images_the_log_says_pulled_fine_get_no_not_found_story() -> None:
    result = triage(EVENTS_NOT_FOUND)
    assert result.category.value == "tag_not_found"
    failing, sidecar, busybox = reconcile(result, [
        diag("ghcr.io/acme/api:v9", Verdict.ok, digest=DIGEST),
        diag(SIDECAR, Verdict.ok, digest=DIGEST, summary="Image is pullable."),
        diag("busybox:1.36", Verdict.ok, digest=DIGEST, summary="Image is pullable.")])
    assert "has it now" in failing  # the failing image keeps its story
    assert "stale mirror" in failing
    for line, name in ((sidecar, "istio/proxyv2:1.20.0"), (busybox, "busybox:1.36")):
        assert line.startswith(f"{name}: the log does not tie this image to the failure; the registry says ok")
        assert "not found" not in line
        assert "stale mirror" not in line
        assert "sha256:c0ffeec0ffee" in line  # still cites the check


def test_a_confirmation_is_only_given_to_the_failing_image() -> None:
    result = triage(EVENTS_NOT_FOUND)
    [line] = reconcile(result, [diag(SIDECAR, Verdict.tag_not_found)])
    assert "confirmed" not in line
    assert "does not tie this image" in line
    assert "tag_not_found" in line


# --- a platform mismatch checked for no platform ------------------------------------------------

PLATFORM_NO_NAME = ('Failed to pull image "ghcr.io/acme/api:v9": rpc error: code = NotFound desc = failed to '
                    'pull and unpack image "ghcr.io/acme/api:v9": no match for platform in manifest: not found')


def test_a_check_for_no_platform_does_not_contradict_a_platform_mismatch() -> None:
    result = triage(PLATFORM_NO_NAME)
    assert result.category.value == "platform_mismatch"
    assert result.platform is None
    d = diag("ghcr.io/acme/api:v9", Verdict.ok, digest=DIGEST,
             platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST),
                        PlatformDigest(platform="linux/arm/v7", digest=DIGEST)])
    [line] = reconcile(result, [d])
    assert "covered no platform" in line
    assert "--platform <node os/arch>" in line
    assert "offers linux/amd64, linux/arm/v7" in line
    assert "now answers ok" not in line
    assert "confirmed" not in line


def test_a_check_for_no_platform_of_a_single_image_names_no_index() -> None:
    result = triage(PLATFORM_NO_NAME)
    [line] = reconcile(result, [diag("ghcr.io/acme/api:v9", Verdict.ok, digest=DIGEST)])
    assert "covered no platform" in line
    assert "--platform <node os/arch>" in line
    assert "index offers" not in line
