"""Every real-world snippet in tests/corpus/ gets its expected category, runtime, platform and references."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.domain.models import Category
from bot.domain.triage import triage
from tests.triage.corpus import Snippet, load_corpus

CORPUS = load_corpus()


def test_corpus_is_large_cited_and_covers_every_category() -> None:
    assert len(CORPUS) >= 150
    assert len({s.id for s in CORPUS}) == len(CORPUS)
    assert all(s.source.strip() for s in CORPUS)
    per_category = Counter(s.category for s in CORPUS)
    assert set(per_category) == {c.value for c in Category}
    assert min(per_category.values()) >= 4
    runtimes = {s.runtime for s in CORPUS if s.runtime}
    assert {"docker", "containerd", "kubelet", "podman", "buildkit", "skopeo", "nerdctl", "helm",
            "crictl", "gitlab-ci", "github-actions"} <= runtimes


def test_corpus_accuracy_with_confusion_report() -> None:
    confusion: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    for s in CORPUS:
        got = triage(s.text).category.value
        confusion[(s.category, got)] += 1
        if got != s.category:
            wrong.append(f"{s.id}: expected {s.category}, got {got}")
    table = "\n".join(f"{exp:>32} -> {got:<32} {n}" for (exp, got), n in sorted(confusion.items())
                      if exp != got)
    assert not wrong, "misclassified snippets:\n" + "\n".join(wrong) + "\nconfusion:\n" + table


@pytest.mark.parametrize("snippet", CORPUS, ids=[s.id for s in CORPUS])
def test_snippet(snippet: Snippet) -> None:
    result = triage(snippet.text, source=snippet.id)
    assert result.category.value == snippet.category
    assert result.source == snippet.id
    if snippet.runtime:
        assert result.runtime == snippet.runtime
    if snippet.platform:
        assert result.platform == snippet.platform
    valid = [r.normalized for r in result.references if r.valid]
    if snippet.references is not None:
        assert valid == snippet.references
    if snippet.invalid_references:
        assert [r.as_written for r in result.references if not r.valid] == snippet.invalid_references
    # Evidence always points at the redacted line it quotes.
    primary = next((c for c in result.categories if c.category is result.category), None)
    if result.category is not Category.other:
        assert primary is not None
        assert primary.evidence
        lines = result.redacted.split("\n")
        for ev in primary.evidence:
            assert ev.line in lines[ev.line_no - 1]
            assert 0 <= ev.start < ev.end <= len(ev.line)
