"""Runbook coverage: every checklist item of the runbooks imagecheck grew from (/work/shared/seeds/) is
either checked automatically or answered with an exact next step.

Read ``COVERAGE`` below as the documentation: one entry per checklist item, in the runbook's words,
with how imagecheck covers it. Each entry is also a test: it puts a fake registry into the situation
the item is about (tests/domain/fake_registry.py answers like distribution 2.8; failures that need a
real network, such as a 429 or a timeout, are injected as the errors the registry adapter raises), runs
``diagnose`` (or ``triage`` for pasted logs, ``pin_snippets`` for pinning) and asserts the verdict, the
findings and the exact text a person on call reads.

Runbooks: 000 (generic incident framework: only its Phase 1 "capture failure state" and the validation
checklist items that apply to an image pull), 001 (Chinese; its final checklist), 002 ("manifest
unknown": "Checklist: before you blame Docker", "Step-by-step: stop the outage first", "Fast diagnosis
playbook", "Practical tasks" 1-18).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.domain.clock import ManualClock
from bot.domain.diagnose import diagnose
from bot.domain.errors import (
    ImagecheckError,
    InvalidReference,
    NetworkTimeout,
    RateLimited,
    RegistryAuthError,
    RegistryServerError,
)
from bot.domain.models import Diagnosis, Evidence, Platform, RateLimit, TriageResult
from bot.domain.pin import pin_snippets
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.remedy import FindingKind as F
from bot.domain.triage import triage
from tests.domain.fake_registry import FakeRegistry, Repo

HOST = "registry.example.com"
MIRROR = "mirror.corp.local"
API = f"{HOST}/payments/api"
WORKER = f"{HOST}/analytics/worker"  # published for linux/amd64 only
MULTI = f"{HOST}/payments/multi"  # a proper multi-arch index


# --- the world the situations run in --------------------------------------------------------------


def world() -> dict[str, dict[str, Repo]]:
    payments = Repo()
    for tag in ("1.8.3", "1.8.4-hotfix1", "1.9.0", "latest"):  # 002 Task 2's tag list: no 1.8.4
        payments.push_image(f"payments {tag}", tag=tag)
    multi = Repo()
    multi.push_index("payments multi", ["linux/amd64", "linux/arm64"], tag="1.9.0")
    worker = Repo()
    worker.push_index("worker", ["linux/amd64"], tag="2.1.0")  # 002 Task 7: only amd64 published
    return {HOST: {"payments/api": payments, "payments/multi": multi, "analytics/worker": worker}}


def failing(operation: str, error: ImagecheckError) -> Callable[[str, str, str, str, bool],
                                                               ImagecheckError | None]:
    return lambda op, _registry, _repo, _ref, _anon: error if op == operation else None


@dataclass(frozen=True)
class Answer:
    """What imagecheck answered, flattened to what a person reads."""

    verdict: str
    findings: frozenset[str]
    text: str  # summary, every finding, every remediation step and its command (or triage's answer)


def read(d: Diagnosis) -> Answer:
    lines = [d.summary, *(f.summary for f in d.findings)]
    for step in d.remediation:
        lines += [step.text, step.command or ""]
    return Answer(d.verdict.value, frozenset(f.kind for f in d.findings), "\n".join(lines))


def read_triage(t: TriageResult, *, then: Answer | None = None) -> Answer:
    lines = [t.meaning, *(s.text + "\n" + (s.command or "") for s in t.next_steps),
             *(f"reference: {r.normalized}" for r in t.references), f"registry: {t.registry_host}",
             t.redacted]
    if then is None:
        return Answer(t.category.value, frozenset(), "\n".join(lines))
    return Answer(then.verdict, then.findings, "\n".join(lines) + "\n" + then.text)


def both(first: Answer, second: Answer) -> Answer:
    return Answer(f"{first.verdict}/{second.verdict}", first.findings | second.findings,
                  first.text + "\n" + second.text)


async def check(text: str, registry: FakeRegistry | None = None, *, platforms: Sequence[Platform] = (),
                mirrors: Sequence[str] = (), clock: ManualClock | None = None) -> Answer:
    return read(await diagnose(parse_reference(text), registry or FakeRegistry(world()),
                               platforms=platforms, mirrors=mirrors, clock=clock or ManualClock()))


# --- situations: each puts the registry into one state and asks imagecheck about it ---------------

KUBELET_EVENTS = f"""Events:
  Normal   Pulling  2m50s  kubelet  Pulling image "{API}:1.8.4"
  Warning  Failed   2m49s  kubelet  Failed to pull image "{API}:1.8.4": rpc error: code = Unknown desc = \
