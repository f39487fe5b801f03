"""Diagnoses as the engine produces them, for tests about how Slack shows them."""

from __future__ import annotations

from bot.domain.models import (
    Diagnosis,
    Evidence,
    Finding,
    PlatformDigest,
    RemediationStep,
    Severity,
    Verdict,
)
from tests.slack.harness import ref

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_ARM = "sha256:" + "c" * 64
DIGEST_AMD = "sha256:" + "d" * 64


def ok(text: str = "nginx:1.27", digest: str = DIGEST_A) -> Diagnosis:
    return Diagnosis(
        reference=ref(text), verdict=Verdict.ok, summary="The image exists for every wanted platform",
        registry="registry-1.docker.io", digest=digest,
        media_type="application/vnd.oci.image.index.v1+json",
        platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST_AMD),
                   PlatformDigest(platform="linux/arm64", digest=DIGEST_ARM)],
        requests=3, remediation=[RemediationStep(text="Pin it", command=f"docker pull nginx@{digest}")])


def not_found(text: str = "nginx:1.99", message: str = "manifest unknown") -> Diagnosis:
    return Diagnosis(
        reference=ref(text), verdict=Verdict.tag_not_found, summary="The tag does not exist",
        registry="registry-1.docker.io", suggested_tags=["1.27", "1.26"], requests=4,
        findings=[Finding(kind="manifest_unknown", severity=Severity.error, summary="Registry answered 404",
                          evidence=Evidence(status=404, error_code="MANIFEST_UNKNOWN", message=message))],
        remediation=[RemediationStep(text="Use an existing tag", command="docker pull nginx:1.27")])
