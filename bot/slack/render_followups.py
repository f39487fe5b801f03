"""Pure rendering of button results (pin, tags, re-check, mirrors) and the App Home view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock

from bot.domain.models import Diagnosis, Incident, IncidentStatus
from bot.slack.escape import code, code_block, escape, escape_within
from bot.slack.payloads import ActionPayload, dump_inline
from bot.slack.render import (
    Rendered,
    _cap,
    context,
    diagnosis_line,
    header,
    mention_channel,
    mention_user,
    section,
    slack_date,
    valid_tags,
    verdict_words,
)

HOME_MAX_BLOCKS = 100
_SNIPPETS = (("kubectl", "kubectl"), ("helm", "Helm values"), ("kustomize", "Kustomize"),
             ("compose", "Compose"), ("dockerfile", "Dockerfile"))


def render_pin(snippets: Any, *, by: str | None) -> Rendered:
    """The pinned reference and ready-to-paste snippets (``snippets`` is a ``PinSnippets``)."""
    pinned = str(getattr(snippets, "pinned", ""))
    blocks: list[Block] = [section(f":pushpin: Pinned by {mention_user(by)}:\n{code(pinned, 500)}")]
    note = getattr(snippets, "index_note", None)
    alternatives = getattr(snippets, "alternatives", None) or []
    if alternatives:
        alt_lines = [_alternative_line(a) for a in list(alternatives)[:20]]
        blocks.append(section("*Per-platform digests* (to pin one platform only):\n" + "\n".join(alt_lines)))
    if note:
        blocks.append(context([escape_within(str(note), 600)]))
    for attr, title in _SNIPPETS:
        value = getattr(snippets, attr, None)
        if value:
            blocks.append(section(f"*{title}*\n" + code_block(str(value), 1200)))
    return Rendered(_cap(blocks), escape(f"Pinned {pinned}"))


def _alternative_line(alt: Any) -> str:
    platform = getattr(alt, "platform", None)
    digest = getattr(alt, "digest", None)
    if platform is not None and digest is not None:
        return f"• {code(str(platform), 60)} {code(str(digest), 100)}"
    return f"• {code(str(alt), 400)}"


def render_tag_moved(ref: str, old_digest: str, new_digest: str, *, incident_id: str) -> Rendered:
    """The tag moved between the diagnosis and the click: show both and let the user choose."""
    text = (f":warning: {code(ref, 400)} moved since the diagnosis.\n"
            f"• then: {code(old_digest, 100)}\n• now: {code(new_digest, 100)}\n"
            "Pick the digest you mean to pin.")
    buttons: list[ButtonElement] = []
    for label, digest in (("Pin the new digest", new_digest), ("Pin the old digest", old_digest)):
        value = dump_inline(ActionPayload(incident=incident_id, ref=ref, digest=digest, confirmed=True))
        if value:
            buttons.append(ButtonElement(text=label, action_id="pin_digest", value=value))
    blocks: list[Block] = [section(text)]
    if buttons:
        blocks.append(ActionsBlock(block_id="pin_choice", elements=buttons))
    return Rendered(blocks, escape(f"{ref} moved: was {old_digest}, now {new_digest}"))


def render_tags(ref: str, tags: Sequence[str], *, truncated: bool = False) -> Rendered:
    shown = valid_tags(tags)[:30]
    if not shown:
        return Rendered([section(f"No tags found near {code(ref, 400)}.")], escape(f"No tags near {ref}"))
    more = "\n_The tag list was long: only part of it was searched._" if truncated else ""
    body = f"*Tags nearest to* {code(ref, 400)}:\n" + ", ".join(code(t, 130) for t in shown) + more
    return Rendered([section(body)], escape(f"Tags near {ref}: " + ", ".join(shown)))


def recheck_changes(old: Diagnosis | None, new: Diagnosis) -> list[str]:
    """Plain-text facts about what differs between two diagnoses of one reference (unescaped)."""
    if old is None:
        return ["no earlier result to compare with"]
    changes: list[str] = []
    if old.verdict != new.verdict:
        changes.append(f"verdict: {verdict_words(old.verdict)} -> {verdict_words(new.verdict)}")
    if old.digest != new.digest:
        changes.append(f"digest: {old.digest or 'none'} -> {new.digest or 'none'}")
    old_p = {p.platform for p in old.platforms}
    new_p = {p.platform for p in new.platforms}
    if old_p != new_p:
        added, gone = sorted(new_p - old_p), sorted(old_p - new_p)
        if added:
            changes.append("platforms added: " + ", ".join(added))
        if gone:
            changes.append("platforms gone: " + ", ".join(gone))
    return changes or ["nothing changed"]


def render_recheck_summary(old: Diagnosis | None, new: Diagnosis, *, by: str | None) -> Rendered:
    changes = recheck_changes(old, new)
    body = (f":arrows_counterclockwise: Re-checked by {mention_user(by)} (cache bypassed):\n"
            + "\n".join("• " + escape(c) for c in changes))
    return Rendered([section(body)], escape("Re-check: " + "; ".join(changes)))


def render_mirror_comparison(ref: str, comparison: Any) -> Rendered:
    """Upstream vs mirrors. ``comparison`` is the check service's result: diagnoses or a model."""
    diagnoses: list[Diagnosis] = []
    if isinstance(comparison, Diagnosis):
        diagnoses = [comparison]
    elif isinstance(comparison, list | tuple):
        diagnoses = [d for d in comparison if isinstance(d, Diagnosis)]
    elif isinstance(comparison, dict):
        diagnoses = [d for d in comparison.values() if isinstance(d, Diagnosis)]
    lines = [f":twisted_rightwards_arrows: Upstream vs mirror for {code(ref, 400)}:"]
    for d in diagnoses[:10]:
        lines.append(f"• registry {code(d.registry or d.reference.domain, 100)}: {diagnosis_line(d)}"
                     + (f" {code(d.digest, 100)}" if d.digest else ""))
    digests = {d.digest for d in diagnoses if d.digest}
    if len(digests) > 1:
        lines.append(":warning: They disagree on the digest: the mirror is probably stale.")
    elif diagnoses and len(digests) == 1 and len(diagnoses) > 1:
        lines.append("They agree.")
    summary = getattr(comparison, "summary", None)
    if isinstance(summary, str) and summary:
        lines.append(escape_within(summary, 800))
    if len(lines) == 1:
        lines.append(escape_within(str(comparison), 1500))
    return Rendered([section("\n".join(lines))], escape(f"Upstream vs mirror for {ref}"))


