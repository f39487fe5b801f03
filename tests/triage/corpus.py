"""Load the real-world snippet corpus in ``tests/corpus/`` (see its README for the fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"


@dataclass(frozen=True)
class Snippet:
    id: str
    source: str
    category: str
    text: str
    runtime: str | None = None
    platform: str | None = None
    references: list[str] | None = None
    invalid_references: list[str] = field(default_factory=list)


def load_corpus() -> list[Snippet]:
    snippets: list[Snippet] = []
    for path in sorted(CORPUS_DIR.glob("*.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
            snippets.append(Snippet(**entry))
    return snippets
