"""The work behind the entry points: check references into a thread, triage a paste into a thread.

Listeners parse Slack's payloads and call these; these call the services and the poster. Kept apart
so the slash command, @mentions, the shortcut and pasted errors share one behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.domain.errors import ImagecheckError, InvalidPlatform, InvalidReference
from bot.domain.incidents import record_diagnosis, record_triage
from bot.domain.models import Category, Diagnosis, ImageRef, Incident, Platform, TriageResult, utcnow
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.triage.focus import needs_deep_check, refs_to_check
from bot.metrics import TRIAGE
from bot.slack.escape import escape
from bot.slack.incident_state import record
from bot.slack.posting import Poster
from bot.slack.render import Rendered, render_diagnosis, render_notice, render_triage
from bot.slack.services import Services

log = logging.getLogger(__name__)

QUIET_CATEGORIES = frozenset({Category.other})


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:12]


class RegistryNotAllowedHere(Exception):
    """Settings limit this registry (usually a private one) to other channels."""

    def __init__(self, registry: str) -> None:
        super().__init__(registry)
        self.registry = registry


async def check_one(services: Services, ref: ImageRef, platforms: Sequence[Platform], *, channel: str | None,
                    fresh: bool = False, deep: bool = False,
                    correlation_id: str | None = None) -> Diagnosis | Exception:
    if not services.options.registry_allowed(ref.domain, channel):
        return RegistryNotAllowedHere(ref.domain)
    try:
        return await services.checks.check(ref, platforms=tuple(platforms), fresh=fresh, deep=deep,
                                           correlation_id=correlation_id or new_correlation_id())
    except Exception as exc:  # a bug or outage in one check must not sink the others
        log.exception("check failed for %s", ref.normalized)
        return exc


def failure_notice(services: Services, ref: ImageRef, exc: Exception) -> Rendered:
    if isinstance(exc, RegistryNotAllowedHere):
        return render_notice(f":no_entry: Checks of {escape(exc.registry)} are limited to certain channels by "
                             "this workspace's imagecheck settings; ask in one of those channels.")
    what = exc.message if isinstance(exc, ImagecheckError) else type(exc).__name__
    return render_notice(f":warning: The check of {escape(ref.normalized)} failed unexpectedly.",
                         detail=services.redact(what))


async def check_into_thread(services: Services, poster: Poster, refs: Sequence[ImageRef],
                            platforms: Sequence[Platform], *, channel: str, thread_ts: str,
                            actor: str | None) -> list[Diagnosis]:
    """Check refs concurrently; each diagnosis is posted in the thread as soon as it is ready."""
    correlation = new_correlation_id()
    mirrors = services.options.mirrors
    incident_id = Incident.make_id(channel, thread_ts)
    results: list[Diagnosis] = []

    async def one(ref: ImageRef) -> None:
        outcome = await check_one(services, ref, platforms, channel=channel, correlation_id=correlation)
        if isinstance(outcome, Exception):
            message = failure_notice(services, ref, outcome)
        else:
            results.append(outcome)
            await record(services.store, channel, thread_ts,
                         lambda incident: record_diagnosis(incident, outcome, at=utcnow(), actor=actor),
                         actor=actor)
            message = render_diagnosis(outcome, incident_id=incident_id,
                                       mirrors_configured=bool(mirrors.get(ref.registry_key)))
        try:
            await poster.post(channel, message, thread_ts=thread_ts)
        except SlackApiError as exc:
            # One refused message must not sink the other references' answers, nor leave the asker's
            # "Checking…" up forever with no "Done" (the caller answers once every post was tried).
            log.warning("could not post the diagnosis of %s in %s: %s", ref.normalized, channel,
                        exc.response.get("error"))

    await asyncio.gather(*(one(r) for r in refs))
    return results


def triage_refs(result: TriageResult, limit: int) -> list[ImageRef]:
    """Up to ``limit`` references to check, those the failure lines name first (see ``refs_to_check``)."""
    refs: list[ImageRef] = []
    for extracted in refs_to_check(result, len(result.references)):
        try:
            ref = parse_reference(extracted.normalized or extracted.as_written)
        except InvalidReference:
            continue
        if ref.normalized not in {r.normalized for r in refs}:
            refs.append(ref)
    return refs[:limit]


def triage_platforms(result: TriageResult) -> list[Platform]:
    if not result.platform:
        return []
    try:
        return [parse_platform(result.platform)]
    except InvalidPlatform:
        return []


def should_reply(services: Services, result: TriageResult) -> bool:
    return result.category not in QUIET_CATEGORIES and result.confidence >= services.options.triage_threshold


class ThreadUnavailable(Exception):
    """Slack refused the first message of a thread (the bot is not a member, the channel is archived):
    nothing was kept, and the asker should get the answer some other way."""

    def __init__(self, channel: str, error: str) -> None:
        super().__init__(f"cannot post in {channel}: {error}")
        self.channel = channel
        self.error = error


@dataclass(frozen=True)
class CheckedTriage:
    """A triage with its references checked: the outcome of each (a diagnosis or why it failed)."""

    result: TriageResult  # with the diagnoses and the reconciliation filled in
    refs: list[ImageRef]
    outcomes: list[Diagnosis | Exception]


async def check_triage(services: Services, result: TriageResult, *, channel: str) -> CheckedTriage:
    """Check the references the triage found (blobs too for a missing-blob paste), concurrently."""
    refs = triage_refs(result, services.options.max_refs_per_request)
    platforms = triage_platforms(result)
    correlation = new_correlation_id()
    deep = needs_deep_check(result)  # a missing blob or a bad manifest is invisible to a shallow check
    outcomes = list(await asyncio.gather(*(check_one(services, r, platforms, channel=channel, deep=deep,
                                                     correlation_id=correlation) for r in refs)))
    diagnoses = [o for o in outcomes if isinstance(o, Diagnosis)]
    reconciliation = services.reconcile(result, diagnoses) if diagnoses else []
    return CheckedTriage(result.model_copy(update={"diagnoses": diagnoses, "reconciliation": reconciliation}),
                         refs, outcomes)


async def answer_in_thread(services: Services, poster: Poster, checked: CheckedTriage, *, channel: str,
                           thread_ts: str, actor: str | None, on_demand: bool = False) -> None:
    """Post the triage, then keep the incident, then post each diagnosis with its buttons.

    The triage goes first so that a channel the bot cannot post in raises ``ThreadUnavailable`` before
    anything is kept: no incident without a thread of ours. Later refusals are logged, not raised.
    """
    try:
        await poster.post(channel, render_triage(checked.result, on_demand=on_demand), thread_ts=thread_ts)
    except SlackApiError as exc:
        raise ThreadUnavailable(channel, str(exc.response.get("error") or "")) from exc
    at = utcnow()
    incident = await record(services.store, channel, thread_ts,
                            lambda incident: record_triage(incident, checked.result, at=at, actor=actor),
                            actor=actor)
    for ref, outcome in zip(checked.refs, checked.outcomes, strict=True):
        if isinstance(outcome, Exception):
            message = failure_notice(services, ref, outcome)
        else:
            message = render_diagnosis(outcome, incident_id=incident.id,
                                       mirrors_configured=bool(services.options.mirrors.get(ref.registry_key)))
        try:
            await poster.post(channel, message, thread_ts=thread_ts)
        except SlackApiError as exc:
            # The thread is ours and the incident kept: one refused message must not cost the others
            # their post, nor send the asker a private "I can't reply here" that isn't true.
            log.warning("could not post the diagnosis of %s in %s: %s", ref.normalized, channel,
                        exc.response.get("error"))


async def triage_into_thread(services: Services, poster: Poster, result: TriageResult, *, channel: str,
                             thread_ts: str, actor: str | None, on_demand: bool = False) -> None:
    """Post the triage (with the checks of its references) and each diagnosis in the thread."""
    TRIAGE.labels(category=result.category.value).inc()
    checked = await check_triage(services, result, channel=channel)
    await answer_in_thread(services, poster, checked, channel=channel, thread_ts=thread_ts, actor=actor,
                           on_demand=on_demand)
