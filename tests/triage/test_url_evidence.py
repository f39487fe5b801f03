"""A registry URL in the failure's wording: bare ``denied`` / ``unauthorized`` after a manifest URL, the
reference rebuilt from that URL, and the registry host taken from where the failure is."""

from __future__ import annotations

import pytest

from bot.domain.models import Category
from bot.domain.triage import triage
from bot.domain.triage.extract import extract_references
from bot.domain.triage.focus import refs_to_check, tied_references
from bot.domain.triage.text import ascii_lower

DIGEST = "sha256:" + "0123456789abcdef" * 4
GHCR_HEAD = 'Error response from daemon: Head "https://ghcr.io/v2/acme/tool/manifests/1.0"'


def refs(text: str) -> list[str]:
    return [r.normalized for r in extract_references(text, ascii_lower(text)) if r.valid and r.normalized]


@pytest.mark.parametrize(("ending", "category"), [
    (": denied", Category.repo_not_found_or_denied),
    (": denied.", Category.repo_not_found_or_denied),  # `docker run` ends its error with a period
    (": denied\r", Category.repo_not_found_or_denied),  # Windows line ending
    (": unauthorized", Category.auth_required),
    (": unauthorized.", Category.auth_required),
])
def test_bare_denial_after_a_manifest_url_is_classified(ending: str, category: Category) -> None:
    result = triage(GHCR_HEAD + ending)
    assert result.category is category
    assert result.confidence >= 0.8
    assert [r.normalized for r in result.references] == ["ghcr.io/acme/tool:1.0"]
    assert result.registry_host == "ghcr.io"
    # the next steps name the image, so `imagecheck check` can be run as written
    assert any(s.command == "imagecheck check ghcr.io/acme/tool:1.0" for s in result.next_steps)


def test_bare_denial_in_a_kubelet_event_and_json_escaped() -> None:
    event = ('Warning  Failed  12s  kubelet  Failed to pull image "ghcr.io/acme/tool:1.0": rpc error: code = '
             f"Unknown desc = {GHCR_HEAD}: denied")
    assert triage(event).category is Category.repo_not_found_or_denied
    escaped = '{"msg":"Head \\"https://ghcr.io/v2/acme/tool/manifests/1.0\\": unauthorized"}'
    assert triage(escaped).category is Category.auth_required


@pytest.mark.parametrize("text", [
    GHCR_HEAD + ": denied by the proxy's policy, see the audit log",  # not the end of the line
    'Error response from daemon: Get "https://ghcr.io/v2/": denied',  # a login probe, not a manifest
    "access to the dashboard was denied",
])
def test_denied_elsewhere_is_not_a_pull_denial(text: str) -> None:
    assert triage(text).category is Category.other


def test_denied_denied_keeps_its_own_rule() -> None:
    result = triage(GHCR_HEAD + ": denied: denied")
    assert result.category is Category.auth_forbidden
    assert [ev.rule for c in result.categories for ev in c.evidence] == ["forbidden.ghcr_denied_denied"]


@pytest.mark.parametrize(("text", "expected"), [
    (GHCR_HEAD + ": denied", ["ghcr.io/acme/tool:1.0"]),
    ("Get https://registry-1.docker.io/v2/library/nginx/manifests/1.27: unauthorized",
     ["docker.io/library/nginx:1.27"]),
    ('Head "https://index.docker.io/v2/acme/api/manifests/latest": denied', ["docker.io/acme/api:latest"]),
    (f'Head "https://registry.corp:5000/v2/team/app/manifests/{DIGEST}": denied',
     [f"registry.corp:5000/team/app@{DIGEST}"]),
    # containerd names the upstream registry of a mirror request in "ns"
    ('Head "https://mirror.corp:5000/v2/library/redis/manifests/7?ns=docker.io": denied',
     ["docker.io/library/redis:7"]),
    # Tags keep their case (the URL is sliced from the original text)
    ('Head "https://ghcr.io/v2/acme/tool/manifests/Release-1": denied', ["ghcr.io/acme/tool:Release-1"]),
    # An anonymised placeholder is not an image
    ("Get https://MY_ACCOUNT.dkr.ecr.eu-west-1.amazonaws.com/v2/MY_REPO/manifests/d196: denied", []),
])
def test_reference_rebuilt_from_the_manifest_url(text: str, expected: list[str]) -> None:
    assert refs(text) == expected


