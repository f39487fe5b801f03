"""Each verdict path of ``diagnose`` with an in-memory registry (the pure logic: what it asks, what it
concludes, what evidence it cites). The same paths run against real registries in tests/integration."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.clock import ManualClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import (
    ConnectionRefused,
    DNSFailure,
    EgressDenied,
    ImagecheckError,
    InsecureHTTP,
    ManifestInvalid,
    NetworkTimeout,
    RateLimited,
    RegistryAuthError,
    RegistryDenied,
    RegistryServerError,
    TLSFailure,
)
from bot.domain.models import Evidence, ManifestKind, RateLimit, Verdict
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.remedy import FindingKind
from tests.domain.fake_registry import SCHEMA1, FakeRegistry, Repo

HOST = "reg.test"


def _payments() -> Repo:
    repo = Repo()
    for tag in ("1.8.3", "1.8.4-hotfix1", "1.9.0", "latest"):
        repo.push_image(f"payments {tag}", tag=tag)
    return repo


def _world() -> dict[str, dict[str, Repo]]:
    multi = Repo()
    multi.push_index("multi", ["linux/amd64", "linux/arm64"], tag="1.0")
    amd_only = Repo()
    amd_only.push_index("amdonly", ["linux/amd64"], tag="2.1.0")
    single = Repo()
    single.push_image("single", "linux/amd64", tag="v1")
    return {HOST: {"payments/api": _payments(), "multi/app": multi, "analytics/worker": amd_only,
                   "single/app": single}}


async def _diag(text: str, reg: FakeRegistry, **kw):
    return await diagnose(parse_reference(text), reg, clock=ManualClock(), **kw)


def _kinds(d) -> list[str]:
    return [f.kind for f in d.findings]


async def test_single_arch_image_resolves_with_one_request_and_a_pin_step():
    world = _world()
    reg = FakeRegistry(world)
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.ok
    assert d.digest == world[HOST]["single/app"].tags["v1"]
    assert d.requests == 1 == reg.request_count
    pinned = f"{HOST}/single/app@{d.digest}"
    assert any(step.command and pinned in step.command for step in d.remediation)


async def test_multi_arch_index_checks_every_child_and_lists_platforms():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/multi/app:1.0", reg)
    assert d.verdict is Verdict.ok
    assert sorted(p.platform for p in d.platforms) == ["linux/amd64", "linux/arm64"]
    assert [c[0] for c in reg.calls] == ["get_manifest", "head_manifest", "head_manifest"]


async def test_wanted_platform_heads_only_its_child():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/multi/app:1.0", reg, platforms=[parse_platform("linux/arm64")])
    assert d.verdict is Verdict.ok
    arm = next(p for p in d.platforms if p.platform == "linux/arm64")
    assert reg.calls[1] == ("head_manifest", HOST, "multi/app", arm.digest, False)
    assert d.requests == 2


async def test_missing_tag_lists_nearest_existing_tags():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/payments/api:1.8.4", reg)
    assert d.verdict is Verdict.tag_not_found
    assert d.suggested_tags[:2] == ["1.8.4-hotfix1", "1.8.3"]
    assert "1.8.4-hotfix1" in d.summary
    assert FindingKind.tags_listed in _kinds(d)
    assert f"{HOST}/payments/api:1.8.4-hotfix1" in (d.remediation[0].command or "")
    assert d.requests == 2  # the manifest, then the tags list


async def test_missing_repository_is_told_by_name_unknown_on_the_tags_list():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/payments/apii:1.9.0", reg)
    assert d.verdict is Verdict.repo_not_found_or_denied
    missing = next(f for f in d.findings if f.kind == FindingKind.repository_missing)
    assert missing.evidence.error_code == "NAME_UNKNOWN"
    assert d.suggested_tags == []


async def test_missing_digest_in_an_existing_repository():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/payments/api@sha256:{'0' * 64}", reg)
    assert d.verdict is Verdict.digest_not_found
    assert "repository exists" in d.summary


async def test_missing_digest_next_to_an_existing_tag_says_where_the_tag_points_now():
    world = _world()
    reg = FakeRegistry(world)
    d = await _diag(f"{HOST}/payments/api:1.9.0@sha256:{'0' * 64}", reg)
    assert d.verdict is Verdict.digest_not_found
    assert d.digest == world[HOST]["payments/api"].tags["1.9.0"]
    assert FindingKind.tag_points_to in _kinds(d)


def _fail_on(op: str, error: ImagecheckError, *, anonymous: bool | None = None):
    def fail(o, registry, repo, ref, anon):
        if o == op and (anonymous is None or anon == anonymous):
            return error
        return None
    return fail


async def test_insufficient_scope_anonymously_names_both_possibilities():
    challenge = {"www-authenticate": 'Bearer error="insufficient_scope"'}
    err = RegistryAuthError("insufficient_scope", insufficient_scope=True,
                            evidence=Evidence(status=401, error_code="UNAUTHORIZED", headers=challenge))
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/private/app:1", reg)
    assert d.verdict is Verdict.repo_not_found_or_denied
    assert "doesn't exist or you lack access" in d.summary
    assert "won't say which" in d.summary
    assert d.findings[0].evidence.headers["www-authenticate"].startswith("Bearer")


async def test_basic_auth_without_credentials_is_auth_required():
    err = RegistryAuthError("the registry requires authentication (401 Unauthorized)",
                            evidence=Evidence(status=401, headers={"www-authenticate": 'Basic realm="r"'}))
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.auth_required
    assert "none are configured" in d.summary
    assert any(s.command and "create secret docker-registry" in s.command for s in d.remediation)


async def test_rejected_credentials_are_compared_with_an_anonymous_try():
    err = RegistryAuthError("the registry rejected the credentials", credentials_used=True)
    world = _world()
    reg = FakeRegistry(world, credentials_for={HOST}, fail=_fail_on("get_manifest", err, anonymous=False))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.auth_required
    assert "anonymous pulls work" in d.summary
    assert d.digest == world[HOST]["single/app"].tags["v1"]
    assert reg.calls[-1][4] is True  # the last request was the anonymous one


async def test_denied_is_auth_forbidden():
    denied = RegistryDenied("denied", status=403, code="DENIED")
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", denied))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.auth_forbidden


async def test_index_without_the_wanted_platform_names_what_it_has():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/analytics/worker:2.1.0", reg, platforms=[parse_platform("linux/arm64")])
    assert d.verdict is Verdict.platform_mismatch
    assert d.missing_platforms == ["linux/arm64"]
    assert [p.platform for p in d.platforms] == ["linux/amd64"]
    assert "it has: linux/amd64" in d.summary
    commands = " ".join(s.command or "" for s in d.remediation)
    assert "docker buildx build --platform linux/amd64,linux/arm64 " in commands
    assert "kubernetes.io/arch" in commands


async def test_single_arch_image_platform_comes_from_its_config():
    reg = FakeRegistry(_world())
    d = await _diag(f"{HOST}/single/app:v1", reg, platforms=[parse_platform("linux/arm64"),
                                                             parse_platform("linux/amd64")])
    assert d.verdict is Verdict.platform_mismatch
    assert d.missing_platforms == ["linux/arm64"]
    assert d.platforms[0].platform == "linux/amd64"
    assert [c[0] for c in reg.calls] == ["get_manifest", "get_image_config"]


async def test_dangling_index_child_is_found():
    world = _world()
    repo = world[HOST]["multi/app"]
    index = repo.manifests[repo.tags["1.0"]]
    arm = next(e for e in index.entries if e.platform and e.platform.architecture == "arm64")
    del repo.manifests[arm.digest]
    d = await _diag(f"{HOST}/multi/app:1.0", FakeRegistry(world))
    assert d.verdict is Verdict.dangling_index
    dangling = [f for f in d.findings if f.kind == FindingKind.dangling_child]
    assert len(dangling) == 1
    assert arm.digest in dangling[0].summary


async def test_missing_layer_is_found_only_when_deep():
    world = _world()
    repo = world[HOST]["single/app"]
    manifest = repo.manifests[repo.tags["v1"]]
    repo.blobs.discard(manifest.layers[1].digest)
    shallow = await _diag(f"{HOST}/single/app:v1", FakeRegistry(world))
    assert shallow.verdict is Verdict.ok
    deep = await _diag(f"{HOST}/single/app:v1", FakeRegistry(world), deep=True)
    assert deep.verdict is Verdict.blob_unknown
    missing = [f.summary for f in deep.findings if f.kind == FindingKind.blob_missing]
    assert len(missing) == 1
    assert manifest.layers[1].digest in missing[0]


async def test_deep_checks_blobs_of_index_children():
    world = _world()
    repo = world[HOST]["multi/app"]
    index = repo.manifests[repo.tags["1.0"]]
    child = repo.manifests[index.entries[0].digest]
    assert child.config is not None
    repo.blobs.discard(child.config.digest)
    d = await _diag(f"{HOST}/multi/app:1.0", FakeRegistry(world), deep=True)
    assert d.verdict is Verdict.blob_unknown


async def test_rate_limit_reports_quota_and_reset():
    err = RateLimited("429", evidence=Evidence(status=429, error_code="TOOMANYREQUESTS"),
                      rate_limit=RateLimit(limit=100, remaining=0, window_s=21600, retry_after_s=300))
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.rate_limited
    assert "0 of 100 pulls left per 6 h" in d.summary
    assert "retry after 5 min" in d.summary


@pytest.mark.parametrize(("error", "verdict"), [
    (TLSFailure("TLS certificate of reg.test not trusted (unknown authority)", reason="unknown_authority",
                evidence=Evidence(exception="SSLCertVerificationError: certificate verify failed")),
     Verdict.tls_error),
    (InsecureHTTP("reg.test answered HTTPS in plain HTTP",
                  evidence=Evidence(exception="SSLError: wrong version number")), Verdict.insecure_http),
    (DNSFailure("the registry host reg.test could not be resolved",
                evidence=Evidence(exception="gaierror: Name or service not known")), Verdict.dns_error),
    (NetworkTimeout("no answer from reg.test in time", evidence=Evidence(exception="ReadTimeout: timed out")),
     Verdict.network_timeout),
    (ConnectionRefused("reg.test refused the connection",
                       evidence=Evidence(exception="ConnectError: [Errno 111] Connection refused")),
     Verdict.connection_refused),
])
async def test_unreachable_registries_get_their_own_verdict_with_the_exception_text(error, verdict):
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", error))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is verdict
    assert d.findings[0].evidence.exception == error.evidence.exception
    assert d.remediation


async def test_egress_denied_is_blocked_by_policy_without_detail():
    err = EgressDenied("10.1.2.3 is in a blocked range", evidence=Evidence(message="resolved to 10.1.2.3"))
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.blocked_by_policy
    assert "10.1.2.3" not in d.model_dump_json()


async def test_server_error_is_reported_with_its_status():
    err = RegistryServerError("the registry failed with 503", status=503)
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.registry_error  # the registry's failure, not the image's
    assert "503" in d.summary


async def test_schema1_manifest_is_unsupported():
    world = _world()
    repo = world[HOST]["single/app"]
    old = repo.manifests[repo.tags["v1"]]
    repo.manifests[old.digest] = old.model_copy(update={"kind": ManifestKind.schema1, "media_type": SCHEMA1})
    d = await _diag(f"{HOST}/single/app:v1", FakeRegistry(world))
    assert d.verdict is Verdict.manifest_invalid_or_unsupported
    assert "schema 1" in d.summary


async def test_manifest_invalid_error_is_unsupported():
    invalid = ManifestInvalid("schema 1 manifest", status=200)
    reg = FakeRegistry(_world(), fail=_fail_on("get_manifest", invalid))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.manifest_invalid_or_unsupported


async def test_stale_mirror_is_named_and_upstream_is_the_truth():
    world = _world()
    mirror_repo = Repo()
    mirror_repo.push_image("payments old 1.9.0", tag="1.9.0")
    world["mirror.test"] = {"payments/api": mirror_repo}
    d = await _diag(f"{HOST}/payments/api:1.9.0", FakeRegistry(world), mirrors=["mirror.test"])
    assert d.verdict is Verdict.mirror_stale
    stale = next(f for f in d.findings if f.kind == FindingKind.mirror_stale)
    assert "mirror.test" in stale.summary
    assert "is stale" in stale.summary
    assert d.digest == world[HOST]["payments/api"].tags["1.9.0"]


async def test_agreeing_mirror_keeps_ok():
    world = _world()
    world["mirror.test"] = {"payments/api": world[HOST]["payments/api"]}
    d = await _diag(f"{HOST}/payments/api:1.9.0", FakeRegistry(world), mirrors=["mirror.test"])
    assert d.verdict is Verdict.ok
    assert FindingKind.mirror_agrees in _kinds(d)


async def test_mirror_without_the_tag_is_stale():
    world = _world()
    world["mirror.test"] = {"payments/api": Repo()}
    d = await _diag(f"{HOST}/payments/api:1.9.0", FakeRegistry(world), mirrors=["mirror.test"])
    assert d.verdict is Verdict.mirror_stale


async def test_clock_skew_over_a_minute_is_a_finding():
    clock = ManualClock()
    reg = FakeRegistry(_world(), date=clock.now() + timedelta(minutes=5))
    d = await diagnose(parse_reference(f"{HOST}/single/app:v1"), reg, clock=clock)
    assert d.verdict is Verdict.ok
    skew = next(f for f in d.findings if f.kind == FindingKind.clock_skew)
    assert "5 min ahead" in skew.summary
    assert any(s.command and "chronyc tracking" in s.command for s in d.remediation)


async def test_small_clock_difference_is_not_reported():
    clock = ManualClock()
    reg = FakeRegistry(_world(), date=clock.now() - timedelta(seconds=30))
    d = await diagnose(parse_reference(f"{HOST}/single/app:v1"), reg, clock=clock)
    assert FindingKind.clock_skew not in _kinds(d)


async def test_docker_hub_single_image_is_answered_by_a_head_alone():
    repo = Repo()
    repo.push_image("hub", tag="1.25")
    reg = FakeRegistry({"docker.io": {"library/nginx": repo}})
    d = await _diag("nginx:1.25", reg)
    assert d.verdict is Verdict.ok
    assert [c[0] for c in reg.calls] == ["head_manifest"]
    assert d.digest == repo.tags["1.25"]


async def test_remaining_pull_quota_is_noted_on_success():
    quota = RateLimit(limit=100, remaining=7, window_s=21600)
    d = await _diag(f"{HOST}/single/app:v1", FakeRegistry(_world(), rate_limit=quota))
    assert d.verdict is Verdict.ok
    note = next(f for f in d.findings if f.kind == FindingKind.pull_quota)
    assert note.summary == "Pull quota: 7 of 100 left per 6 h"


async def test_docker_hub_index_with_a_wanted_platform_skips_the_useless_head():
    repo = Repo()
    repo.push_index("hub", ["linux/amd64", "linux/arm64"], tag="1.25")
    reg = FakeRegistry({"docker.io": {"library/nginx": repo}})
    d = await _diag("nginx:1.25", reg, platforms=[parse_platform("linux/arm64")])
    assert d.verdict is Verdict.ok
    assert [c[0] for c in reg.calls] == ["get_manifest", "head_manifest"]


async def test_docker_hub_index_without_platforms_heads_then_gets_the_index():
    repo = Repo()
    repo.push_index("hub", ["linux/amd64", "linux/arm64"], tag="1.25")
    reg = FakeRegistry({"docker.io": {"library/nginx": repo}})
    d = await _diag("nginx:1.25", reg)
    assert d.verdict is Verdict.ok
    assert [c[0] for c in reg.calls] == ["head_manifest", "get_manifest", "head_manifest", "head_manifest"]


async def test_credentials_withheld_from_the_realm_are_not_blamed_and_token_realms_is_the_first_step():
    # The client asked anonymously because the realm is another host: a plain 401 challenge follows.
    err = RegistryAuthError("the registry requires authentication (401 Unauthorized)",
                            evidence=Evidence(status=401, error_code="UNAUTHORIZED"),
                            credentials_withheld_for_realm="gitlab.corp.test")
    reg = FakeRegistry(_world(), credentials_for={HOST}, fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/single/app:v1", reg)
    assert d.verdict is Verdict.auth_required
    assert FindingKind.credentials_withheld in _kinds(d)
    assert FindingKind.credentials_rejected not in _kinds(d)
    withheld = next(f for f in d.findings if f.kind == FindingKind.credentials_withheld)
    assert withheld.summary.startswith(f"Credentials for {HOST} exist but were not sent to its token realm "
                                       "gitlab.corp.test (not listed under token_realms)")
    assert "rejected" not in d.summary
    assert "none are configured" not in d.summary
    assert d.remediation[0].command == 'token_realms: ["gitlab.corp.test"]'
    # no anonymous retry: the refused request already was anonymous
    assert all(call[4] is False for call in reg.calls)


async def test_insufficient_scope_with_withheld_credentials_does_not_say_they_were_used():
    err = RegistryAuthError("insufficient_scope", insufficient_scope=True,
                            evidence=Evidence(status=401, error_code="UNAUTHORIZED"),
                            credentials_withheld_for_realm="gitlab.corp.test")
    reg = FakeRegistry(_world(), credentials_for={HOST}, fail=_fail_on("get_manifest", err))
    d = await _diag(f"{HOST}/private/app:1", reg)
    assert d.verdict is Verdict.repo_not_found_or_denied
    text = d.summary + " ".join(f.summary for f in d.findings)
    assert "with the configured credentials" not in text
    assert "Asked anonymously" in text
    assert "gitlab.corp.test" in d.summary
    assert any(s.command == 'token_realms: ["gitlab.corp.test"]' for s in d.remediation)


async def test_a_listed_tag_without_a_manifest_is_not_suggested_as_its_own_fix():
    # A tag link left behind after its manifest was deleted (or a registry mid-replication): the tags
    # list names the tag, the manifest is 404. "Did you mean 1.8.4?" for 1.8.4 would contradict itself.
    from tests.domain.fake_registry import Repo, digest_of

    repo = Repo()
    repo.push_image("a", tag="1.8.3")
    repo.push_image("b", tag="1.9.0")
    repo.tags["1.8.4"] = digest_of("garbage-collected manifest")
    d = await _diag(f"{HOST}/payments/api:1.8.4", FakeRegistry({HOST: {"payments/api": repo}}))
    assert d.verdict is Verdict.tag_not_found
    assert "1.8.4" not in d.suggested_tags
    assert "is listed" in d.summary
    assert any(f.kind == FindingKind.tag_listed_without_manifest for f in d.findings)
    assert "Push the tag again" in d.remediation[0].text
    assert not any("Did you mean `1.8.4`" in s.text for s in d.remediation)


async def test_platform_count_is_pluralised_like_english():
    reg = FakeRegistry(_world())
    one = await _diag(f"{HOST}/analytics/worker:2.1.0", reg)
    two = await _diag(f"{HOST}/multi/app:1.0", reg)
    [listed_one] = [f.summary for f in one.findings if f.kind == FindingKind.platforms_present]
    [listed_two] = [f.summary for f in two.findings if f.kind == FindingKind.platforms_present]
    assert listed_one.startswith("The index lists 1 platform: linux/amd64")
    assert listed_two.startswith("The index lists 2 platforms: ")
