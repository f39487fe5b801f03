"""Reference extraction: true positives in every context, and things that must never be references."""

from __future__ import annotations

import pytest

from bot.domain.triage.extract import detect_runtime, extract_platform, extract_references
from bot.domain.triage.text import ascii_lower

DIGEST = "sha256:" + "0123456789abcdef" * 4


def refs(text: str) -> list[str]:
    return [r.normalized for r in extract_references(text, ascii_lower(text)) if r.valid and r.normalized]


@pytest.mark.parametrize(("text", "expected"), [
    ('Pulling image "nginx:1.27"', "docker.io/library/nginx:1.27"),
    ('Failed to pull image "ghcr.io/o/r:v1": rpc error', "ghcr.io/o/r:v1"),
    ('failed to resolve reference "quay.io/a/b:2": quay.io/a/b:2: not found', "quay.io/a/b:2"),
    ("Error response from daemon: manifest for acme/api:7 not found: manifest unknown", "docker.io/acme/api:7"),
    ("pull access denied for acme/private, repository does not exist", "docker.io/acme/private:latest"),
    ('Back-off pulling image "registry.local:5000/team/app:1.0"', "registry.local:5000/team/app:1.0"),
    ("$ docker pull redis:7", "docker.io/library/redis:7"),
    ("docker pull --platform linux/arm64 alpine:3.20", "docker.io/library/alpine:3.20"),
    ("/usr/bin/docker pull ghcr.io/x/y:1", "ghcr.io/x/y:1"),
    ("sudo ctr -n k8s.io images pull docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36"),
    ("crictl pull k8s.gcr.io/pause:3.9", "k8s.gcr.io/pause:3.9"),
    ("    image: ghcr.io/acme/web:2.0  # pinned", "ghcr.io/acme/web:2.0"),
    ("  - image: 'postgres:16'", "docker.io/library/postgres:16"),
    ("    Image:          549840312665.dkr.ecr.us-east-1.amazonaws.com/app:latest",
     "549840312665.dkr.ecr.us-east-1.amazonaws.com/app:latest"),
    (" => ERROR [1/3] FROM docker.io/library/golang:1.22@" + DIGEST, "docker.io/library/golang@" + DIGEST),
    ("FROM --platform=linux/amd64 node:20 AS build", "docker.io/library/node:20"),
    ("Trying to pull docker.io/library/alpine:latest...", "docker.io/library/alpine:latest"),
    ("skopeo inspect docker://quay.io/coreos/etcd:v3.5.0", "quay.io/coreos/etcd:v3.5.0"),
    ("Error reading manifest v2 in quay.io/org/tool: manifest unknown", "quay.io/org/tool:v2"),
    (f"reading manifest {DIGEST} in ghcr.io/o/r: manifest unknown", "ghcr.io/o/r@" + DIGEST),
    ("helm pull oci://ghcr.io/org/charts/app --version 1.2.0", "ghcr.io/org/charts/app:latest"),
    ('err="..." image="registry.k8s.io/pause:3.9"', "registry.k8s.io/pause:3.9"),
    ('failed to pull and unpack image \\"docker.io/library/redis:7\\": x', "docker.io/library/redis:7"),
])
def test_references_found_in_context(text: str, expected: str) -> None:
    assert refs(text) == [expected]


@pytest.mark.parametrize("text", [
    # A blob URL names a layer, not an image (a manifest URL does: see test_url_evidence.py).
    f"Get https://registry-1.docker.io/v2/library/nginx/blobs/{DIGEST}: net/http: TLS handshake timeout",
    "write /var/lib/docker/tmp/GetImageBlob3110843648: no space left on device",
    f"Digest: {DIGEST}",
    f"{DIGEST}: not found",
    "0123456789abcdef" * 4,
    "dial tcp: lookup registry.example.com on 10.0.0.2:53: no such host",
    "image: {{ .Values.image.repository }}:{{ .Values.image.tag }}",
    "Docker pull failed with exit code 1, back off 7.882 seconds before retry.",
    "Error: Status 429 trying to pull repository google_containers/kube-ui",
    "the image from yesterday was fine, see docs at ./images/readme.md",
    "    image: registry.example.com",
    "request id 123e4567-e89b-12d3-a456-426614174000 failed",
])
def test_non_references_are_not_reported(text: str) -> None:
    assert refs(text) == []


