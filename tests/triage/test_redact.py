"""Redaction: for every rule, secrets that must go (true positives) and look-alikes that must stay."""

from __future__ import annotations

import base64
import json

import pytest

from bot.domain.triage import redact

DIGEST = "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
AUTH_B64 = base64.b64encode(b"robot$ci:s3cr3t-Pa55").decode()
JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb2JvdCIsImV4cCI6MTcwMDAwMDAwMH0."
       "c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU")
CONFIG = json.dumps({"auths": {"ghcr.io": {"auth": AUTH_B64}}})
CONFIG_B64 = base64.b64encode(CONFIG.encode()).decode()
# Docker's X-Registry-Auth header: base64 of the auth config JSON.
REGISTRY_AUTH = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p4ss"}).encode()).decode()
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq8Vd3k\nq1w2e3r4t5y6u7i8o9p0\n"
       "-----END RSA PRIVATE KEY-----")


@pytest.mark.parametrize(("rule", "text", "secret"), [
    ("docker_config_auth", CONFIG, AUTH_B64),
    ("docker_config_auth", '{"identitytoken": "d2hhdGV2ZXItdG9rZW4tdmFsdWU="}', "d2hhdGV2ZXItdG9rZW4tdmFsdWU="),
    ("docker_config_auth", f"auth: {AUTH_B64}", AUTH_B64),
    ("dockerconfigjson", f".dockerconfigjson: {CONFIG_B64}", CONFIG_B64),
    ("dockerconfigjson", f"kubectl create secret generic x --from-literal=cfg={CONFIG_B64}", CONFIG_B64),
    ("authorization_header", f"Authorization: Basic {AUTH_B64}", AUTH_B64),
    ("authorization_header", "authorization: Bearer abcdefghijklmnop.qrstuv-wxyz0123",
     "abcdefghijklmnop.qrstuv-wxyz0123"),
    ("authorization_header", f'request.header.authorization="Bearer {JWT}"', JWT),
    ("authorization_header", f"X-Registry-Auth: {REGISTRY_AUTH}", REGISTRY_AUTH),
    ("jwt", f"token {JWT} expired", JWT),
    ("docker_login_password", "docker login -u robot -p hunter2secret registry.acme.io", "hunter2secret"),
    ("docker_login_password", "docker login --password 'pa ss' ghcr.io", "pa ss"),
    ("docker_login_password", "podman login --username u --password=Zx9!qq quay.io", "Zx9!qq"),
    ("docker_login_password", "skopeo copy --src-creds robot:Tok3nValue docker://a docker://b", "robot:Tok3nValue"),
    # forms a reviewer found leaking: prefixed flags, a space before the value, glued -p, *_PASS keys, curl -u
    ("docker_login_password", "kubectl create secret docker-registry regcred --docker-server=r.io "
     "--docker-username=ci --docker-password hunter2secret", "hunter2secret"),
    ("docker_login_password", "skopeo copy --src-username ci --src-password hunter2secret docker://a docker://b",
     "hunter2secret"),
    ("docker_login_password", "skopeo copy --dest-password=hunter2secret docker://a docker://b", "hunter2secret"),
    ("docker_login_password", "regctl registry login r.io --user ci --pass hunter2secret", "hunter2secret"),
    ("docker_login_password", "docker login -ubob -phunter2secret r.io", "hunter2secret"),
    ("secret_assignment", "REGISTRY_PASS=hunter2secret", "hunter2secret"),
    ("secret_assignment", "export DOCKER_PASS=hunter2secret", "hunter2secret"),
    ("url_password", "curl -u ci:hunter2secret https://r.io/v2/_catalog", "hunter2secret"),
    ("signed_url", "failed open: https://b.s3.amazonaws.com/v2/blobs/data?X-Amz-Algorithm=AWS4&"
     "X-Amz-Credential=KEYID%2F20261130&X-Amz-Signature=deadbeefcafe0123 403", "X-Amz-Signature=deadbeefcafe0123"),
    ("signed_url", "GET https://acct.blob.core.windows.net/c/b?sv=2020-02-10&sig=AbC%2BdEf%3D&se=2026 403",
     "sig=AbC%2BdEf%3D"),
    ("url_password", "Get https://robot:Sup3rS3cret@registry.acme.io/v2/", "Sup3rS3cret"),
    ("aws_access_key_id", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_secret_access_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("github_token", "GH_TOKEN ghp_" + "a1B2c3D4e5" * 4, "ghp_" + "a1B2c3D4e5" * 4),
    ("github_token", "pat github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789",
     "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789"),
    ("gitlab_token", "CI uses glpat-xY7zAbCdEfGhIjKlMnOp", "glpat-xY7zAbCdEfGhIjKlMnOp"),
    ("slack_token", "SLACK_BOT=xoxb-1234567890-0987654321-AbCdEfGhIjKl", "xoxb-1234567890-0987654321-AbCdEfGhIjKl"),
    ("slack_token", "app xapp-1-A0123456789-1234567890123-abcdef0123", "xapp-1-A0123456789-1234567890123-abcdef0123"),
    ("slack_token", "rotate xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIz", "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIz"),
    ("slack_webhook", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
     "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("private_key", f"key:\n{PEM}\nend", "MIIEpAIBAAKCAQEA7bq8Vd3k"),
    ("private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", "b3BlbnNzaC1rZXktdjEAAAAA"),
    ("secret_assignment", "REGISTRY_PASSWORD=pl41nT3xt run", "pl41nT3xt"),
    ("secret_assignment", '{"password": "json-secret-1"}', "json-secret-1"),
    ("secret_assignment", "  token: yaml-secret-2", "yaml-secret-2"),
    ("secret_assignment", "curl 'https://x/api?access_token=q1w2e3r4&x=1'", "q1w2e3r4"),
])
def test_secret_is_redacted(rule: str, text: str, secret: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert f"[REDACTED:{rule}]" in result.text
    assert rule in result.rules
    assert result.count >= 1


@pytest.mark.parametrize("text", [
    f"Digest: {DIGEST}",
    f"docker pull nginx@{DIGEST}",
    "Status: Downloaded newer image for nginx:1.27",
    "layer 4a14bdf6da80603aa5007acea8d5ea659958b0bd1b31d31078023ca0d1c8ee05 verified",
    "request 123e4567-e89b-12d3-a456-426614174000",
    'Failed to pull image "registry.local:5000/team/app:1.0@' + DIGEST + '"',
    "Get https://registry-1.docker.io/v2/library/nginx/manifests/latest",
    "Get https://auth.docker.io/token?scope=repository%3Alibrary%2Fnginx%3Apull&service=registry.docker.io",
    "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
    "may require authorization: server message: insufficient_scope: authorization failed",
    "docker run -p 8080:80 -u 1000 nginx",
    "echo $TOKEN | docker login --password-stdin -u bot ghcr.io",
    "  imagePullSecrets:\n  - name: regcred\n  secretName: regcred",
    "password_file=/run/secrets/registry",
    "[auth] library/alpine:pull token for registry-1.docker.io",
    "auth: unauthorized",
    'WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io"',
    "the secret to good pulls is a mirror",
    "Asia/Tokyo asia-docker.pkg.dev/project/repo/image:1",
    "ghp_short",
    "docker run -u 1000:1000 -p 80:80 nginx",
    "bypass: true",
    "passthrough=yes",
    "kubectl create secret docker-registry regcred --docker-password-stdin",
])
def test_look_alikes_stay(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert result.count == 0
    assert result.rules == []


def test_redaction_is_idempotent_and_safe_on_outgoing_text() -> None:
    text = "\n".join([CONFIG, f"Authorization: Bearer {JWT}", "https://u:p4ss@reg.io/v2/",
                      "password=abc", "docker login -p xyz r.io"])
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.count == 0
    outgoing = f":x: {once.text}\n`imagecheck check ghcr.io/a/b@{DIGEST}`"
    assert redact(outgoing).text == outgoing


def test_counts_and_rule_names_in_order_of_first_use() -> None:
    text = "docker login -p one r.io\nhttps://a:two@r.io/\ndocker login -p three r.io"
    result = redact(text)
    assert result.count == 3
    assert result.rules == ["docker_login_password", "url_password"]


def test_a_marker_that_looks_like_user_and_password_is_left_alone() -> None:
    # Found by the property test: "://[REDACTED:private_key]@" has the shape of "://user:password@".
    once = redact("docker://-----BEGIN RSA PRIVATE KEY-----@host/")
    assert once.text == "docker://[REDACTED:private_key]@host/"
    again = redact(once.text)
    assert (again.count, again.text) == (0, once.text)