def test_a_named_image_wins_over_the_url() -> None:
    # the URL is what the runtime asked after mirror rewriting; the user pulled what the paste names
    text = ('Failed to pull image "nginx:1.27": Error response from daemon: Head '
            '"https://mirror.corp/v2/library/nginx/manifests/1.27": denied')
    assert refs(text) == ["docker.io/library/nginx:1.27"]


SIDECAR = ('  Normal   Pulled   2m   kubelet  Container image "docker.io/istio/proxyv2:1.22.0" already present '
           "on machine\n"
           '  Normal   Pulling  2m   kubelet  Pulling image "registry.corp/team/app:2.1"\n')


def test_registry_host_is_the_failing_registry_not_a_healthy_sidecars() -> None:
    with_url = SIDECAR + ('  Warning  Failed   2m   kubelet  Failed to pull image "registry.corp/team/app:2.1": '
                          'failed to resolve reference "registry.corp/team/app:2.1": unexpected status from HEAD '
                          "request to https://registry.corp/v2/team/app/manifests/2.1: 401 Unauthorized\n")
    result = triage(with_url)
    assert result.category is Category.auth_required
    assert result.registry_host == "registry.corp"
    without_url = SIDECAR + ('  Warning  Failed   2m   kubelet  Failed to pull image "registry.corp/team/app:2.1": '
                             "authentication required\n")
    assert triage(without_url).registry_host == "registry.corp"


def test_registry_host_is_the_mirror_that_failed_tls() -> None:
    text = ('Failed to pull image "docker.io/library/redis:7": failed to do request: Head '
            '"https://mirror.corp:5000/v2/library/redis/manifests/7?ns=docker.io": tls: failed to verify '
            "certificate: x509: certificate signed by unknown authority")
    result = triage(text)
    assert result.category is Category.tls_error
    assert result.registry_host == "mirror.corp:5000"


def test_docker_hub_url_hosts_read_docker_io() -> None:
    text = "Get https://registry-1.docker.io/v2/: net/http: TLS handshake timeout"
    assert triage(text).registry_host == "docker.io"


def test_registry_host_falls_back_to_the_first_reference_then_a_lookup() -> None:
    # no evidence line names anything: the first reference is the best guess
    text = 'Pulling image "quay.io/org/tool:3"\nsomething went wrong: no space left on device'
    assert triage(text).registry_host == "quay.io"
    assert triage("dial tcp: lookup registry.internal on 10.0.0.2:53: no such host").registry_host == \
        "registry.internal"


def test_gitlab_runner_preparation_failure_is_gitlab_not_kubelet() -> None:
    text = ('ERROR: Preparation failed: failed to pull image "ghcr.io/acme/ci:1" with specified policies '
            f"[always]: {GHCR_HEAD}: denied (manager.go:250:0s)")
    result = triage(text)
    assert result.runtime == "gitlab-ci"
    assert result.category is Category.repo_not_found_or_denied
    assert result.registry_host == "ghcr.io"


def test_bare_answer_is_reported_as_its_oci_error_code() -> None:
    assert triage(GHCR_HEAD + ": denied").error_code == "DENIED"
    assert triage(GHCR_HEAD + ": unauthorized").error_code == "UNAUTHORIZED"


def test_registry_host_agrees_with_the_reference_checked_first() -> None:
    text = SIDECAR + ('  Warning  Failed   2m   kubelet  Failed to pull image "registry.corp/team/app:2.1": '
                      "authentication required\n")
    result = triage(text)
    first = refs_to_check(result, 1)
    assert [r.normalized for r in first] == ["registry.corp/team/app:2.1"]
    assert result.registry_host == "registry.corp"


def test_a_url_tied_reference_counts_only_when_the_paste_reports_it() -> None:
    alone = triage(GHCR_HEAD + ": denied")
    assert tied_references(alone) == frozenset({"ghcr.io/acme/tool:1.0"})
    # Docker asked its mirror: the evidence line alone reads as mirror.corp/library/nginx:1.27, which is not
    # what was pulled; the log then ties the failure to no particular image (each may be the one).
    via_mirror = triage('Pulling image "nginx:1.27"\nError response from daemon: Head '
                        '"https://mirror.corp/v2/library/nginx/manifests/1.27": denied')
    assert [r.normalized for r in via_mirror.references] == ["docker.io/library/nginx:1.27"]
    assert tied_references(via_mirror) is None
    assert via_mirror.registry_host == "mirror.corp"