def test_dedup_in_order_of_first_appearance() -> None:
    text = "\n".join([
        'Pulling image "busybox"',
        'Failed to pull image "docker.io/library/busybox:latest": x',
        'Pulling image "ghcr.io/a/b:1"',
        'Back-off pulling image "busybox"',
    ])
    assert refs(text) == ["docker.io/library/busybox:latest", "ghcr.io/a/b:1"]


def test_repository_only_mention_does_not_duplicate_the_tagged_reference() -> None:
    text = ("Using Docker executor with image deployphp/deployer:7 ...\n"
            "pull access denied for deployphp/deployer, repository does not exist")
    assert refs(text) == ["docker.io/deployphp/deployer:7"]


def test_invalid_reference_in_error_wording_is_reported_invalid() -> None:
    text = 'couldn\'t parse image reference "registry.io/Team/App:1": invalid reference format'
    found = extract_references(text, ascii_lower(text))
    assert len(found) == 1
    assert found[0].as_written == "registry.io/Team/App:1"
    assert not found[0].valid
    assert found[0].normalized is None
    assert found[0].error


@pytest.mark.parametrize(("text", "platform"), [
    ("no matching manifest for linux/arm64/v8 in the manifest list entries", "linux/arm64/v8"),
    ("no matching manifest for windows/amd64 in the manifest list entries", "windows/amd64"),
    ("no image found in manifest list for architecture arm64, variant \"v8\", OS linux", "linux/arm64/v8"),
    ("no image found in manifest list for architecture amd64, variant \"\", OS linux", "linux/amd64"),
    ("does not match the specified platform: wanted linux/arm64, actual: linux/amd64", "linux/arm64"),
    ("The requested image's platform (linux/amd64) does not match the detected host platform (linux/arm64/v8)",
     "linux/arm64/v8"),
    ("docker pull --platform linux/aarch64 nginx", "linux/arm64"),
])
def test_platform(text: str, platform: str) -> None:
    assert extract_platform(ascii_lower(text)) == platform


def test_no_platform_when_none_is_named() -> None:
    assert extract_platform("manifest unknown") is None


@pytest.mark.parametrize(("text", "runtime"), [
    ("Warning Failed kubelet Error: ErrImagePull", "kubelet"),
    ("Error response from daemon: manifest unknown", "docker"),
    ("ctr: failed to resolve reference \"x\": not found", "containerd"),
    ("Trying to pull quay.io/a/b:1...", "podman"),
    ("ERROR: failed to solve: node:20: failed to resolve source metadata", "buildkit"),
    ("FATA[0000] failed to resolve reference; nerdctl pull", "nerdctl"),
    ("Error: INSTALLATION FAILED: failed to authorize", "helm"),
    ("ERROR: Job failed: failed to pull image", "gitlab-ci"),
    ("##[error]Docker pull failed with exit code 1", "github-actions"),
    ("CannotPullContainerError: pull image manifest has been retried", "ecs"),
    ("just words", None),
])
def test_runtime(text: str, runtime: str | None) -> None:
    assert detect_runtime(ascii_lower(text)) == runtime


def test_kubelet_inspect_failed_shows_the_bad_reference_and_what_was_meant() -> None:
    from bot.domain.triage import triage

    paste = ('Warning  InspectFailed  3s  kubelet  Failed to apply default image tag '
             '"registry.example.com/Payments/API:1.8.3": couldn\'t parse image name '
             '"registry.example.com/Payments/API:1.8.3": invalid reference format: repository name must be '
             'lowercase')
    result = triage(paste)
    (ref,) = result.references
    assert ref.as_written == "registry.example.com/Payments/API:1.8.3"
    assert not ref.valid
    assert ref.error is not None
    assert "did you mean registry.example.com/payments/api:1.8.3?" in ref.error
    assert any(s.command == "imagecheck parse registry.example.com/Payments/API:1.8.3" for s in result.next_steps)
