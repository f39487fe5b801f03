"""A mirror limited to some channels can't be used by a registry that other channels may check.

Checking a registry also asks its mirrors (the mirror comparison), and the per-channel gate sees only
the registry that was typed, so such a configuration would show the mirror's answers where the
settings say they must not go. The settings refuse it at start-up, naming both registries.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def _settings(registries: dict[str, Any]) -> Settings:
    return Settings(registries=registries)


def _refusal(registries: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(registries)
    (error,) = caught.value.errors(include_input=False, include_url=False)
    assert error["loc"] == ("registries",)
    return str(error["msg"])


def test_an_open_registry_using_a_limited_mirror_is_refused() -> None:
    message = _refusal({"docker.io": {"mirrors": ["mirror.corp:5000"]},
                        "mirror.corp:5000": {"channels": ["CPLATFORM"]}})
    assert "docker.io uses the mirror mirror.corp:5000" in message
    assert "limited to channels CPLATFORM" in message
    assert "from any channel" in message


def test_a_registry_open_to_more_channels_than_its_mirror_is_refused_naming_them() -> None:
    message = _refusal({"registry.corp": {"mirrors": ["mirror.corp"], "channels": ["CPLATFORM", "CRANDOM"]},
                        "mirror.corp": {"channels": ["CPLATFORM"]}})
    assert "may be checked from CRANDOM" in message


@pytest.mark.parametrize("mirror", ["MIRROR.corp:443", "https://mirror.corp/", "mirror.corp."])
def test_another_spelling_of_the_mirror_is_the_same_mirror(mirror: str) -> None:
    _refusal({"registry.corp": {"mirrors": [mirror]}, "mirror.corp": {"channels": ["CPLATFORM"]}})


def test_docker_hub_aliases_are_one_registry() -> None:
    # the limited entry spelled as an alias of Docker Hub, the mirror named by its canonical name
    _refusal({"ghcr.io": {"mirrors": ["docker.io"]}, "index.docker.io": {"channels": ["CPLATFORM"]}})


@pytest.mark.parametrize("channels", [["CPLATFORM"], ["CPLATFORM", "CSRE"]])
def test_a_registry_limited_within_its_mirrors_channels_is_accepted(channels: list[str]) -> None:
    settings = _settings({"registry.corp": {"mirrors": ["mirror.corp"], "channels": channels[:1]},
                          "mirror.corp": {"channels": channels}})
    assert settings.mirrors_by_registry() == {"registry.corp": ["mirror.corp"]}


def test_unlimited_mirrors_and_unlisted_mirrors_are_accepted() -> None:
    settings = _settings({"docker.io": {"mirrors": ["mirror.corp", "cache.corp"]},
                          "mirror.corp": {"insecure": True}})
    assert settings.mirrors_by_registry() == {"docker.io": ["mirror.corp", "cache.corp"]}


# One registry, one entry: settings are looked up by the canonical spelling, so two entries for one
# registry would each hold part of its settings, and a `channels:` limit on one of them could silently
# not apply to the other (found in review).


@pytest.mark.parametrize(("first", "second"), [
    ("mirror.corp", "mirror.corp:443"), ("Mirror.Corp", "mirror.corp"), ("docker.io", "index.docker.io"),
    ("10.0.0.5:5000", "[::ffff:a00:5]:5000")])
def test_two_entries_for_one_registry_are_refused(first: str, second: str) -> None:
    message = _refusal({first: {"channels": ["CSEC"]}, second: {"username": "bot"}})
    assert "merge" in message


@pytest.mark.parametrize("registries", [{"fd00::5": {}}, {"[fd00::5]:5000": {"mirrors": ["fd00::6"]}},
                                        {"[fd00::5]": {"token_realms": ["fd00::7:8443"]}}])
def test_an_ipv6_registry_must_be_written_in_brackets(registries: dict[str, Any]) -> None:
    # Unbracketed, "fd00::5:5000" is a host and a port or a whole address: a guess either way, and the
    # reference a user types ([fd00::5]/app) would not find these settings.
    assert "in brackets" in _refusal(registries)


def test_bracketed_ipv6_registries_and_mirror_urls_are_accepted() -> None:
    settings = _settings({"[fd00::5]:5000": {}, "docker.io": {"mirrors": ["https://[fd00::6]:5000/"]}})
    assert "[fd00::5]:5000" in settings.registries
