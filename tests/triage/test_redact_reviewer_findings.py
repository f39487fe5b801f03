"""Secrets a reviewer found surviving redaction, and pastes built to stall it.

Each case checks the whole redacted text: the secret is gone and the rest of the line still reads as the
person pasted it.
"""

from __future__ import annotations

import pytest

from bot.domain.triage import redact, triage
from bot.domain.triage.redact import names_a_secret
from bot.slack.links import as_typed

JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb2JvdCIsImV4cCI6MTcwMDAwMDAwMH0."
       "c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq8Vd3k\nq1w2e3r4t5y6u7i8o9p0\n"
       "-----END RSA PRIVATE KEY-----")


@pytest.mark.parametrize(("pasted", "shown"), [
    # 1. Slack's &amp; no longer ends the value once as_typed decodes it (see the test below too).
    (as_typed("Error: login failed with password=Abc&amp;def for robot"),
     "Error: login failed with password=[REDACTED:secret_assignment] for robot"),
    ("GET /token?password=abc&user=ci&x=1", "GET /token?password=[REDACTED:secret_assignment]&user=ci&x=1"),
    ("REGISTRY_TOKEN=abc&def && make push", "REGISTRY_TOKEN=[REDACTED:secret_assignment] && make push"),
    # 2. Kubernetes env: the name says secret, the value is on the next line.
    ("env:\n- name: REGISTRY_PASSWORD\n  value: \"hunter2\"\n- name: LOG_LEVEL\n  value: debug",
     "env:\n- name: REGISTRY_PASSWORD\n  value: \"[REDACTED:secret_assignment]\"\n- name: LOG_LEVEL\n"
     "  value: debug"),
    ("        - name: API_KEY\r\n          value: abc123\r\n",
     "        - name: API_KEY\r\n          value: [REDACTED:secret_assignment]\r\n"),
    ("- name: GITHUB_TOKEN\n  value: 'tok-9f8e7d'\n",
     "- name: GITHUB_TOKEN\n  value: '[REDACTED:secret_assignment]'\n"),
    ('"env": [{"name": "REGISTRY_PASSWORD", "value": "hun\\"ter2"}, {"name": "MODE", "value": "x"}]',
     '"env": [{"name": "REGISTRY_PASSWORD", "value": "[REDACTED:secret_assignment]"}, {"name": "MODE", "value": "x"}]'),
    # 3. containerd's ctr (--user/-u user:password) and crictl (--auth, --creds).
    ("ctr i pull --user admin:hunter2 r/x", "ctr i pull --user admin:[REDACTED:docker_login_password] r/x"),
    ("ctr -n k8s.io images pull -u admin:hunter2 docker.io/library/x:1",
     "ctr -n k8s.io images pull -u admin:[REDACTED:docker_login_password] docker.io/library/x:1"),
    ("crictl pull --auth YWRtaW46aHVudGVyMg== r/x", "crictl pull --auth [REDACTED:docker_login_password] r/x"),
    ("crictl pull --creds admin:hunter2 r/x", "crictl pull --creds [REDACTED:docker_login_password] r/x"),
    # 4. a flag inside an argument list, after a quote, bracket or comma.
    ('command: ["skopeo","copy","--src-creds=u:hunter2","docker://a/b:1","docker://c/b:1"]',
     'command: ["skopeo","copy","--src-creds=[REDACTED:docker_login_password]","docker://a/b:1","docker://c/b:1"]'),
    ('args: ["login", "-p", "hunter2", "r.io"]',
     'args: ["login", "-p", "[REDACTED:docker_login_password]", "r.io"]'),
    ('docker login -u u -p"hun ter2" r.io', 'docker login -u u -p"[REDACTED:docker_login_password]" r.io'),
    # 5. a login split over lines with backslashes keeps its lines.
    ("$ docker login -u u \\\n  -p hunter2 r.example\nLogin Succeeded",
     "$ docker login -u u \\\n  -p [REDACTED:docker_login_password] r.example\nLogin Succeeded"),
    ("podman login \\\r\n  --password hunter2 \\\r\n  quay.io",
     "podman login \\\r\n  --password [REDACTED:docker_login_password] \\\r\n  quay.io"),
    # 6. a URL with an empty user name.
    ("Error: dial redis://:hunter2@redis:6379: connection refused",
     "Error: dial redis://:[REDACTED:url_password]@redis:6379: connection refused"),
    ("GET https://:TOKEN123@host.example/v2/: 401",
     "GET https://:[REDACTED:url_password]@host.example/v2/: 401"),
    # 7. an escaped quote inside a quoted value.
    ('{"password": "hun\\"ter2", "user": "ci"}', '{"password": "[REDACTED:secret_assignment]", "user": "ci"}'),
    ('{"password": "ends\\\\", "user": "ci"}', '{"password": "[REDACTED:secret_assignment]", "user": "ci"}'),
])
def test_secret_is_gone_and_the_log_still_reads(pasted: str, shown: str) -> None:
    assert redact(pasted).text == shown