failed to resolve reference "{API}:1.8.4": not found
  Warning  Failed   2m49s  kubelet  Error: ErrImagePull
  Warning  BackOff  2m35s  kubelet  Back-off pulling image "{API}:1.8.4"
  Warning  Failed   2m35s  kubelet  Error: ImagePullBackOff"""

DOCKER_PULL_WITH_SECRET = (f'Error response from daemon: Get "https://ci:hunter2-s3cret@{HOST}/v2/": '
                           "unauthorized: authentication required")


async def tag_typo() -> Answer:
    """The deployment asks for 1.8.4; the registry has 1.8.4-hotfix1, 1.8.3, 1.9.0, latest."""
    return await check(f"{API}:1.8.4")


async def wrong_project() -> Answer:
    return await check(f"{HOST}/payments/apl:1.9.0")


async def uppercase() -> Answer:
    """References are case-sensitive and repositories must be lowercase; caught before any request."""
    try:
        parse_reference(f"{HOST}/Payments/api:1.9.0")
    except InvalidReference as exc:
        return Answer("invalid_reference", frozenset(), str(exc))
    raise AssertionError("an uppercase repository was accepted")


async def needs_credentials() -> Answer:
    challenge = RegistryAuthError("the registry requires authentication (401 Unauthorized)",
                                  evidence=Evidence(status=401, headers={"www-authenticate": 'Basic realm="r"'}))
    return await check(f"{API}:1.9.0", FakeRegistry(world(), fail=failing("get_manifest", challenge)))


async def registry_times_out() -> Answer:
    timeout = NetworkTimeout(f"no answer from {HOST} in time", evidence=Evidence(exception="ReadTimeout"))
    return await check(f"{API}:1.9.0", FakeRegistry(world(), fail=failing("get_manifest", timeout)))


async def registry_fails() -> Answer:
    broken = RegistryServerError("the registry failed with 503", status=503)
    return await check(f"{API}:1.9.0", FakeRegistry(world(), fail=failing("get_manifest", broken)))


async def throttled() -> Answer:
    limited = RateLimited("429", evidence=Evidence(status=429, error_code="TOOMANYREQUESTS"),
                          rate_limit=RateLimit(limit=100, remaining=0, window_s=21600, retry_after_s=300))
    return await check(f"{API}:1.9.0", FakeRegistry(world(), fail=failing("get_manifest", limited)))


async def serves_fine() -> Answer:
    """The registry has the image: whatever still fails is on the node's side."""
    return await check(f"{API}:1.9.0")


async def clock_off() -> Answer:
    clock = ManualClock()
    registry = FakeRegistry(world(), date=clock.now() + timedelta(minutes=5))  # its Date header
    return await check(f"{API}:1.9.0", registry, clock=clock)


async def mirror_behind() -> Answer:
    """The mirror still serves an older build under the same tag."""
    w = world()
    old = Repo()
    old.push_image("payments 1.9.0 before the re-push", tag="1.9.0")
    w[MIRROR] = {"payments/api": old}
    return await check(f"{API}:1.9.0", FakeRegistry(w), mirrors=[MIRROR])


async def arm_missing() -> Answer:
    return await check(f"{WORKER}:2.1.0", platforms=[parse_platform("linux/arm64")])


async def digest_gone() -> Answer:
    return await check(f"{API}@sha256:{'4c' * 32}")


async def multi_arch() -> Answer:
    return await check(f"{MULTI}:1.9.0")


async def by_digest() -> Answer:
    index = world()[HOST]["payments/multi"].tags["1.9.0"]
    return await check(f"{MULTI}@{index}")


