"""Large pastes take the fast paths (head first, then one probe for the rest; capped reference sources).

A CI log of hundreds of kilobytes usually has its pull error near the end, after the head that triage
probes first; these tests put the error on either side of that boundary and check nothing is missed.
"""

from __future__ import annotations

import pytest

from bot.domain.triage import triage
from bot.domain.triage.classify import HEAD_CHARS, needles_present
from bot.domain.triage.rules import RULES

# Build-log noise with none of the taxonomy's wording (asserted below), about 60 bytes a line.
_NOISE = "".join(f"2024-05-01T10:{i % 60:02d}:00Z step {i}/9000 : RUN make -j8 target_{i}\n"
                 for i in range(9000))
_ERROR = ('Warning  Failed  kubelet  Failed to pull image "ghcr.io/acme/api:v2.3.1": rpc error: code = '
          'NotFound desc = failed to pull and unpack image "ghcr.io/acme/api:v2.3.1": failed to resolve '
          'reference "ghcr.io/acme/api:v2.3.1": ghcr.io/acme/api:v2.3.1: not found')


def test_noise_holds_no_needle_and_is_longer_than_the_head() -> None:
    assert len(_NOISE) > 4 * HEAD_CHARS
    assert needles_present(_NOISE) == set()


@pytest.mark.parametrize("where", ["head", "tail", "both"])
def test_error_is_found_wherever_it_is_in_a_large_paste(where: str) -> None:
    text = {"head": _ERROR + "\n" + _NOISE, "tail": _NOISE + _ERROR, "both": _ERROR + "\n" + _NOISE + _ERROR}[where]
    result = triage(text)
    assert result.category.value == "tag_not_found"
    assert result.runtime == "kubelet"
    assert [r.normalized for r in result.references] == ["ghcr.io/acme/api:v2.3.1"]
    evidence = result.categories[0].evidence[0]
    assert "not found" in evidence.line
    assert text.split("\n")[evidence.line_no - 1].startswith("Warning  Failed")


def test_needle_straddling_the_head_boundary_is_found() -> None:
    needle = "no space left on device"
    text = "x" * (HEAD_CHARS - 5) + needle + "\n" + _NOISE
    present = needles_present(text)
    assert "disk.no_space_left" in present
    assert triage(text, max_bytes=len(text) + 1).category.value == "disk_or_storage"


def test_every_needle_after_the_head_is_found() -> None:
    ids = {p.id for rule in RULES for p in rule.patterns}
    text = _NOISE + "\n".join(p.needle for rule in RULES for p in rule.patterns)
    assert needles_present(text) == ids


def test_pull_commands_far_into_a_log_are_extracted_in_order() -> None:
    text = (_NOISE + "+ docker pull redis:7\n" + _NOISE[:5000]
            + "$ sudo ctr -n k8s.io images pull docker.io/library/busybox:1.36\n")
    refs = [r.normalized for r in triage(text, max_bytes=len(text) + 1).references]
    assert refs == ["docker.io/library/redis:7", "docker.io/library/busybox:1.36"]


def test_failed_to_pull_wording_is_not_a_pull_command() -> None:
    # " pull " occurs in kubelet wording too; only a tool name right before it makes a command.
    text = "Failed to pull image: rpc error\n" * 2000 + "error: failed to pull layer foo\n"
    assert triage(text, max_bytes=len(text) + 1).references == []


def test_a_build_log_repeating_one_from_line_reports_each_image_once() -> None:
    text = "".join(f"#{i} FROM docker.io/library/node:20-alpine\n#{i} FROM golang:1.22 AS build\n"
                   for i in range(20000))
    refs = [r.normalized for r in triage(text, max_bytes=len(text) + 1).references]
    assert refs == ["docker.io/library/node:20-alpine", "docker.io/library/golang:1.22"]


def test_needle_lines_without_the_regex_anchor_do_not_use_up_the_tries() -> None:
    # "repository " is common prose; only lines that also say "not found" can match the pattern, so the
    # 40 lines before the error must not exhaust its MAX_TRIES_PER_PATTERN attempts.
    text = ("note: the repository is private, ask in #platform for repository access\n" * 40
            + "Error response from daemon: repository acme/x not found\n")
    result = triage(text)
    assert result.category.value == "repo_not_found_or_denied"
    assert result.categories[0].evidence[0].line_no == 41
