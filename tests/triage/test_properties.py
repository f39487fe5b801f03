"""Property tests: triage never crashes on any text and never reports an unparseable reference as valid."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.reference import parse_reference
from bot.domain.triage import redact, triage
from tests.triage.corpus import load_corpus

# Fragments of real error wording, so generated text exercises the patterns and contexts, not just noise.
_FRAGMENTS = [
    'Failed to pull image "', "failed to resolve reference \\\"", '": not found', "manifest for ",
    " not found: manifest unknown", "pull access denied for ", "docker pull ", "image: ", "FROM ",
    "Trying to pull ", "docker://", "oci://", "@sha256:", "no matching manifest for ", " in the manifest list",
    "x509: ", "lookup ", " on 10.0.0.1:53: ", "i/o timeout", "proxyconnect tcp", "toomanyrequests",
    "401 Unauthorized", "403 Forbidden", "ImagePullBackOff", "Authorization: Bearer ", "eyJ", "password=",
    "docker login -p ", "https://u:", "@host/", "AKIA", "ghp_", "-----BEGIN RSA PRIVATE KEY-----", "\n",
    "\\", '"', ":", "/", "reading manifest ", " in ", "for architecture ", ", variant ", ", OS ",
]
_texts = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=40)), max_size=40).map("".join)


def _check(text: str) -> None:
    result = triage(text)
    for ref in result.references:
        if ref.valid:
            assert ref.normalized == parse_reference(ref.as_written).normalized
        else:
            assert ref.normalized is None
            assert ref.error
    lines = result.redacted.split("\n")
    for score in result.categories:
        assert 0.0 <= score.confidence <= 1.0
        for ev in score.evidence:
            assert 1 <= ev.line_no <= len(lines)
            assert 0 <= ev.start <= ev.end <= len(ev.line)
    # Redacting the redacted text finds nothing more: nothing secret-shaped survived the first pass.
    assert redact(result.redacted).count == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_texts)
def test_triage_never_crashes_on_error_like_text(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_triage_never_crashes_on_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(load_corpus()), st.text(max_size=60), st.integers(min_value=0, max_value=2000))
def test_corpus_snippets_with_noise_inserted(snippet, noise: str, at: int) -> None:
    text = snippet.text
    at = min(at, len(text))
    _check(text[:at] + noise + text[at:])
