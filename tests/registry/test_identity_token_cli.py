"""``imagecheck check`` with nothing but an ``az acr login``-style identity token in Docker's config:
a subprocess, the real token-flavour registry, the test token server's OAuth2 endpoint. The token must
never appear in what the command prints, in either output format."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import CheckRun, run_check
from tests.support.local_registry import LocalRegistry
from tests.support.token_server import READER

pytestmark = pytest.mark.slow

ACR_USER = "00000000-0000-0000-0000-000000000000"


def _settings(reg: LocalRegistry) -> dict[str, Any]:
    assert reg.token_server is not None
    return {"registries": {reg.host: {"insecure": True,
                                      "token_realms": [f"127.0.0.1:{reg.token_server.port}"]}}}


def _login(directory: Path, reg: LocalRegistry, identity_token: str) -> None:
    """What `az acr login` leaves behind, in the DOCKER_CONFIG the CLI runner points at."""
    docker_dir = directory / "docker-config"
    docker_dir.mkdir(parents=True, exist_ok=True)
    entry = {"auth": base64.b64encode(f"{ACR_USER}:".encode()).decode(), "identitytoken": identity_token}
    (docker_dir / "config.json").write_text(json.dumps({"auths": {reg.host: entry}}))


def _assert_never_printed(token: str, *runs: CheckRun) -> None:
    for run in runs:
        assert token not in run.stdout
        assert token not in run.stderr


def test_check_reads_a_private_image_with_an_identity_token(tmp_path: Path, registry_token: LocalRegistry) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    token = registry_token.token_server.issue_identity_token(READER)
    image = registry_token.private_scenarios.single_oci
    _login(tmp_path, registry_token, token)
    mark = registry_token.mark()
    run = run_check(tmp_path, _settings(registry_token), registry_token.ref(image.repository, "1.0"))
    traffic = registry_token.traffic_since(mark)
    d = run.only
    assert run.returncode == 0, run.stderr
    assert d["verdict"] == "ok"
    assert d["digest"] == image.digest
    assert [(r.method, r.status) for r in traffic.token] == [("POST", 200)]
    assert d["requests"] == traffic.total
    human = run_check(tmp_path, _settings(registry_token), registry_token.ref(image.repository, "1.0"),
                      json_output=False)
    assert human.returncode == 0, human.stderr
    _assert_never_printed(token, run, human)


def test_check_with_an_expired_identity_token_says_to_log_in_again(tmp_path: Path,
                                                                   registry_token: LocalRegistry) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.token_server is not None
    token = registry_token.token_server.issue_identity_token(READER)
    registry_token.token_server.revoke(token)
    image = registry_token.private_scenarios.single_oci
    _login(tmp_path, registry_token, token)
    ref = registry_token.ref(image.repository, "1.0")
    run = run_check(tmp_path, _settings(registry_token), ref)
    d = run.only
    assert run.returncode == 1
    assert d["verdict"] == "auth_required"
    assert "identity token" in d["summary"]
    assert "log in again" in d["summary"]
    assert "identity_token_rejected" in {f["kind"] for f in d["findings"]}
    assert d["remediation"][0]["command"] == f"docker login {registry_token.host}"
    human = run_check(tmp_path, _settings(registry_token), ref, json_output=False)
    assert "identity token" in human.stdout
    assert f"docker login {registry_token.host}" in human.stdout
    assert "rejected the configured credentials" not in human.stdout
    _assert_never_printed(token, run, human)
