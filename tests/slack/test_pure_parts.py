"""Pure helpers: slash text parsing, button payloads, bounded escaping."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.command_text import CheckRequest, Refusal, Usage, parse_command_text
from bot.slack.escape import TRUNCATION_NOTICE, code, escape, escape_within
from bot.slack.payloads import MAX_VALUE_CHARS, ActionPayload, PayloadError, dump_payload, load_payload
from bot.store.memory_store import MemoryStore


def test_platform_flags_in_every_spelling() -> None:
    parsed = parse_command_text("nginx:1.27 --platform linux/arm64 -p linux/amd64 --platform=linux/arm/v7")
    assert isinstance(parsed, CheckRequest)
    assert [r.normalized for r in parsed.refs] == ["docker.io/library/nginx:1.27"]
    assert [str(p) for p in parsed.platforms] == ["linux/arm64", "linux/amd64", "linux/arm/v7"]


def test_duplicates_collapse_and_too_many_are_refused() -> None:
    parsed = parse_command_text("nginx nginx:latest docker.io/library/nginx")
    assert isinstance(parsed, CheckRequest)
    assert len(parsed.refs) == 1
    assert isinstance(parse_command_text("a b c d e f", max_refs=5), Refusal)


@pytest.mark.parametrize("text", ["nginx --platform", "nginx --platform linux", "nginx -p /arm64"])
def test_bad_platforms_are_refused(text: str) -> None:
    assert isinstance(parse_command_text(text), Refusal)


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--platform linux/arm64"])
def test_usage(text: str) -> None:
    assert isinstance(parse_command_text(text), Usage)


async def test_oversized_payload_goes_to_the_store_and_comes_back() -> None:
    store = MemoryStore()
    payload = ActionPayload(incident="C1:1.2", ref="docker.io/library/nginx:1.27",
                            platforms=tuple(f"linux/arch{i}" for i in range(200)))
    value = await dump_payload(payload, store)
    assert len(value) <= MAX_VALUE_CHARS
    assert "arch199" not in value
    assert await load_payload(value, store) == payload


async def test_expired_stored_payload_is_reported() -> None:
    with pytest.raises(PayloadError):
        await load_payload('{"k": "payload:gone"}', MemoryStore())


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_escape_within_bounds_the_escaped_length_and_keeps_entities_whole(text: str, limit: int) -> None:
    out = escape_within(text, limit)
    assert len(out) <= max(limit, len(TRUNCATION_NOTICE))
    body = out.removesuffix(TRUNCATION_NOTICE)
    assert "<" not in body
    assert ">" not in body
    assert re.search(r"&(?!amp;|lt;|gt;)", body) is None  # every & starts a whole entity
    if len(escape(text)) <= limit:
        assert out == escape(text)


def test_code_spans_cannot_be_closed_by_the_input() -> None:
    span = code("a` <!channel> `b")
    assert span.count("`") == 2
    assert "&lt;!channel&gt;" in span


def test_slack_options_come_from_settings() -> None:
    from bot.settings import RegistrySettings, Settings, SlackSettings
    from bot.web import slack_options

    settings = Settings(
        slack=SlackSettings(triage_threshold=0.8, channels_exclude=["CQUIET01"], pin_allowed_users=["UBOSS001"],
                            user_checks_per_minute=3),
        registries={"Registry-1.Docker.io": RegistrySettings(mirrors=["Mirror.Example:5000"]),
                    "harbor.corp.example": RegistrySettings(channels=["CPRIV001"])})
    options = slack_options(settings)
    assert options.triage_threshold == 0.8
    assert not options.channel_enabled("CQUIET01")
    assert options.channel_enabled("CCHAN001")
    assert options.pin_allowed_users == ("UBOSS001",)
    assert options.user_checks_per_minute == 3
    assert list(options.mirrors["docker.io"]) == ["mirror.example:5000"]
    assert options.registry_allowed("harbor.corp.example", "CPRIV001")
    assert not options.registry_allowed("harbor.corp.example", "CCHAN001")
    assert options.registry_allowed("docker.io", "CCHAN001")