@pytest.mark.parametrize("text", [
    "docker run -u 1000:1000 -p 8080:80 nginx",  # a uid:gid and a port, not credentials
    "ctr run -u 1000:1000 docker.io/library/x:1 task",  # ctr run's -u is a user, not a registry login
    "- name: PASSWORD_FILE\n  value: /run/secrets/registry",  # names a file holding the secret
    "- name: LOG_LEVEL\n  value: debug",
    "- name: AUTH_ENABLED\n  value: \"true\"",  # a switch, not a secret
    "see https://registry.example:5000/v2/ and ssh://git@host/x",
    "cat <<EOF \\\n  | grep login",
])
def test_look_alikes_stay(text: str) -> None:
    assert redact(text).text == text


def test_names_that_say_secret() -> None:
    assert [names_a_secret(n) for n in ("REGISTRY_PASSWORD", "DB_PASS", "AUTH", "GCP_CREDENTIALS", "SSH_KEY",
                                        "NPM_TOKEN", "client_secret")] == [True] * 7
    assert [names_a_secret(n) for n in ("PASSWORD_FILE", "SECRET_NAME", "KEY_PATH", "LOG_LEVEL",
                                        "BYPASS_CACHE")] == [False] * 5


def test_slack_entities_are_decoded_before_redaction() -> None:
    typed = as_typed("password=Abc&amp;def and &gt;&gt;&gt; FROM node:20 &amp;lt;kept&amp;gt;")
    assert typed == "password=Abc&def and >>> FROM node:20 &lt;kept&gt;"
    assert redact(typed).text == "password=[REDACTED:secret_assignment] and >>> FROM node:20 &lt;kept&gt;"
    result = triage(as_typed("docker login -u ci -p Abc&amp;def ghcr.io\nError response from daemon: "
                             "Get \"https://ghcr.io/v2/\": denied: denied"))
    assert "Abc" not in result.redacted
    assert "def" not in result.redacted.split("ghcr.io")[0]


# Shapes that used to cost seconds per megabyte; here, small, they must still be redacted correctly
# (their speed is measured in bench/triage_throughput.py).
def test_a_jwt_among_many_eyj_runs_is_found() -> None:
    text = "eyJ" * 2000 + "\nAuthorization token " + JWT + " expired\n" + "eyJx.eyJy." * 500
    out = redact(text).text
    assert JWT not in out
    assert out.count("[REDACTED:jwt]") == 1
    assert out.startswith("eyJ" * 2000 + "\nAuthorization token [REDACTED:jwt] expired\n")


def test_jwt_parts_inside_a_longer_dotted_run() -> None:
    # The JWT starts at the second "eyJ" part; the part after its signature stays.
    text = "x.eyJshort." + JWT + ".tail"
    assert redact(text).text == "x.eyJshort.[REDACTED:jwt].tail"


def test_repeated_key_headers_then_a_real_key() -> None:
    headers = "-----BEGIN PRIVATE KEY-----" * 50
    out = redact(f"{headers}\nfine line\n{PEM}\nafter").text
    assert "MIIEpAIBAAKCAQEA7bq8Vd3k" not in out
    assert out.endswith("[REDACTED:private_key]\nafter")


def test_two_keys_and_a_cut_one_are_each_redacted() -> None:
    cut = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIAbc+def/123"
    out = redact(f"a\n{PEM}\nb\n{PEM}\nc\n{cut}").text
    assert out == "a\n[REDACTED:private_key]\nb\n[REDACTED:private_key]\nc\n[REDACTED:private_key]"


def test_repeated_password_keys_are_one_redaction_each_value() -> None:
    out = redact("password=" * 300 + " tail").text
    assert out.endswith(" tail")
    assert "password=" in out  # the first key stays readable
    assert out.startswith("password=[REDACTED:secret_assignment]")


def test_signed_url_and_curl_password_after_many_lookalikes() -> None:
    url = "https://blob.example/b/sha256:ab?X-Amz-Credential=AKIDX&X-Amz-Signature=deadbeef"
    out = redact("http://" * 300 + " curl " * 300 + f"\nfailed open: {url}\ncurl -s -u bot:hunter2 https://r.io/v2/").text
    assert out.endswith("\nfailed open: https://blob.example/b/sha256:ab?[REDACTED:signed_url]\n"
                        "curl -s -u bot:[REDACTED:url_password] https://r.io/v2/")