async def single_image_platform() -> Answer:
    return await check(f"{API}:1.9.0", platforms=[parse_platform("linux/amd64")])


async def missing_vs_private() -> Answer:
    """A 404 for the manifest (tag gone) next to a 401 (credentials needed): different answers."""
    return both(await tag_typo(), await needs_credentials())


async def events_pasted() -> Answer:
    """Someone pastes `kubectl describe pod` events; imagecheck triages them and checks the reference."""
    result = triage(KUBELET_EVENTS, source="runbook")
    found = [r.normalized for r in result.references if r.normalized]
    assert found, "no reference found in the kubelet events"
    return read_triage(result, then=await check(found[0]))


async def failure_pasted_with_a_secret() -> Answer:
    return read_triage(triage(DOCKER_PULL_WITH_SECRET, source="runbook"))


async def pinned() -> Answer:
    ok = await diagnose(parse_reference(f"{API}:1.9.0"), FakeRegistry(world()), clock=ManualClock())
    assert ok.digest is not None
    snippets = pin_snippets(ok.reference, ok.digest)
    return Answer(ok.verdict.value, frozenset(), "\n".join(
        [snippets.kubectl, snippets.helm, snippets.kustomize, snippets.compose, snippets.dockerfile]))


async def fixed_then_rechecked() -> Answer:
    """The tag is missing, someone pushes it, the re-check (Slack's Recheck button) says pullable."""
    w = world()
    before = await check(f"{API}:1.8.4", FakeRegistry(w))
    assert before.verdict == "tag_not_found"
    w[HOST]["payments/api"].push_image("payments 1.8.4", tag="1.8.4")
    return await check(f"{API}:1.8.4", FakeRegistry(w))


# --- the table ---------------------------------------------------------------------------------

Situation = Callable[[], Awaitable[Answer]]
ANY_FAILURE = "any failure verdict"


@dataclass(frozen=True)
class Item:
    runbook: str  # which runbook and which of its lists
    item: str  # the checklist item, as the runbook words it
    covered_by: str  # how imagecheck covers it
    situation: Situation
    verdict: str  # what imagecheck concludes (a triage category for pastes)
    findings: tuple[str, ...] = ()  # findings it must report
    says: tuple[str, ...] = ()  # exact text (next steps, commands) it must show
    never_says: tuple[str, ...] = ()


R000 = "000 Phase 1 / Validation checklist"
R001 = "001 终极检查清单"
R002_BLAME = "002 Checklist: before you blame Docker"
R002_STOP = "002 Step-by-step: stop the outage first"
R002_FAST = "002 Fast diagnosis playbook"
R002_TASK = "002 Practical tasks"

NODE_EVENTS = "kubectl -n <namespace> describe pod <pod> | sed -n '/Events:/,$p'"
PULL_SECRET_HOSTS = ("kubectl -n <namespace> get secret <pull-secret> -o jsonpath='{.data.\\.dockerconfigjson}' "
                     "| base64 -d | jq -r '.auths | keys[]'")
MIRRORS = "docker info | grep -A3 'Registry Mirrors'"
PIN = f"kubectl -n <namespace> set image deploy/<deployment> <container>={API}@sha256:"

