"""Remediation: the steps someone on call follows, in order, with exact commands."""

from __future__ import annotations

import pytest

from bot.domain.models import Diagnosis, Finding, PlatformDigest, Verdict
from bot.domain.reference import parse_reference
from bot.domain.remedy import FindingKind, remediation_for

DIGEST = "sha256:" + "4c" * 32
REF = parse_reference("registry.example.com/payments/api:1.9.0")


def _d(verdict: Verdict, **kw) -> Diagnosis:
    return Diagnosis(reference=kw.pop("reference", REF), verdict=verdict, summary="s", **kw)


def _commands(d: Diagnosis) -> list[str]:
    return [s.command for s in remediation_for(d) if s.command]


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_verdict_has_readable_steps(verdict: Verdict):
    steps = remediation_for(_d(verdict))
    assert steps
    assert all(step.text.strip() for step in steps)


@pytest.mark.parametrize("verdict", list(Verdict))
def test_a_step_that_announces_a_command_carries_one(verdict: Verdict):
    # "…, make sure X:" followed by nothing reads as a snippet that failed to render. Every verdict, with
    # a digest and with every kind of finding, so steps only some findings add are covered too.
    findings = [Finding(kind=kind, summary=kind.value) for kind in FindingKind]
    for d in (_d(verdict), _d(verdict, digest=DIGEST, findings=findings)):
        dangling = [s.text for s in remediation_for(d) if s.text.rstrip().endswith(":") and not s.command]
        assert dangling == []


def test_ok_with_a_digest_offers_the_pin_and_node_side_checks():
    cmds = _commands(_d(Verdict.ok, digest=DIGEST))
    assert f"kubectl -n <namespace> set image deploy/<deployment> <container>={REF.name}@{DIGEST}" in cmds
    assert "crictl pull registry.example.com/payments/api:1.9.0" in cmds
    assert any("docker info | grep -A3 'Registry Mirrors'" in c for c in cmds)
    assert any("{.data.\\.dockerconfigjson}" in c and "jq -r '.auths | keys[]'" in c for c in cmds)
    assert any("docker image inspect --format '{{json .RepoDigests}}'" in c for c in cmds)


def test_no_pin_step_without_a_digest():
    assert not any("set image" in c for c in _commands(_d(Verdict.connection_refused)))


def test_tag_not_found_starts_with_the_nearest_tag():
    steps = remediation_for(_d(Verdict.tag_not_found, reference=parse_reference(
        "registry.example.com/payments/api:1.8.4"), suggested_tags=["1.8.4-hotfix1", "1.8.3"]))
    assert "Did you mean `1.8.4-hotfix1`?" in steps[0].text
    assert steps[0].command is not None
    assert steps[0].command.endswith("<container>=registry.example.com/payments/api:1.8.4-hotfix1")
    assert any(s.command and "describe pod <pod>" in s.command for s in steps)


def test_platform_mismatch_schedules_onto_the_present_arch_then_rebuilds():
    d = _d(Verdict.platform_mismatch, wanted_platforms=["linux/arm64"], missing_platforms=["linux/arm64"],
           platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST)])
    steps = remediation_for(d)
    assert "no linux/arm64 variant (it has: linux/amd64)" in steps[0].text
    assert steps[0].command is not None
    assert "uname -m" in steps[0].command
    assert '"kubernetes.io/arch":"amd64"' in (steps[1].command or "")
    cmds = _commands(d)
    # one build that keeps amd64: building arm64 alone would drop the platform the tag serves today
    build = ("docker buildx build --platform linux/amd64,linux/arm64 "
             "-t registry.example.com/payments/api:1.9.0 --push .")
    assert build in cmds
    assert [c for c in cmds if c.startswith("docker buildx build")] == [build]
    assert "docker buildx imagetools inspect registry.example.com/payments/api:1.9.0" in cmds


def test_mirror_stale_pins_first():
    steps = remediation_for(_d(Verdict.mirror_stale, digest=DIGEST))
    assert steps[0].text.startswith("Stop the bleeding")


def test_tls_steps_name_the_host_and_port():
    cmds = _commands(_d(Verdict.tls_error))
    assert any(c.startswith("openssl s_client -connect registry.example.com:443 -servername "
                            "registry.example.com") for c in cmds)
    assert any("/etc/containerd/certs.d/registry.example.com/ca.crt" in c for c in cmds)


