"""Probes: the whole-text yes/no questions that let triage skip rules a paste cannot match.

A probe that wrongly said "no" would silently drop a classification, a reference or (worst) a redaction,
so these tests compare probes with Python's own ``in`` and ``re`` on the same text.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.triage import extract, redact, triage
from bot.domain.triage.probe import Haystack, Probe, escape
from bot.domain.triage.redact import RULES as REDACTION_RULES
from bot.domain.triage.rules import CATEGORY_PROBES, NEEDLE_PROBES, RULES

# Characters that are special in one regex syntax or the other, plus ordinary ones and non-ASCII.
_ALPHABET = st.sampled_from([*"ab \n\t\\.^$|?*+()[]{}#&-~\"':/=@<>,%!`;éß€\U0001f600"])


@given(literal=st.text(_ALPHABET, min_size=1, max_size=6), text=st.text(_ALPHABET, max_size=60))
def test_literal_probe_answers_exactly_like_in(literal: str, text: str) -> None:
    assert Haystack(text).may_contain(Probe.any_of([literal])) == (literal in text)


@given(literal=st.text(_ALPHABET, min_size=1, max_size=6))
def test_escaped_literal_means_itself_in_python_too(literal: str) -> None:
    assert re.fullmatch(escape(literal), literal)


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_literal_is_found_anywhere_in_a_megabyte(where: str) -> None:
    filler = "x" * (512 * 1024)
    text = {"start": "manifest unknown" + filler * 2, "middle": filler + "manifest unknown" + filler,
            "end": filler * 2 + "manifest unknown"}[where]
    assert Haystack(text).may_contain(Probe.any_of(["no such host", "manifest unknown"]))
    assert not Haystack(text).may_contain(Probe.any_of(["no such host", "manifest invalid"]))


def test_text_rust_cannot_read_gets_maybe_and_is_still_classified() -> None:
    # A lone surrogate has no UTF-8 form (``truncate_paste`` can leave one); probes must not answer "no".
    text = "\ud800 Error response from daemon: manifest for acme/app:v9 not found: manifest unknown"
    assert Haystack(text).may_contain(Probe.any_of(["anything at all"]))
    result = triage(text)
    assert result.category.value == "tag_not_found"
    assert [r.normalized for r in result.references] == ["docker.io/acme/app:v9"]


def test_every_needle_has_a_probe_that_finds_it() -> None:
    for rule in RULES:
        for pattern in rule.patterns:
            line = f"E1019 kubelet: {pattern.needle} (x3)"
            assert Haystack(line).may_contain(NEEDLE_PROBES[pattern.id]), pattern.id
            assert Haystack(line).may_contain(CATEGORY_PROBES[rule.category]), pattern.id


@pytest.mark.parametrize(("rule", "secret_line"), [
    ("jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2ln"),
    ("url_password", "pulling from https://robot:hunter2@registry.acme.io/v2/"),
    ("aws_access_key_id", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("github_token", "GITHUB_TOKEN ghp_" + "A1b2" * 9),
    ("gitlab_token", "CI_JOB glpat-" + "x1Y2z3" * 4),
    ("slack_token", "SLACK xoxb-1234567890-abcdefghij"),
])
def test_shape_gated_redaction_rules_still_fire(rule: str, secret_line: str) -> None:
    # These rules run only when their shape probe says the text may hold a match.
    assert any(r.name == rule and r.shape for r in REDACTION_RULES)
    result = redact(secret_line)
    assert result.rules == [rule]


_EXTRACTION_FRAGMENTS = ['image "', 'image=\\"', "reference \\\"", "pullimage \"", "manifest for ", " not found",
                         "pull access denied for ", "unable to find image '", "' locally", "failed to resolve ref ",
                         "error: image ", "trying to pull ", "docker://", "oci://", "load metadata for ",
                         "pulling docker image ", "executor with image ", "pulling web (", ")", "reading manifest ",
                         " in ", "FROM ", "--platform=linux/arm64 ", "docker ", "ctr -n k8s.io images", " pull ",
                         "image:", "a/b:1", "x" * 600, "\u00e9", " ", "\n", "\"", "'", "\x1c"]


@given(st.lists(st.sampled_from(_EXTRACTION_FRAGMENTS), max_size=12).map("".join))
def test_loose_probes_never_miss_what_the_python_regex_finds(text: str) -> None:
    lower = text.lower()
    pairs = [(ctx.regex, probe) for ctx, probe in zip(extract._CONTEXTS, extract._CONTEXT_PROBES, strict=True)]
    pairs += [(extract._READING_MANIFEST, extract._READING_MANIFEST_PROBE),
              (re.compile(extract._PULL_CMD_PATTERN), extract._PULL_CMD_PROBE)]
    for regex, probe in pairs:
        if regex.search(lower):
            assert Haystack(lower).may_contain(probe), regex.pattern
    if extract._FROM.search(text):
        assert Haystack(text).may_contain(extract._FROM_PROBE)


def test_loose_opens_bounds_only() -> None:
    assert Probe.loose(r"a[^\s]{1,512}b{0,3}\{2,3\}").pattern == r"a[^\s]{1,}b{0,}\{2,3\}"
