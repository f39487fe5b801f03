"""Classification behaviour beyond the corpus: precedence, evidence, the wrappers, truncation."""

from __future__ import annotations

from bot.domain.models import Category
from bot.domain.triage import MAX_PASTE_BYTES, triage
from bot.domain.triage.rules import RULES

KUBELET_NOT_FOUND = (
    'Failed to pull image "ghcr.io/acme/api:v9": rpc error: code = Unknown desc = failed to pull and unpack '
    'image "ghcr.io/acme/api:v9": failed to resolve reference "ghcr.io/acme/api:v9": ghcr.io/acme/api:v9: '
    "not found")


def test_specific_cause_beats_wrappers() -> None:
    text = "\n".join([
        "  Normal   Pulling    12s  kubelet  Pulling image \"ghcr.io/acme/api:v9\"",
        f"  Warning  Failed     11s  kubelet  {KUBELET_NOT_FOUND}",
        "  Warning  Failed     11s  kubelet  Error: ErrImagePull",
        "  Normal   BackOff    10s  kubelet  Back-off pulling image \"ghcr.io/acme/api:v9\"",
        "  Warning  Failed     10s  kubelet  Error: ImagePullBackOff",
    ])
    result = triage(text)
    assert result.category is Category.tag_not_found
    ranked = [c.category for c in result.categories]
    assert ranked[0] is Category.tag_not_found
    assert Category.backoff_only in ranked
    evidence = result.categories[0].evidence[0]
    assert evidence.line_no == 2
    assert evidence.line[evidence.start:evidence.end].startswith("failed to resolve reference")
    assert evidence.rule == "tag.containerd_resolve_not_found"
    assert result.references[0].normalized == "ghcr.io/acme/api:v9"
    assert result.runtime == "kubelet"
    assert "imagecheck check ghcr.io/acme/api:v9" in [s.command for s in result.next_steps]


def test_digest_reference_makes_it_digest_not_found() -> None:
    digest = "sha256:" + "ab" * 32
    text = (f'failed to pull and unpack image "docker.io/library/nginx@{digest}": failed to resolve reference '
            f'"docker.io/library/nginx@{digest}": docker.io/library/nginx@{digest}: not found')
    assert triage(text).category is Category.digest_not_found
    docker = f"Error response from daemon: manifest for nginx@{digest} not found: manifest unknown: manifest unknown"
    assert triage(docker).category is Category.digest_not_found
    assert triage("manifest for nginx:1.27 not found: manifest unknown").category is Category.tag_not_found


def test_pull_access_denied_is_repo_not_found_or_denied() -> None:
    text = ("Error response from daemon: pull access denied for acme/private, repository does not exist or "
            "may require 'docker login': denied: requested access to the resource is denied")
    result = triage(text)
    assert result.category is Category.repo_not_found_or_denied
    assert result.error_code == "DENIED"
    assert result.references[0].normalized == "docker.io/acme/private:latest"


def test_wrappers_only_is_backoff_only_and_nothing_is_other() -> None:
    assert triage("pod/api-7d9 0/1 ImagePullBackOff 0 3m").category is Category.backoff_only
    other = triage("the deploy went fine, lunch at noon?")
    assert other.category is Category.other
    assert other.confidence == 0.0
    assert other.categories == []
    assert other.references == []


def test_status_code_host_and_error_code_are_extracted() -> None:
    text = ('failed to resolve reference "registry.acme.io/team/app:1.2": unexpected status from HEAD request '
            "to https://registry.acme.io/v2/team/app/manifests/1.2: 401 Unauthorized")
    result = triage(text)
    assert result.category is Category.auth_required
    assert result.http_status == 401
    assert result.registry_host == "registry.acme.io"
    rate = triage("toomanyrequests: You have reached your pull rate limit. 429 Too Many Requests")
    assert (rate.category, rate.http_status, rate.error_code) == (Category.rate_limited, 429, "TOOMANYREQUESTS")
    dns = triage("dial tcp: lookup registry.internal.example on 10.0.0.2:53: no such host")
    assert (dns.category, dns.registry_host) == (Category.dns_error, "registry.internal.example")


def test_clock_skew_beats_generic_tls_wording() -> None:
    text = ("tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time "
            "2020-01-01T00:00:00Z is before 2026-07-08T01:10:17Z")
    assert triage(text).category is Category.clock_skew
    expired = text.replace("is before", "is after")
    assert triage(expired).category is Category.tls_error


def test_secrets_are_redacted_before_classification_and_evidence() -> None:
    token = "ghp_" + "A1b2C3d4E5" * 4
    text = f"docker login -u bot -p {token} ghcr.io\nError response from daemon: unauthorized: authentication required"
    result = triage(text)
    assert token not in result.redacted
    assert token not in result.model_dump_json()
    assert result.redactions >= 1
    assert result.category is Category.auth_required


def test_oversized_paste_is_cut_with_a_notice() -> None:
    line = 'Warning Failed kubelet Failed to pull image "nginx:1.0": toomanyrequests: rate limit\n'
    text = line * (MAX_PASTE_BYTES // len(line) + 100)
    result = triage(text)
    assert result.truncated
    assert result.redacted.rstrip().endswith("were not examined]")
    assert len(result.redacted.encode()) < MAX_PASTE_BYTES + 200
    assert result.category is Category.rate_limited
    small = triage(line)
    assert not small.truncated
    assert "truncated" not in small.redacted


def test_every_category_has_meaning_and_next_steps() -> None:
    for rule in RULES:
        assert rule.meaning
        assert rule.next_steps


def test_the_error_at_the_end_of_an_oversized_paste_is_still_found() -> None:
    # CI and build logs end with their error: cutting keeps the end (and the start), drops the middle.
    noise = 'Normal Pulling kubelet Pulling image "registry.example.com/team/sidecar:2.0"\n'
    failure = ('Warning Failed kubelet Failed to pull image "registry.example.com/payments/api:1.8.4": '
               'rpc error: code = NotFound desc = failed to resolve reference '
               '"registry.example.com/payments/api:1.8.4": registry.example.com/payments/api:1.8.4: not found\n')
    text = noise * (3 * MAX_PASTE_BYTES // len(noise)) + failure
    result = triage(text)
    assert result.truncated
    assert result.category is Category.tag_not_found
    assert "registry.example.com/payments/api:1.8.4" in [r.normalized for r in result.references]
    assert "the middle of this paste was cut here" in result.redacted
    assert len(result.redacted.encode()) < MAX_PASTE_BYTES + 300