def render_home(incidents: Sequence[Incident], *, user: str | None = None) -> list[Block]:
    """App Home: open incidents, most recent first, with verdicts, pins and status.

    With ``user`` the caller has already kept only that user's incidents; the wording says so.
    """
    ordered = sorted(incidents, key=lambda i: i.updated_at, reverse=True)
    title = "imagecheck: your open incidents" if user else "imagecheck: open incidents"
    blocks: list[Block] = [header(title)]
    if not ordered:
        none = "You have no open incidents." if user else "No open incidents."
        blocks.append(section(none + " Try `/imagecheck <image>` in a channel, or paste a "
                              "pull error where I'm a member."))
        return blocks
    for incident in ordered:
        if len(blocks) + 3 > HOME_MAX_BLOCKS - 1:
            blocks.append(context([f"… and more incidents not shown ({len(ordered)} in all)"]))
            break
        lines = [f"*{incident.status.value.capitalize()}* in {mention_channel(incident.channel)}"
                 f" · updated {slack_date(incident.updated_at)}"]
        for ref in incident.references[:5]:
            d = incident.diagnoses.get(ref)
            lines.append(diagnosis_line(d) if d else f"• {code(ref, 300)}")
        for pin in incident.pins[-2:]:
            lines.append(f":pushpin: {code(pin.pinned, 400)} by {mention_user(pin.by)}")
        blocks.append(section("\n".join(lines)))
        if incident.status is not IncidentStatus.resolved:
            blocks.append(context([f"incident {code(incident.id, 80)}"]))
        blocks.append(DividerBlock())
    return blocks[:HOME_MAX_BLOCKS]
