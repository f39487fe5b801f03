"""nearest_tags: what a person would try next when a tag is missing."""

from __future__ import annotations

import random

import pytest

from bot.domain.tags import nearest_tags


@pytest.mark.parametrize(("wanted", "available", "expected"), [
    # the example: refinement first, then the same minor, then the next minor; `latest` is not near
    ("1.8.4", ["1.8.3", "1.8.4-hotfix1", "1.9.0", "latest"], ["1.8.4-hotfix1", "1.8.3", "1.9.0"]),
    # a miscased tag ranks first, before any neighbour
    ("Latest", ["lates", "latest", "1.0"], ["latest", "lates"]),
    ("1.0.0-RC1", ["1.0.0", "1.0.0-rc1", "1.0.1"], ["1.0.0-rc1", "1.0.0", "1.0.1"]),
    # a `v` prefix written or left out is the same tag
    ("v1.8.4", ["1.8.3", "1.8.4"], ["1.8.4", "1.8.3"]),
    ("1.8.4", ["v1.8.3", "v1.8.4"], ["v1.8.4", "v1.8.3"]),
    # equal steps: the older one first; more shared version numbers beat a smaller step further up
    ("1.8.4", ["1.8.5", "1.8.3", "1.7.9", "1.8.40"], ["1.8.3", "1.8.5", "1.8.40", "1.7.9"]),
    # "1.8.40" is not a refinement of "1.8.4" (no separator)
    ("1.8.4", ["1.8.40", "1.8.4.1"], ["1.8.4.1", "1.8.40"]),
    # a more specific version of the same flavour is a refinement
    ("1.23-alpine", ["1.22-alpine", "1.23.4-alpine", "1.23", "alpine"],
     ["1.23.4-alpine", "1.23", "1.22-alpine", "alpine"]),
    # refinements by length, then neighbours
    ("1.23", ["1.24", "1.23.4-alpine", "1.23.4"], ["1.23.4", "1.23.4-alpine", "1.24"]),
    # another major version is only offered when it reads alike
    ("2.0", ["1.0", "3.0", "2.1"], ["2.1", "1.0", "3.0"]),
    # words: refinements, then similarity
    ("stable", ["stable-slim", "unstable", "latest", "edge"], ["stable-slim", "unstable"]),
    ("bookwrm", ["bookworm", "bookworm-slim", "bullseye", "latest"], ["bookworm", "bookworm-slim"]),
    # nothing near
    ("1.8.4", ["latest", "edge", "nightly"], []),
    ("x", [], []),
])
def test_nearest_tags(wanted: str, available: list[str], expected: list[str]) -> None:
    assert nearest_tags(wanted, available) == expected


def test_order_does_not_depend_on_the_registrys_order() -> None:
    tags = ["1.8.3", "1.8.4-hotfix1", "1.9.0", "1.8.5", "1.8.4-alpine", "latest", "1.7.0"]
    expected = nearest_tags("1.8.4", tags, limit=10)
    for seed in range(20):
        shuffled = tags[:]
        random.Random(seed).shuffle(shuffled)
        assert nearest_tags("1.8.4", shuffled, limit=10) == expected
    # refinements of equal rank: shorter first, then alphabetical
    assert expected[:2] == ["1.8.4-alpine", "1.8.4-hotfix1"]


def test_limit_and_duplicates() -> None:
    tags = ["1.8.3", "1.8.3", "1.8.2", "1.8.1", "1.8.0", "1.8.5", "1.8.6"]
    assert nearest_tags("1.8.4", tags, limit=3) == ["1.8.3", "1.8.5", "1.8.2"]
    assert nearest_tags("1.8.4", tags, limit=0) == []


def test_tags_outside_the_tag_grammar_are_never_returned() -> None:
    # Registry data ends up in chat messages: a hostile "tag" must not get through.
    tags = ["1.8.3", "1.8.4 <!channel>", "1.8.4\n", "-1.8.4", "1.8.4+build", "1.8.4-ok"]
    assert nearest_tags("1.8.4", tags) == ["1.8.4-ok", "1.8.3"]


def test_ten_thousand_tags() -> None:
    tags = [f"{a}.{b}.{c}" for a in range(10) for b in range(30) for c in range(34)]
    tags += [f"build-{n}" for n in range(200)]
    assert len(tags) >= 10_000
    assert nearest_tags("5.15.20-rc1", tags) == ["5.15.20", "5.15.19", "5.15.21", "5.15.18", "5.15.22"]
    assert nearest_tags("buld-105", tags)[0] == "build-105"


def test_long_wanted_text_is_bounded() -> None:
    # Compared by its first 128 characters (the longest a tag can be).
    assert nearest_tags("1.8.4" + "x" * 10_000, ["1.8.3", "latest", "1.8.4"]) == ["1.8.4", "1.8.3"]