COVERAGE: tuple[Item, ...] = (
    # --- 001: the final checklist ---------------------------------------------------------------
    Item(R001, "镜像名称拼写是否正确?", "a misspelled repository: repository_missing, and the step names the "
         "repository and host to check", wrong_project, "repo_not_found_or_denied", (F.repository_missing,),
         ("Check the repository name: `payments/apl` on `registry.example.com`",)),
    Item(R001, "指定标签是否存在?", "the tag is looked up; a missing one is tag_missing with the nearest tags",
         tag_typo, "tag_not_found", (F.tag_missing, F.tags_listed),
         ("Tag `1.8.4` does not exist. Did you mean `1.8.4-hotfix1`?",)),
    Item(R001, "是否具备访问权限?", "a 401 challenge is auth_required with the pull-secret command",
         needs_credentials, "auth_required", (F.auth_challenge,),
         ("create secret docker-registry <pull-secret> --docker-server=registry.example.com",)),
    Item(R001, "网络连通性是否正常?", "a registry that doesn't answer is its own verdict, with the path and "
         "proxy checks to run from the node", registry_times_out, "network_timeout", (F.unreachable,),
         ("curl -sS -o /dev/null -w '%{http_code}\\n' https://registry.example.com/v2/", "grep -i proxy")),
    Item(R001, "仓库服务是否健康?", "a 5xx is registry_error: check its status page, then re-check",
         registry_fails, ANY_FAILURE, (F.registry_error,),
         ("answered with a server error", "imagecheck check --fresh registry.example.com/payments/api:1.9.0")),
    Item(R001, "本地缓存是否干扰?", "when the registry serves the image, compare the node's cached digest",
         serves_fine, "ok", (F.resolved,),
         ("crictl images --digests | grep payments/api", "docker image inspect --format '{{json .RepoDigests}}'")),
    Item(R001, "是否触发速率限制?", "a 429 is rate_limited with the quota and reset, and how to stop spending it",
         throttled, "rate_limited", (F.rate_limited,),
         ("0 of 100 pulls left per 6 h", "retry after 5 min", "imagePullPolicy: IfNotPresent")),
    Item(R001, "系统时间是否准确?", "the registry's Date header is compared with our clock: clock_skew",
         clock_off, "ok", (F.clock_skew,), ("5 min ahead of ours", "date -u; chronyc tracking")),

    # --- 002: Checklist: before you blame Docker -------------------------------------------------
    Item(R002_BLAME, "Is the tag spelled correctly and in the correct repository path?",
         "tag_missing with the nearest existing tags and a corrected `set image`", tag_typo, "tag_not_found",
         (F.tag_missing,), (f"<container>={API}:1.8.4-hotfix1",)),
    Item(R002_BLAME, "Are you pulling from the same registry endpoint your CI pushes to?",
         "the missing-tag steps name the exact registry/repository to compare with the CI push log",
         tag_typo, "tag_not_found", (), ("did it push to `registry.example.com/payments/api` exactly",)),
    Item(R002_BLAME, "Are you behind a mirror, and is it consistent across nodes?",
         "configured mirrors are compared with upstream (mirror_stale); the node's mirror settings command",
         mirror_behind, "mirror_stale", (F.mirror_stale,), (MIRRORS, "compare a failing node with a healthy one")),
    Item(R002_BLAME, "Is the required platform present in the manifest list?",
         "the index is read and every wanted platform looked up: platform_missing", arm_missing,
         "platform_mismatch", (F.platform_missing,), ("it has: linux/amd64",)),
    Item(R002_BLAME, "Is the reference pinned by digest for production?",
         "every answer with a resolved digest offers the pin", serves_fine, "ok", (F.resolved,), (PIN,)),
    Item(R002_BLAME, "Could retention/GC have deleted or orphaned the manifest?",
         "a missing digest is digest_missing, said to be deleted/GC'd, with the retention fix", digest_gone,
         "digest_not_found", (F.digest_missing,),
         ("deleted or garbage-collected", "Protect released digests from the cleanup job")),
    Item(R002_BLAME, "Do node credentials match what your CI/dev machine uses?",
         "a repository that looks missing may be private: try it with the node's credentials",
         wrong_project, "repo_not_found_or_denied", (),
         ("Try it with the credentials the node uses", "skopeo inspect --raw --creds '<user>:<token>'",
          PULL_SECRET_HOSTS)),

    # --- 002: Step-by-step: stop the outage first --------------------------------------------------
    Item(R002_STOP, "Capture the exact failing reference from logs (including registry hostname and "
         "namespace).", "a pasted log is triaged; references are extracted fully normalized", events_pasted,
         "tag_not_found", (F.tag_missing,), (f"reference: {API}:1.8.4", "registry: registry.example.com")),
    Item(R002_STOP, "Attempt a direct pull from a clean host on the same network path as the failing nodes.",
         "imagecheck asks the registry from a clean client; the next step is a pull from the node itself",
         serves_fine, "ok", (), ("Pull it from an affected node itself", f"crictl pull {API}:1.9.0")),
    Item(R002_STOP, "Resolve to digest using docker buildx imagetools inspect or skopeo inspect.",
         "every check resolves the tag to its digest", multi_arch, "ok", (F.resolved,),
         (f"{MULTI}:1.9.0 resolves to sha256:",)),
    Item(R002_STOP, "Deploy by digest (temporary or permanent).", "the pin step, first thing to do",
         serves_fine, "ok", (), ("Stop the bleeding: deploy by digest", PIN)),
    Item(R002_STOP, "If digest is missing too, locate the last known good digest from CI logs, "
         "SBOM/attestations, or previous deployment history.",
         "digest_not_found says where to find one that still pulls", digest_gone, "digest_not_found", (),
         ("Find a digest that still pulls", "{.status.containerStatuses[*].imageID}")),
    Item(R002_STOP, "If multi-arch mismatch, schedule onto compatible nodes or publish the missing platform "
         "immediately.", "nodeSelector patch for the arch that exists, then the multi-platform build",
         arm_missing, "platform_mismatch", (F.platform_missing,),
         ('"nodeSelector":{"kubernetes.io/arch":"amd64"}', "docker buildx build --platform")),

    # --- 002: Fast diagnosis playbook -------------------------------------------------------------
    Item(R002_FAST, "First: copy the full image reference from logs: registry host, repo path, tag or digest.",
         "triage extracts it from the paste and checks exactly that", events_pasted, "tag_not_found", (),
         (f"reference: {API}:1.8.4",)),
    Item(R002_FAST, "First: check for invisible mistakes: wrong project, missing namespace.",
         "repository_missing names the project/namespace to check", wrong_project,
         "repo_not_found_or_denied", (F.repository_missing,), ("project/namespace",)),
    Item(R002_FAST, "First: check for invisible mistakes: tag typo.", "nearest existing tags", tag_typo,
         "tag_not_found", (F.tags_listed,), ("Did you mean `1.8.4-hotfix1`?",)),
    Item(R002_FAST, "First: check for invisible mistakes: accidental uppercase.",
         "the reference parser rejects it before any request", uppercase, "invalid_reference", (),
         ("must be lowercase",)),
    Item(R002_FAST, "Second: test pull from a clean environment (no cached credentials, no cached image).",
         "imagecheck is that clean client: no node cache, the registry's own answer", serves_fine, "ok",
         (F.resolved,), ("The registry serves this image",)),
    Item(R002_FAST, "Second: if it works there but not on nodes, suspect proxy/mirror, auth differences, or "
         "stale cache.", "the ok answer lists exactly those node-side checks", serves_fine, "ok", (),
         ("network path, mirror, credentials or architecture", MIRRORS, PULL_SECRET_HOSTS, "crictl images")),
    Item(R002_FAST, "Third: resolve the tag to a digest and then pull by digest.",
         "a digest reference is checked as such; the pin uses it", by_digest, "ok", (F.resolved,),
         (f"<container>={MULTI}@sha256:",)),
    Item(R002_FAST, "Third: if digest pull fails with 'unknown', the manifest is gone (or wrong registry).",
         "digest_missing, naming deletion, GC or another registry", digest_gone, "digest_not_found",
         (F.digest_missing,), ("or it was pushed to another registry",)),
    Item(R002_FAST, "Fourth: inspect with docker buildx imagetools inspect.",
         "the index's platforms are listed", multi_arch, "ok", (F.platforms_present,),
         ("linux/amd64, linux/arm64",)),
    Item(R002_FAST, "Fourth: if the needed platform isn't listed, rebuild/push properly.",
         "platform_missing with the build-and-push command", arm_missing, "platform_mismatch",
         (F.platform_missing,), ("--push .", f"docker buildx imagetools inspect {WORKER}:2.1.0")),
    Item(R002_FAST, "Fifth: list tags if supported.", "tags are listed when the tag is missing", tag_typo,
         "tag_not_found", (F.tags_listed,), ("exists with 4 tags",)),
    Item(R002_FAST, "Fifth: look for automated cleanup jobs, 'untagged' purge rules, or time-based "
         "retention that ate your tag.", "the missing-tag steps point at retention/cleanup", tag_typo,
         "tag_not_found", (), ("retention/cleanup policy",)),

    # --- 002: Practical tasks 1-18 ----------------------------------------------------------------
    Item(R002_TASK, "Task 1: Reproduce the failure exactly (and don't 'simplify' the image name).",
         "the exact reference is asked for; the registry's 404 MANIFEST_UNKNOWN is the evidence", tag_typo,
         "tag_not_found", (F.tag_missing,), ("registry.example.com has no manifest for tag 1.8.4 "
                                             "(404 MANIFEST_UNKNOWN)",)),
    Item(R002_TASK, "Task 2: Check if it's a tag typo by inspecting nearby tags.",
         "tags listed and ranked by closeness", tag_typo, "tag_not_found", (F.tags_listed,),
         ("nearest to 1.8.4: 1.8.4-hotfix1, 1.8.3, 1.9.0",)),
    Item(R002_TASK, "Task 3: Resolve a tag to a digest with buildx imagetools.",
         "resolved: the index digest and its platforms", multi_arch, "ok", (F.resolved, F.platforms_present),
         ("application/vnd.oci.image.index.v1+json", "linux/amd64, linux/arm64")),
    Item(R002_TASK, "Task 4: Pull by digest to eliminate tag drift.", "a digest reference resolves as itself",
         by_digest, "ok", (F.resolved,), ("is pullable",)),
    Item(R002_TASK, "Task 5: Confirm what you actually have locally (RepoTags vs RepoDigests).",
         "the ok answer's node-cache step", serves_fine, "ok", (),
         (f"docker image inspect --format '{{{{json .RepoDigests}}}}' {API}:1.9.0",)),
    Item(R002_TASK, "Task 6: Check platform mismatch quickly (uname -m).",
         "platform_mismatch first shows how to see the nodes' architectures", arm_missing,
         "platform_mismatch", (), ("kubectl get nodes -L kubernetes.io/arch  # on a node: uname -m",)),
    Item(R002_TASK, "Task 7: Inspect the manifest list and verify the platform you need exists.",
         "the index is read; the missing platform and what exists are named", arm_missing,
         "platform_mismatch", (F.platforms_present, F.platform_missing),
         ("No linux/arm64 in the index (it has: linux/amd64)",)),
    Item(R002_TASK, "Task 8: Prove you're talking to the registry you think you are (docker info: Registry "
         "Mirrors).", "mirror_stale, and the command showing the node's mirrors", mirror_behind,
         "mirror_stale", (F.mirror_stale,), (MIRRORS, "ls /etc/containerd/certs.d/")),
    Item(R002_TASK, "Task 9: Bypass a registry mirror (temporary) to confirm mirror staleness.",
         "imagecheck compares upstream and mirror directly (no daemon restart); the fix is named",
         mirror_behind, "mirror_stale", (F.mirror_stale,),
         (f"Mirror {MIRROR} serves", "the mirror is stale", "bypass the mirror for this host",
          f"imagecheck check --fresh {API}:1.9.0")),
    Item(R002_TASK, "Task 10: Check Kubernetes events when the error appears in clusters.",
         "pasted events are triaged and checked; every failure answer shows how to read them",
         events_pasted, "tag_not_found", (F.tag_missing,), ("no manifest for this tag", NODE_EVENTS)),
    Item(R002_TASK, "Task 11: Verify the node's runtime and its view of the image reference (containerd: "
         "use crictl).", "node-side steps use crictl and containerd's config, Docker as the alternative",
         serves_fine, "ok", (), (f"crictl pull {API}:1.9.0", "ls /etc/containerd/certs.d/")),
    Item(R002_TASK, "Task 12: Confirm the imagePullSecret is present and correct.",
         "auth_required gives the secret for that exact host and how to read it back", needs_credentials,
         "auth_required", (F.auth_challenge,),
         ("kubectl -n <namespace> create secret docker-registry <pull-secret> "
          "--docker-server=registry.example.com", PULL_SECRET_HOSTS)),
    Item(R002_TASK, "Task 13: Decode the dockerconfigjson and check the registry hostname matches.",
         "the decode command, and the exact host it must list", needs_credentials, "auth_required", (),
         (PULL_SECRET_HOSTS, "has an entry for exactly `registry.example.com`")),
    Item(R002_TASK, "Task 14: Use skopeo to inspect remotely without pulling.",
         "what imagecheck does itself: digest and platform from the manifest and config, no pull",
         single_image_platform, "ok", (F.resolved, F.image_platform),
         ("resolves to sha256:", "Single-platform image for linux/amd64")),
    Item(R002_TASK, "Task 15: Inspect registry responses directly (confirm 404 vs 401).",
         "the status and error code are the evidence, and they lead to different verdicts",
         missing_vs_private, "tag_not_found/auth_required", (F.tag_missing, F.auth_challenge),
         ("(404 MANIFEST_UNKNOWN)", "(401 Unauthorized)")),
    Item(R002_TASK, "Task 16: Prove a retention policy deleted the tag (look for similar tags).",
         "similar tags are offered, and retention is named as a cause", tag_typo, "tag_not_found",
         (F.tags_listed,), ("1.8.4-hotfix1", "retention/cleanup policy")),
    Item(R002_TASK, "Task 17: Correctly push multi-arch images (avoid partial pushes).",
         "the build keeps the platforms the tag has and adds the missing one, then verifies",
         arm_missing, "platform_mismatch", (),
         (f"docker buildx build --platform linux/amd64,linux/arm64 -t {WORKER}:2.1.0 --push .",
          f"docker buildx imagetools inspect {WORKER}:2.1.0")),
    Item(R002_TASK, "Task 18: Pin in Kubernetes by digest (the 'stop bleeding' move).",
         "pin snippets: kubectl set image, Helm, Kustomize, Compose, Dockerfile", pinned, "ok", (),
         (f"kubectl set image deploy/<name> <container>={API}@sha256:", "digest: sha256:", f"FROM {API}@")),

    # --- 000: the parts of the generic framework that apply to an image pull ---------------------------
    Item(R000, "Phase 1: Capture failure state - collect current logs, error messages, and system state "
         "before any modifications.", "a pasted error is kept (redacted) with its category, host and "
         "references; the secret in it is not", failure_pasted_with_a_secret, "auth_required", (),
         ("unauthorized: authentication required", f"@{HOST}/v2/"), never_says=("hunter2-s3cret",)),
    Item(R000, "Validation checklist: primary failure symptoms resolved.",
         "re-checking after the fix (Slack's Recheck button, `imagecheck check --fresh`) turns ok",
         fixed_then_rechecked, "ok", (F.resolved,), (f"{API}:1.8.4 is pullable",)),
)