def test_findings_add_their_own_steps():
    d = _d(Verdict.ok, digest=DIGEST, findings=[
        Finding(kind=FindingKind.clock_skew, summary="skewed"),
        Finding(kind=FindingKind.tag_moved, summary="moved")])
    steps = remediation_for(d)
    assert any(s.command == "date -u; chronyc tracking" for s in steps)
    assert any("re-pushed" in s.text for s in steps)


def test_server_errors_are_not_explained_as_bad_manifests():
    d = _d(Verdict.manifest_invalid_or_unsupported, findings=[
        Finding(kind=FindingKind.registry_error, summary="the registry failed with 503")])
    text = " ".join(s.text for s in remediation_for(d))
    assert "server error" in text
    assert "schema 1" not in text


def test_blocked_by_policy_gives_no_registry_detail_steps():
    steps = remediation_for(_d(Verdict.blocked_by_policy))
    assert "registries:" in steps[0].text
    assert not any(s.command and "describe pod" in s.command for s in steps)


def test_invalid_reference_step_quotes_the_input_for_the_shell():
    bad = parse_reference("registry.example.com/payments/api:1.9.0").model_copy(
        update={"input": "x'; rm -rf ~; echo '"})
    (step,) = remediation_for(_d(Verdict.invalid_reference, reference=bad))
    assert step.command == "imagecheck parse 'x'\"'\"'; rm -rf ~; echo '\"'\"''"


def test_docker_hub_network_steps_use_its_api_host():
    d = _d(Verdict.dns_error, reference=parse_reference("nginx:1.25"))
    assert "getent hosts registry-1.docker.io || nslookup registry-1.docker.io" in _commands(d)
    tls = _commands(_d(Verdict.tls_error, reference=parse_reference("nginx:1.25")))
    assert any(c.startswith("openssl s_client -connect registry-1.docker.io:443") for c in tls)
    assert any("/etc/containerd/certs.d/docker.io/ca.crt" in c for c in tls)


def test_platform_rebuild_keeps_the_platforms_the_tag_already_serves():
    # Asked about arm64 only: a push of just arm64 would take amd64 away from the nodes that run it.
    d = _d(Verdict.platform_mismatch, wanted_platforms=["linux/arm64"], missing_platforms=["linux/arm64"],
           platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST),
                      PlatformDigest(platform="unknown/unknown", digest=DIGEST)])  # an attestation
    steps = remediation_for(d)
    keep = next(s for s in steps if s.text.startswith("Fix for good"))
    assert "a push replaces the whole tag, so keep linux/amd64 in the same build" in keep.text
    assert keep.command == ("docker buildx build --platform linux/amd64,linux/arm64 "
                            "-t registry.example.com/payments/api:1.9.0 --push .")
    assert [s.command for s in steps if (s.command or "").startswith("docker buildx build")] == [keep.command]
    at = steps.index(keep)  # then "Verify before releasing"
    assert (steps[at + 1].command or "").startswith("docker buildx imagetools inspect")


def test_platform_rebuild_warns_nothing_when_the_fleet_list_already_has_every_platform():
    d = _d(Verdict.platform_mismatch, wanted_platforms=["linux/amd64", "linux/arm64"],
           missing_platforms=["linux/arm64"], platforms=[PlatformDigest(platform="linux/amd64", digest=DIGEST)])
    cmds = _commands(d)
    assert [c for c in cmds if c.startswith("docker buildx build")] == [
        "docker buildx build --platform linux/amd64,linux/arm64 -t registry.example.com/payments/api:1.9.0 "
        "--push ."]


def test_missing_tag_asks_whether_ci_pushed_to_this_exact_registry():
    steps = remediation_for(_d(Verdict.tag_not_found, suggested_tags=["1.9.1"]))
    assert any("did it push to `registry.example.com/payments/api` exactly" in s.text for s in steps)


def test_mirror_step_compares_failing_and_healthy_nodes():
    steps = remediation_for(_d(Verdict.mirror_stale, digest=DIGEST))
    mirror = next(s for s in steps if s.command and "Registry Mirrors" in s.command)
    assert "compare a failing node with a healthy one" in mirror.text
