"""``imagecheck check`` end to end: a subprocess, real distribution registries and fault servers on
127.0.0.1, settings from a YAML file. Request counts are read from the registries' own access logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import run_check
from tests.support.fault_servers import (
    BlackholeServer,
    PlainHttpServer,
    RateLimitedServer,
    RefusedEndpoint,
    SkewedClockServer,
    TlsServer,
)
from tests.support.image_builder import StaleMirror
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow


def _insecure(*hosts: str, **extra: Any) -> dict[str, Any]:
    return {"registries": {h: {"insecure": True, **extra} for h in hosts}}


def _token_config(reg: LocalRegistry, *, creds: bool) -> dict[str, Any]:
    assert reg.token_server is not None
    entry: dict[str, Any] = {"insecure": True, "token_realms": [reg.token_server.base_url.split("//")[1]]}
    if creds:
        assert reg.reader is not None
        entry.update(username=reg.reader.username, password=reg.reader.password)
    return {"registries": {reg.host: entry}}


# --- resolves -----------------------------------------------------------------------------------


def test_single_arch_image_is_ok_with_one_request(tmp_path: Path, registry_open: LocalRegistry):
    image = registry_open.scenarios.single_oci
    mark = registry_open.mark()
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(image.repository, "1.0"))
    traffic = registry_open.traffic_since(mark)
    d = run.only
    assert run.returncode == 0, run.stderr
    assert d["verdict"] == "ok"
    assert d["digest"] == image.digest
    assert d["media_type"] == image.media_type
    assert d["reference"]["input"] == registry_open.ref(image.repository, "1.0")
    assert d["reference"]["normalized"] == f"{registry_open.host}/{image.repository}:1.0"
    assert d["requests"] == traffic.total == 1


def test_multi_arch_index_lists_platforms_and_checks_each_child(tmp_path: Path,
                                                                registry_open: LocalRegistry):
    index = registry_open.scenarios.multi_oci
    mark = registry_open.mark()
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(index.repository, "1.0"))
    traffic = registry_open.traffic_since(mark)
    d = run.only
    assert d["verdict"] == "ok"
    assert d["digest"] == index.digest
    assert {p["digest"] for p in d["platforms"]} == {c.digest for c in index.children}  # no attestation
    # the index, then a HEAD per real child
    assert d["requests"] == traffic.total == 1 + len(index.children)
    assert [r.method for r in traffic.registry].count("HEAD") == len(index.children)


def test_docker_manifest_list_for_a_wanted_platform(tmp_path: Path, registry_open: LocalRegistry):
    index = registry_open.scenarios.multi_docker
    mark = registry_open.mark()
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(index.repository, "1.0"),
                    "--platform", "linux/arm64")
    d = run.only
    assert d["verdict"] == "ok"
    assert d["missing_platforms"] == []
    assert d["requests"] == registry_open.traffic_since(mark).total == 2


# --- not found ----------------------------------------------------------------------------------


def test_missing_tag_suggests_the_nearest_tags(tmp_path: Path, registry_open: LocalRegistry):
    payments = registry_open.scenarios.payments
    mark = registry_open.mark()
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(payments.repository, "1.8.4"))
    d = run.only
    assert run.returncode == 1
    assert d["verdict"] == "tag_not_found"
    assert d["suggested_tags"][:2] == ["1.8.4-hotfix1", "1.8.3"]
    codes = {f["evidence"].get("error_code") for f in d["findings"]}
    assert "MANIFEST_UNKNOWN" in codes
    assert d["requests"] == registry_open.traffic_since(mark).total == 2


def test_human_output_quotes_the_registry_answer_once(tmp_path: Path, registry_open: LocalRegistry):
    payments = registry_open.scenarios.payments
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(payments.repository, "1.8.4"),
                    json_output=False)
    line = next(x for x in run.stdout.splitlines() if "has no manifest for tag 1.8.4" in x)
    assert line.count("404 MANIFEST_UNKNOWN") == 1, line  # not "(404 MANIFEST_UNKNOWN) [404 MANIFEST_UNKNOWN]"


def test_missing_digest_in_an_existing_repository(tmp_path: Path, registry_open: LocalRegistry):
    payments = registry_open.scenarios.payments
    run = run_check(tmp_path, _insecure(registry_open.host),
                    registry_open.ref(payments.repository, "sha256:" + "0" * 64))
    assert run.only["verdict"] == "digest_not_found"
    assert run.returncode == 1


def test_missing_repository_is_told_apart_by_the_tags_list(tmp_path: Path, registry_open: LocalRegistry):
    missing = registry_open.scenarios.missing_repository
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(missing, "1.0"))
    d = run.only
    assert d["verdict"] == "repo_not_found_or_denied"
    assert "NAME_UNKNOWN" in {f["evidence"].get("error_code") for f in d["findings"]}


# --- auth ---------------------------------------------------------------------------------------


def test_basic_auth_registry_without_credentials(tmp_path: Path, registry_basic: LocalRegistry):
    image = registry_basic.scenarios.single_oci
    run = run_check(tmp_path, _insecure(registry_basic.host), registry_basic.ref(image.repository, "1.0"))
    d = run.only
    assert d["verdict"] == "auth_required"
    assert any(f["evidence"].get("status") == 401 for f in d["findings"])


def test_basic_auth_registry_with_credentials(tmp_path: Path, registry_basic: LocalRegistry):
    image = registry_basic.scenarios.single_oci
    assert registry_basic.reader is not None
    config = _insecure(registry_basic.host, username=registry_basic.reader.username,
                       password=registry_basic.reader.password)
    run = run_check(tmp_path, config, registry_basic.ref(image.repository, "1.0"))
    assert run.only["verdict"] == "ok"
    assert run.only["digest"] == image.digest
    assert registry_basic.reader.password not in run.stdout + run.stderr


def test_basic_auth_registry_with_a_wrong_password(tmp_path: Path, registry_basic: LocalRegistry):
    image = registry_basic.scenarios.single_oci
    assert registry_basic.reader is not None
    config = _insecure(registry_basic.host, username=registry_basic.reader.username,
                       password="not-the-password")
    run = run_check(tmp_path, config, registry_basic.ref(image.repository, "1.0"))
    d = run.only
    assert d["verdict"] == "auth_required"
    assert "rejected" in d["summary"]
    assert "not-the-password" not in run.stdout


def test_token_registry_public_repository_anonymously(tmp_path: Path, registry_token: LocalRegistry):
    image = registry_token.scenarios.single_oci
    mark = registry_token.mark()
    run = run_check(tmp_path, _token_config(registry_token, creds=False),
                    registry_token.ref(image.repository, "1.0"))
    traffic = registry_token.traffic_since(mark)
    assert run.only["verdict"] == "ok"
    assert run.only["requests"] == traffic.total
    assert len(traffic.token) == 1


def test_token_registry_private_repository_anonymously_wont_say_which(tmp_path: Path,
                                                                      registry_token: LocalRegistry):
    assert registry_token.private_scenarios is not None
    image = registry_token.private_scenarios.single_oci
    run = run_check(tmp_path, _token_config(registry_token, creds=False),
                    registry_token.ref(image.repository, "1.0"))
    d = run.only
    assert d["verdict"] == "repo_not_found_or_denied"
    assert "doesn't exist or you lack access" in d["summary"]
    assert "won't say which" in d["summary"]


def test_token_registry_private_missing_repository_looks_the_same_anonymously(
        tmp_path: Path, registry_token: LocalRegistry):
    assert registry_token.private_scenarios is not None
    missing = registry_token.private_scenarios.missing_repository
    run = run_check(tmp_path, _token_config(registry_token, creds=False), registry_token.ref(missing, "1.0"))
    assert run.only["verdict"] == "repo_not_found_or_denied"
    assert "won't say which" in run.only["summary"]


def test_token_registry_private_repository_with_credentials(tmp_path: Path, registry_token: LocalRegistry):
    assert registry_token.private_scenarios is not None
    image = registry_token.private_scenarios.single_oci
    run = run_check(tmp_path, _token_config(registry_token, creds=True),
                    registry_token.ref(image.repository, "1.0"))
    assert run.only["verdict"] == "ok"
    assert run.only["digest"] == image.digest


def test_token_registry_private_missing_repository_with_credentials_is_plainly_missing(
        tmp_path: Path, registry_token: LocalRegistry):
    assert registry_token.private_scenarios is not None
    missing = registry_token.private_scenarios.missing_repository
    run = run_check(tmp_path, _token_config(registry_token, creds=True), registry_token.ref(missing, "1.0"))
    d = run.only
    assert d["verdict"] == "repo_not_found_or_denied"
    assert "does not exist" in d["summary"]
    assert "NAME_UNKNOWN" in {f["evidence"].get("error_code") for f in d["findings"]}


# --- what the node will need --------------------------------------------------------------------


def test_arm64_wanted_from_an_amd64_only_index(tmp_path: Path, registry_open: LocalRegistry):
    index = registry_open.scenarios.amd64_only
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(index.repository, "1.0"),
                    "--platform", "linux/arm64")
    d = run.only
    assert run.returncode == 1
    assert d["verdict"] == "platform_mismatch"
    assert d["missing_platforms"] == ["linux/arm64"]
    assert [p["platform"] for p in d["platforms"]] == ["linux/amd64"]
    assert any("buildx" in (s.get("command") or "") for s in d["remediation"])


def test_fleet_platforms_from_settings_apply_without_a_flag(tmp_path: Path, registry_open: LocalRegistry):
    index = registry_open.scenarios.amd64_only
    config = {**_insecure(registry_open.host), "platforms": ["linux/amd64", "linux/arm64"]}
    run = run_check(tmp_path, config, registry_open.ref(index.repository, "1.0"))
    assert run.only["verdict"] == "platform_mismatch"
    assert run.only["wanted_platforms"] == ["linux/amd64", "linux/arm64"]


def test_single_arch_image_platform_read_from_its_config(tmp_path: Path, registry_open: LocalRegistry):
    image = registry_open.scenarios.single_docker
    mark = registry_open.mark()
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(image.repository, "1.0"),
                    "--platform", "linux/arm64")
    d = run.only
    assert d["verdict"] == "platform_mismatch"
    assert d["platforms"][0]["platform"] == "linux/amd64"
    assert d["requests"] == registry_open.traffic_since(mark).total == 2  # manifest + config blob


def test_dangling_index_child(tmp_path: Path, registry_open: LocalRegistry):
    index = registry_open.scenarios.dangling
    deleted = registry_open.scenarios.dangling_deleted
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(index.repository, "1.0"))
    d = run.only
    assert d["verdict"] == "dangling_index"
    assert any(deleted.digest in f["summary"] for f in d["findings"] if f["kind"] == "dangling_child")


def test_missing_blob_found_with_deep_only(tmp_path: Path, registry_open: LocalRegistry):
    image = registry_open.scenarios.missing_blob
    ref = registry_open.ref(image.repository, "1.0")
    shallow = run_check(tmp_path, _insecure(registry_open.host), ref)
    assert shallow.only["verdict"] == "ok"
    deep = run_check(tmp_path, _insecure(registry_open.host), ref, "--deep")
    d = deep.only
    assert d["verdict"] == "blob_unknown"
    missing = [f for f in d["findings"] if f["kind"] == "blob_missing"]
    assert len(missing) == 1
    assert registry_open.scenarios.missing_blob_digest in missing[0]["summary"]


def test_stale_mirror_is_named(tmp_path: Path, stale_mirror: StaleMirror):
    config = {"registries": {
        stale_mirror.upstream.host: {"insecure": True, "mirrors": [stale_mirror.mirror.host]},
        stale_mirror.mirror.host: {"insecure": True}}}
    upstream = stale_mirror.upstream.host
    stale = run_check(tmp_path, config, f"{upstream}/{stale_mirror.repository}:{stale_mirror.tag}")
    d = stale.only
    assert d["verdict"] == "mirror_stale"
    assert d["digest"] == stale_mirror.upstream_digest
    finding = next(f for f in d["findings"] if f["kind"] == "mirror_stale")
    assert stale_mirror.mirror.host in finding["summary"]
    assert stale_mirror.mirror_digest in finding["summary"]
    agreed = run_check(tmp_path, config, f"{upstream}/{stale_mirror.repository}:{stale_mirror.agreed_tag}")
    assert agreed.only["verdict"] == "ok"


# --- faults -------------------------------------------------------------------------------------


def test_rate_limited_with_quota_and_reset(tmp_path: Path, rate_limited_server: RateLimitedServer):
    run = run_check(tmp_path, _insecure(rate_limited_server.host), f"{rate_limited_server.host}/some/app:1")
    d = run.only
    assert d["verdict"] == "rate_limited"
    assert "0 of 100 pulls left per 6 h" in d["summary"]
    assert "retry after 1 h" in d["summary"]


@pytest.mark.parametrize("server_fixture", ["tls_unknown_ca_server", "tls_expired_server",
                                            "tls_wrong_host_server"])
def test_tls_failures(tmp_path: Path, request: pytest.FixtureRequest, server_fixture: str):
    server: TlsServer = request.getfixturevalue(server_fixture)
    config: dict[str, Any] = {"registries": {server.host: {}}}
    run = run_check(tmp_path, config, f"{server.host}/some/app:1")
    d = run.only
    assert d["verdict"] == "tls_error"
    assert d["findings"][0]["evidence"]["exception"]


def test_plain_http_registry_where_https_was_expected(tmp_path: Path, plain_http_server: PlainHttpServer):
    config: dict[str, Any] = {"registries": {plain_http_server.host: {}}}
    run = run_check(tmp_path, config, f"{plain_http_server.host}/some/app:1")
    assert run.only["verdict"] == "insecure_http"


def test_connection_refused(tmp_path: Path, refused_endpoint: RefusedEndpoint):
    run = run_check(tmp_path, _insecure(refused_endpoint.host), f"{refused_endpoint.host}/some/app:1")
    d = run.only
    assert d["verdict"] == "connection_refused"
    assert "refused" in d["findings"][0]["evidence"]["exception"].lower()


def test_network_timeout(tmp_path: Path, blackhole_server: BlackholeServer):
    config = {**_insecure(blackhole_server.host),
              "http": {"connect_timeout_s": 1, "read_timeout_s": 1, "request_deadline_s": 2}}
    run = run_check(tmp_path, config, f"{blackhole_server.host}/some/app:1")
    d = run.only
    assert d["verdict"] == "network_timeout"
    assert d["findings"][0]["evidence"]["exception"]


def test_private_address_not_in_settings_is_blocked(tmp_path: Path, registry_open: LocalRegistry):
    image = registry_open.scenarios.single_oci
    mark = registry_open.mark()
    run = run_check(tmp_path, {"registries": {}}, registry_open.ref(image.repository, "1.0"))
    d = run.only
    assert d["verdict"] == "blocked_by_policy"
    assert registry_open.traffic_since(mark).total == 0
    assert "127.0.0.1" not in " ".join(f["evidence"].get("message") or "" for f in d["findings"])


def test_unlisted_token_realm_is_named_as_what_was_blocked(tmp_path: Path, registry_token: LocalRegistry):
    # The registry is allowed, but its token server (another port) is not listed as a realm: the answer
    # must say the registry answered and which host it sent us to, not that the registry is off limits.
    assert registry_token.token_server is not None
    realm_host = registry_token.token_server.base_url.split("//")[1].rstrip("/")
    image = registry_token.scenarios.single_oci
    mark = registry_token.mark()
    run = run_check(tmp_path, _insecure(registry_token.host), registry_token.ref(image.repository, "1.0"))
    traffic = registry_token.traffic_since(mark)
    d = run.only
    assert d["verdict"] == "blocked_by_policy"
    assert len(traffic.registry) == 1  # the challenge came from the registry itself
    assert traffic.token == []  # and nothing reached the unlisted realm
    assert f"sends clients to {realm_host}" in d["summary"]
    assert "token_realms" in " ".join(step["text"] for step in d["remediation"])


@pytest.mark.parametrize("realm", ["http://127.0.0.1:99999/token", "http://[::1/token"])
def test_a_token_realm_that_is_no_url_is_the_registrys_failure(tmp_path: Path, scripted_server: Any, realm: str):
    # Found in review: a malformed realm came out as "imagecheck may not contact <registry>" (our policy),
    # or as an unexpected failure, when the registry's own auth challenge is what is broken.
    from tests.support.fault_servers import Reply

    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"', "Content-Type": "application/json"}
    server = scripted_server({"/v2/app/web/manifests/1.0": Reply(401, b'{"errors":[]}', challenge)})
    run = run_check(tmp_path, _insecure(server.host), f"{server.host}/app/web:1.0")
    d = run.only
    assert run.returncode == 1
    assert d["verdict"] == "registry_error"
    assert "token realm is not a valid URL" in d["summary"]


def test_a_registry_failing_with_503_is_a_registry_error(tmp_path: Path, scripted_server: Any):
    from tests.support.fault_servers import Reply

    server = scripted_server({"/v2/app/web/manifests/1.0": Reply(503, b"upstream connect error",
                                                                {"Content-Type": "text/plain"})})
    run = run_check(tmp_path, _insecure(server.host), f"{server.host}/app/web:1.0")
    d = run.only
    assert run.returncode == 1
    assert d["verdict"] == "registry_error"
    assert "503" in d["summary"]
    assert any("status page" in step["text"] for step in d["remediation"])


def test_registry_clock_skew_is_a_finding(tmp_path: Path, skewed_clock_server: SkewedClockServer):
    run = run_check(tmp_path, _insecure(skewed_clock_server.host), f"{skewed_clock_server.host}/some/app:1")
    skew = [f for f in run.only["findings"] if f["kind"] == "clock_skew"]
    assert len(skew) == 1
    assert "10 min ahead" in skew[0]["summary"]


# --- the command line itself ----------------------------------------------------------------------


def test_several_references_at_once_and_exit_status(tmp_path: Path, registry_open: LocalRegistry):
    s = registry_open.scenarios
    ok_refs = [registry_open.ref(s.single_oci.repository, "1.0"),
               registry_open.ref(s.multi_oci.repository, "1.0")]
    all_ok = run_check(tmp_path, _insecure(registry_open.host), *ok_refs)
    assert all_ok.returncode == 0
    assert [d["reference"]["input"] for d in all_ok.diagnoses] == ok_refs
    bad = registry_open.ref(s.payments.repository, "1.8.4")
    mixed = run_check(tmp_path, _insecure(registry_open.host), *ok_refs, bad)
    assert mixed.returncode == 1
    assert [d["verdict"] for d in mixed.diagnoses] == ["ok", "ok", "tag_not_found"]


def test_invalid_reference_is_bad_usage_with_a_hint(tmp_path: Path):
    run = run_check(tmp_path, None, "Payments/API:1.0")
    assert run.returncode == 2
    assert "lowercase" in run.stderr
    assert "payments/api:1.0" in run.stderr
    assert run.stdout == ""


def test_human_output(tmp_path: Path, registry_open: LocalRegistry):
    payments = registry_open.scenarios.payments
    run = run_check(tmp_path, _insecure(registry_open.host), registry_open.ref(payments.repository, "1.8.4"),
                    json_output=False)
    assert run.returncode == 1
    first = run.stdout.splitlines()[0]
    assert "tag_not_found" in first
    assert "\033[" not in run.stdout  # not a terminal: no colour
    assert "next steps:" in run.stdout
    assert "    1. " in run.stdout
    assert "2 registry requests" in run.stdout


def test_broken_settings_are_bad_usage_without_echoing_secrets(tmp_path: Path):
    config = {"registries": {"127.0.0.1:5999": {"insecure": "maybe", "password": ["hunter2-secret"]}}}
    run = run_check(tmp_path, config, "127.0.0.1:5999/app:1")
    assert run.returncode == 2
    assert "registries.127.0.0.1:5999.insecure" in run.stderr
    assert "hunter2-secret" not in run.stderr + run.stdout


def test_settings_file_that_does_not_exist_is_bad_usage(tmp_path: Path):
    run = run_check(tmp_path, None, "127.0.0.1:5999/app:1",
                    env={"IMAGECHECK_CONFIG": str(tmp_path / "nope.yaml")})
    assert run.returncode == 2
    assert "names no file" in run.stderr
