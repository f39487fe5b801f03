"""Which references triage checks first: the ones the failure lines name, not the first ones printed."""

from __future__ import annotations

from bot.domain.models import ExtractedReference
from bot.domain.triage import triage
from bot.domain.triage.focus import needs_deep_check, refs_to_check, tied_references

FAILING = "ghcr.io/acme/api:v9"
SIDECARS = [f"docker.io/acme/sidecar{i}:1.{i}" for i in range(6)]


def events(failing: str = FAILING, sidecars: list[str] = SIDECARS) -> str:
    """kubectl describe pod events: healthy containers are listed before the one that failed."""
    lines = [f'  Normal   Pulled   2m   kubelet  Container image "{s}" already present on machine'
             for s in sidecars]
    lines.append(f'  Warning  Failed   1m   kubelet  Failed to pull image "{failing}": rpc error: code = '
                 f'NotFound desc = failed to pull and unpack image "{failing}": failed to resolve reference '
                 f'"{failing}": {failing}: not found')
    lines.append("  Warning  Failed   1m   kubelet  Error: ErrImagePull")
    return "\n".join(lines) + "\n"


def names(refs: list[ExtractedReference]) -> list[str]:
    return [r.normalized or "" for r in refs]


def test_six_healthy_sidecars_first_still_check_the_failing_image() -> None:
    result = triage(events())
    assert names(result.references)[:5] == SIDECARS[:5]  # in order of appearance the failure is 7th
    picked = names(refs_to_check(result, 5))
    assert picked[0] == FAILING
    assert picked[1:] == SIDECARS[:4]  # the rest keep their order


def test_other_categories_evidence_comes_before_plain_mentions() -> None:
    backoff = "docker.io/acme/worker:2"
    text = events() + f'  Normal   BackOff  1m   kubelet  Back-off pulling image "{backoff}"\n'
    result = triage(text)
    assert result.category.value == "tag_not_found"
    assert names(refs_to_check(result, 3)) == [FAILING, backoff, SIDECARS[0]]


def test_order_is_unchanged_when_the_failure_names_no_image() -> None:
    healthy = events(sidecars=SIDECARS[:3]).splitlines()[:3]
    result = triage("\n".join(healthy) + "\nno matching manifest for linux/arm64/v8 in the manifest list entries\n")
    assert tied_references(result) is None
    assert names(refs_to_check(result, 5)) == SIDECARS[:3]


def test_only_valid_references_each_once_up_to_the_limit() -> None:
    result = triage(events())
    assert len(refs_to_check(result, 2)) == 2
    assert len(refs_to_check(result, 0)) == 0
    everything = refs_to_check(result, 100)
    assert sorted(names(everything)) == sorted([FAILING, *SIDECARS])


def test_tied_references_are_the_failing_ones() -> None:
    assert tied_references(triage(events())) == frozenset({FAILING})


def test_deep_checks_only_for_what_lies_behind_the_manifest() -> None:
    blob = triage('Failed to pull image "ghcr.io/acme/api:v9": failed to copy: httpReadSeeker: failed open: '
                  "unexpected status code 404 Not Found: blob unknown to registry")
    assert blob.category.value == "blob_unknown"
    assert needs_deep_check(blob)
    assert not needs_deep_check(triage(events()))
