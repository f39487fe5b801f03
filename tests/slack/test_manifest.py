"""manifest.yml: valid against Slack's documented manifest fields, and in step with the app's code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev group
import pytest
import yaml

from bot.slack.actions import ACTION_IDS
from bot.slack.shortcuts import CALLBACK_ID

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("manifest_schema.json")).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return data


def test_manifest_matches_the_schema(manifest: dict[str, Any]) -> None:
    jsonschema.validate(manifest, SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_schema_rejects_what_slack_rejects(manifest: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(manifest))
    broken["features"]["shortcuts"][0]["name"] = "A shortcut name that is far too long"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_manifest_declares_every_entry_point_the_app_handles(manifest: dict[str, Any]) -> None:
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/imagecheck"]
    shortcut = manifest["features"]["shortcuts"][0]
    assert (shortcut["callback_id"], shortcut["type"], shortcut["name"]) == (
        CALLBACK_ID, "message", "Diagnose image error")
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels", "message.groups", "app_mention", "app_home_opened"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # the buttons
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert set(ACTION_IDS) == {"pin_digest", "show_tags", "recheck", "bypass_mirror", "resolve_incident"}
    urls = {manifest["settings"]["event_subscriptions"]["request_url"],
            manifest["settings"]["interactivity"]["request_url"],
            manifest["features"]["slash_commands"][0]["url"]}
    assert len(urls) == 1
    assert urls.pop().endswith("/slack/events")  # one URL for events, commands and interactivity


def test_scopes_cover_the_web_api_methods_the_app_calls(manifest: dict[str, Any]) -> None:
    needed = {"commands", "chat:write", "app_mentions:read", "channels:history", "groups:history",
              "usergroups:read"}
    assert needed <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_scopes_cover_the_channel_member_rule(manifest: dict[str, Any]) -> None:
    """conversations.members (``slack.pin_requires_channel_member``) needs channels:read for public and
    groups:read for private channels; without them Slack answers missing_scope and every pin is refused."""
    import inspect

    from bot.slack import click_access

    assert "conversations_members" in inspect.getsource(click_access)
    assert {"channels:read", "groups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
