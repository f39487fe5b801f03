"""pin_snippets: every snippet pins the exact digest, YAML snippets are valid YAML, and where the real
tool is installed (kubectl's offline modes, hadolint) the snippet is fed to it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.domain.models import PlatformDigest
from bot.domain.pin import PinSnippets, pin_snippets
from bot.domain.reference import parse_reference

INDEX = "sha256:" + "a" * 64
AMD64 = "sha256:" + "b" * 64
ARM64 = "sha256:" + "c" * 64
ATTESTATION = "sha256:" + "d" * 64
PLATFORMS = [PlatformDigest(platform="linux/amd64", digest=AMD64),
             PlatformDigest(platform="linux/arm64", digest=ARM64),
             PlatformDigest(platform="unknown/unknown", digest=ATTESTATION)]


def snippets(text: str = "nginx:1.25", digest: str = INDEX, **kwargs: object) -> PinSnippets:
    return pin_snippets(parse_reference(text), digest, **kwargs)  # type: ignore[arg-type]


def test_pinned_forms() -> None:
    s = snippets()
    assert s.pinned == f"docker.io/library/nginx@{INDEX}"
    assert s.pinned_with_tag == f"docker.io/library/nginx:1.25@{INDEX}"
    assert s.reference == "docker.io/library/nginx:1.25"
    assert s.digest == INDEX
    # Both pinned forms are references Docker accepts, and resolve to the digest.
    assert parse_reference(s.pinned).digest == INDEX
    assert parse_reference(s.pinned_with_tag).digest == INDEX


def test_every_snippet_carries_the_exact_digest() -> None:
    s = snippets("ghcr.io/org/app:v2.3.1")
    for text in (s.kubectl, s.helm, s.kustomize, s.compose, s.dockerfile):
        assert INDEX in text
        assert "ghcr.io/org/app" in text


def test_helm_values() -> None:
    values = yaml.safe_load(snippets().helm)
    assert values == {"image": {"repository": "docker.io/library/nginx", "tag": "1.25", "digest": INDEX}}


def test_helm_values_without_a_tag_when_pinned_from_a_digest() -> None:
    values = yaml.safe_load(snippets("ghcr.io/org/app@" + ARM64).helm)
    assert values == {"image": {"repository": "ghcr.io/org/app", "digest": INDEX}}


@pytest.mark.parametrize(("text", "name"), [
    ("nginx:1.25", "nginx"),  # Kustomize matches the image as written in the manifests
    ("docker.io/library/nginx:1.25", "docker.io/library/nginx"),
    ("localhost:5000/team/app:dev", "localhost:5000/team/app"),
    ("  'ghcr.io/org/app:1'  ", "ghcr.io/org/app"),
    ("redis@" + ARM64, "redis"),
])
def test_kustomize_images_entry(text: str, name: str) -> None:
    doc = yaml.safe_load(snippets(text).kustomize)
    assert doc["images"] == [{"name": name, "newName": parse_reference(text).name, "digest": INDEX}]


def test_compose_line_is_yaml_with_the_tag_as_a_comment() -> None:
    s = snippets()
    assert yaml.safe_load(s.compose) == {"image": s.pinned}
    assert s.compose.endswith("# 1.25")


def test_dockerfile_from_line() -> None:
    lines = snippets().dockerfile.splitlines()
    assert lines == ["# docker.io/library/nginx:1.25", f"FROM docker.io/library/nginx@{INDEX}"]


def test_kubectl_command() -> None:
    s = snippets(workload="deployment/web", container="web")
    assert shlex.split(s.kubectl) == ["kubectl", "set", "image", "deployment/web", f"web={s.pinned}"]
    default = snippets()
    assert default.kubectl == f"kubectl set image deploy/<name> <container>={default.pinned}"


def test_kubectl_quotes_what_a_shell_would_split() -> None:
    s = snippets(workload="deploy/web; rm -rf /", container="a b")
    assert shlex.split(s.kubectl)[3:] == ["deploy/web; rm -rf /", f"a b={s.pinned}"]


def test_multi_arch_alternatives_and_note() -> None:
    s = snippets(platforms=PLATFORMS)
    assert [(a.platform, a.digest, a.pinned) for a in s.alternatives] == [
        ("linux/amd64", AMD64, f"docker.io/library/nginx@{AMD64}"),
        ("linux/arm64", ARM64, f"docker.io/library/nginx@{ARM64}"),
    ]  # the attestation manifest is not something to deploy
    assert s.index_note is not None
    assert "linux/amd64, linux/arm64" in s.index_note
    assert "index" in s.index_note
    assert "one architecture" in s.index_note


def test_single_platform_image_has_no_note() -> None:
    s = snippets()
    assert s.alternatives == []
    assert s.index_note is None


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "a" * 32, "sha256:" + "A" * 64, "", "a" * 64])
def test_malformed_digest_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid digest"):
        snippets(digest=bad)
    with pytest.raises(ValueError, match="not a valid digest"):
        snippets(platforms=[PlatformDigest(platform="linux/amd64", digest=bad)])


def test_snippets_serialise_as_json() -> None:
    s = snippets(platforms=PLATFORMS)
    assert PinSnippets.model_validate_json(s.model_dump_json()) == s


# --- the snippets fed to the real tools (offline modes only) ----------------------------------------

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.25"}]
"""


def _kubectl_env(tmp_path: Path) -> dict[str, str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")  # no cluster: kubectl can only work locally
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_snippet_rewrites_the_image(tmp_path: Path) -> None:
    s = snippets()
    (tmp_path / "deploy.yaml").write_text(DEPLOYMENT)
    (tmp_path / "kustomization.yaml").write_text("resources: [deploy.yaml]\n" + s.kustomize + "\n")
    out = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, check=True, env=_kubectl_env(tmp_path)).stdout
    assert f"image: {s.pinned}" in out


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_snippet_sets_the_image(tmp_path: Path) -> None:
    s = snippets(workload="deploy/web", container="web")
    args = shlex.split(s.kubectl)
    assert args[:4] == ["kubectl", "set", "image", "deploy/web"]
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    # --local -f: the same arguments applied to a file instead of a cluster.
    out = subprocess.run(["kubectl", "set", "image", "--local", "-f", str(manifest), "-o", "yaml", *args[4:]],
                         capture_output=True, text=True, timeout=60, check=True,
                         env=_kubectl_env(tmp_path)).stdout
    assert f"image: {s.pinned}" in out


def _hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed")
def test_dockerfile_snippet_passes_hadolint() -> None:
    hadolint = _hadolint()
    assert hadolint is not None
    result = subprocess.run([hadolint, "-"], input=snippets().dockerfile + "\n", capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