# 000's other items are about incidents in general, not image pulls, so nothing here checks them:
# blast radius, containment, communication, resource utilisation, dashboards, user reports,
# performance metrics, dependent systems and security posture.


@pytest.mark.parametrize("item", COVERAGE, ids=lambda i: f"{i.runbook}: {i.item[:60]}")
async def test_runbook_item_is_covered(item: Item) -> None:
    answer = await item.situation()
    where = f"[{item.runbook}] {item.item} -> {item.covered_by}"
    if item.verdict == ANY_FAILURE:
        assert answer.verdict != "ok", where
    else:
        assert answer.verdict == item.verdict, where
    missing_findings = {str(f) for f in item.findings} - answer.findings
    assert not missing_findings, f"{where}: no {missing_findings} finding"
    for text in item.says:
        assert text in answer.text, f"{where}: the answer doesn't say {text!r}:\n{answer.text}"
    for text in item.never_says:
        assert text not in answer.text, f"{where}: the answer shows {text!r}"


def test_every_checklist_item_of_the_runbooks_has_an_entry() -> None:
    per_list = Counter(item.runbook for item in COVERAGE)
    assert per_list[R001] == 8
    assert per_list[R002_BLAME] == 7
    assert per_list[R002_STOP] == 6
    assert per_list[R002_FAST] == 12  # five steps, split where a step names several checks
    tasks = [item.item.split(":")[0] for item in COVERAGE if item.runbook == R002_TASK]
    assert tasks == [f"Task {n}" for n in range(1, 19)]
    assert len({(item.runbook, item.item) for item in COVERAGE}) == len(COVERAGE)
