"""Who may click ``pin_digest`` and ``resolve_incident``.

Three rules can be configured (``slack.pin_allowed_users``, ``slack.pin_allowed_usergroup``,
``slack.pin_requires_channel_member``). With none configured anyone may click; otherwise a click is
allowed when ANY configured rule admits the user. A rule that cannot be evaluated (Slack answered with
an error) admits no one: refusing with a clear reason is safer than letting an unchecked click pin.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.errors import StoreUnavailable
from bot.slack.services import Services

log = logging.getLogger(__name__)

RESTRICTED = frozenset({"pin_digest", "resolve_incident"})
MEMBERS_PAGE_SIZE = 1000  # Slack's documented maximum for conversations.members
MEMBERS_MAX_PAGES = 50  # 50,000 members; past that we refuse rather than page on for minutes

REFUSED = ("Only the people configured for this workspace may pin digests or resolve incidents. "
           "Ask one of them, or use the snippets from `/imagecheck`.")


@dataclass(frozen=True)
class Access:
    allowed: bool
    refusal: str = ""  # the ephemeral text shown when not allowed


class MembershipUnknown(Exception):
    """Slack could not tell us who is in the channel."""


def _unchecked_notice(what: str) -> str:
    return (f"Could not check {what} just now, so this click was not carried out. "
            "Try again in a minute, or ask someone listed in `slack.pin_allowed_users`.")


async def check_access(services: Services, client: Any, action_id: str, user: str,
                       channel: str) -> Access:
    opts = services.options
    rules = bool(opts.pin_allowed_users or opts.pin_allowed_usergroup or opts.pin_requires_channel_member)
    if action_id not in RESTRICTED or not rules:
        return Access(True)
    if user and user in opts.pin_allowed_users:
        return Access(True)
    unchecked: list[str] = []
    if opts.pin_allowed_usergroup:
        try:
            resp = await client.usergroups_users_list(usergroup=opts.pin_allowed_usergroup)
            if user in (resp.get("users") or []):
                return Access(True)
        except SlackApiError as exc:
            log.warning("cannot read user group: %s", exc.response.get("error"))
            unchecked.append("the user group")
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot read user group: %s", type(exc).__name__)
            unchecked.append("the user group")
    if opts.pin_requires_channel_member:
        try:
            if user in await channel_members(services, client, channel):
                return Access(True)
        except MembershipUnknown as exc:
            log.warning("cannot read channel members: %s", exc)
            unchecked.append("channel membership")
    if unchecked:
        return Access(False, _unchecked_notice(" or ".join(unchecked)))
    return Access(False, REFUSED)


def _members_key(channel: str) -> str:
    return f"channel-members:{channel}"


async def channel_members(services: Services, client: Any, channel: str) -> frozenset[str]:
    """The channel's member ids, read from the store when a recent copy is there (a burst of clicks
    then costs one walk of ``conversations.members``), else from Slack page by page."""
    if not channel:
        raise MembershipUnknown("the click carried no channel")
    try:
        cached = await services.store.get_blob(_members_key(channel))
    except StoreUnavailable:
        cached = None
    if cached is not None:
        return frozenset(json.loads(cached))
    members = await _read_members(client, channel)
    # With the store down we answer without the cache; the next click asks Slack again.
    with contextlib.suppress(StoreUnavailable):
        await services.store.put_blob(_members_key(channel), json.dumps(sorted(members)),
                                      services.options.channel_members_ttl_s)
    return members


async def _read_members(client: Any, channel: str) -> frozenset[str]:
    members: set[str] = set()
    cursor: str | None = None
    for _ in range(MEMBERS_MAX_PAGES):
        try:
            resp = await client.conversations_members(channel=channel, limit=MEMBERS_PAGE_SIZE,
                                                      **({"cursor": cursor} if cursor else {}))
        except SlackApiError as exc:
            raise MembershipUnknown(str(exc.response.get("error") or "slack error")) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise MembershipUnknown(type(exc).__name__) from exc
        members.update(str(m) for m in resp.get("members") or [])
        cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "") or None
        if cursor is None:
            return frozenset(members)
    raise MembershipUnknown(f"more than {MEMBERS_MAX_PAGES} pages of members")
