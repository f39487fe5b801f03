"""Secrets a fourth review found surviving the redactor (each was returned unchanged)."""

from __future__ import annotations

import pytest

from bot.domain.triage.redact import redact
from bot.slack.links import as_typed

B64 = "Ym9iOmh1bnRlcjI="  # base64 of bob:hunter2


@pytest.mark.parametrize(("paste", "secret"), [
    ("skopeo copy --src-registry-token tok123abc docker://a/b docker://c/d", "tok123abc"),
    ("skopeo copy --dest-registry-token tok123abc docker://a/b docker://c/d", "tok123abc"),
    # containerd config.toml and a Python dict: "auth" followed by a space or a quote, not ":" / "="
    (f'[plugins."io.containerd.grpc.v1.cri".registry.configs."r.io".auth]\n  auth = "{B64}"', B64[:12]),
    (f"{{'auths': {{'r.io': {{'auth': '{B64}'}}}}}}", B64[:12]),
    # containerd hosts.toml: the header's value is a list
    (f'[host."https://r.io".header]\n  Authorization = ["Basic {B64}"]', B64[:12]),
    ("/usr/bin/ctr -n k8s.io images pull --user bob:hunter2 r.io/a:1", "hunter2"),
    (f"/usr/local/bin/crictl pull --auth {B64} r.io/a:1", B64[:12]),
    ("https://bob:hun@ter2@mirror.corp/v2/", "ter2"),
    ("REGISTRY_PWD=hunter2", "hunter2"),
    ("aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
])
def test_the_secret_is_gone(paste: str, secret: str) -> None:
    redacted = redact(paste).text
    assert secret not in redacted
    assert "[REDACTED" in redacted


@pytest.mark.parametrize(("slack_text", "secret"), [
    ("https://bob:p&lt;ss9Word@r.io/v2/", "ss9Word"),  # Slack's escape of "<", decoded by as_typed
    ("password=p&lt;ss9Word", "ss9Word"),
])
def test_decoded_slack_text_is_still_redacted(slack_text: str, secret: str) -> None:
    assert secret not in redact(as_typed(slack_text)).text


def test_the_image_and_host_around_a_url_password_stay_readable() -> None:
    redacted = redact("pull https://bob:hun@ter2@mirror.corp/v2/team/app/manifests/1.0 failed").text
    assert "mirror.corp/v2/team/app/manifests/1.0 failed" in redacted


def test_the_shells_working_directory_is_not_a_secret() -> None:
    # "pwd" names a password only with a prefix (REGISTRY_PWD); a CI log's PWD/OLDPWD is a path
    paste = "PWD=/builds/acme/app\nOLDPWD=/root\nREGISTRY_PWD=hunter2"
    assert redact(paste).text == "PWD=/builds/acme/app\nOLDPWD=/root\nREGISTRY_PWD=[REDACTED:secret_assignment]"

