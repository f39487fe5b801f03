"""Pure rendering: domain models -> Block Kit blocks plus a plain ``text`` fallback.

No I/O. Every string that did not come from this module (references, registry messages, tags, log
lines, pastes) goes through ``escape``/``code``/``code_block``; only mentions and dates that this
module builds itself from validated ids are left live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.domain.models import Diagnosis, Finding, Incident, IncidentStatus, Severity, TriageResult, Verdict
from bot.slack.escape import code, code_block, escape, escape_within, fit, truncate
from bot.slack.payloads import ActionPayload, dump_inline

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_FALLBACK_LIMIT = 3000
MAX_FINDINGS_SHOWN = 12
MAX_TAGS_SHOWN = 15
MAX_STEPS_SHOWN = 10

_SLACK_ID = re.compile(r"^[A-Z0-9]{2,20}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

VERDICT_WORDS: dict[Verdict, str] = {
    Verdict.ok: "Image is pullable",
    Verdict.tag_not_found: "Tag not found",
    Verdict.digest_not_found: "Digest not found",
    Verdict.repo_not_found_or_denied: "Repository not found (or access denied)",
    Verdict.auth_required: "Registry needs credentials",
    Verdict.auth_forbidden: "Credentials are not allowed to pull this",
    Verdict.platform_mismatch: "No image for the wanted platform",
    Verdict.rate_limited: "Registry rate limit hit",
    Verdict.tls_error: "TLS certificate problem",
    Verdict.insecure_http: "Registry speaks plain HTTP",
    Verdict.dns_error: "Registry name does not resolve",
    Verdict.network_timeout: "Registry timed out",
    Verdict.connection_refused: "Registry refused the connection",
    Verdict.invalid_reference: "Not a valid image reference",
    Verdict.blob_unknown: "A layer (blob) is missing",
    Verdict.manifest_invalid_or_unsupported: "Manifest invalid or unsupported",
    Verdict.mirror_stale: "Mirror is stale",
    Verdict.dangling_index: "Index points at missing manifests",
    Verdict.blocked_by_policy: "Registry not allowed by policy",
    Verdict.registry_error: "Registry failed (server error)",
}

VERDICT_EMOJI: dict[Verdict, str] = {Verdict.ok: ":white_check_mark:", Verdict.rate_limited: ":hourglass:",
                                     Verdict.blocked_by_policy: ":no_entry:"}


@dataclass(frozen=True)
class Rendered:
    blocks: list[Block]
    text: str

    def as_dicts(self) -> list[dict[str, Any]]:
        """Validated dicts: ``to_dict()`` raises if any Slack limit is broken."""
        return [block.to_dict() for block in self.blocks]


def verdict_words(verdict: Verdict) -> str:
    return VERDICT_WORDS.get(verdict, verdict.value.replace("_", " ").capitalize())


def verdict_emoji(verdict: Verdict) -> str:
    return VERDICT_EMOJI.get(verdict, ":x:")


def mention_user(user_id: str | None) -> str:
    """A live user mention, but only for something shaped like a Slack id (else inert text)."""
    if user_id and _SLACK_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def mention_channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _SLACK_ID.match(channel_id) else escape(channel_id)


def slack_date(at: datetime) -> str:
    """A Slack date token (shown in the reader's time zone) with an ISO fallback."""
    epoch = int(at.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|{at.isoformat(timespec='seconds')}>"


def valid_tags(tags: Iterable[str]) -> list[str]:
    """Registry-supplied tags are shown only when they match the tag grammar."""
    return [t for t in tags if isinstance(t, str) and _TAG.match(t)]


def section(mrkdwn: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fit(mrkdwn, SECTION_LIMIT)))


def header(words: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=truncate(words, HEADER_LIMIT), emoji=True))


def context(parts: Sequence[str]) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=fit(p, SECTION_LIMIT)) for p in parts[:10]])


def _fallback(text: str) -> str:
    return fit(text, TEXT_FALLBACK_LIMIT)


def _cap(blocks: list[Block]) -> list[Block]:
    """Keep within Slack's 50 blocks, replacing the tail with a notice (buttons stay last)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    tail = [b for b in blocks[-2:] if isinstance(b, ActionsBlock | ContextBlock)]
    room = MAX_BLOCKS - len(tail) - 1
    return [*blocks[:room], section("_… more details were cut to fit Slack's message limits._"), *tail]


# --- a diagnosis ---------------------------------------------------------------------------------


def _evidence_lines(finding: Finding) -> str:
    ev = finding.evidence
    bits: list[str] = []
    if ev.status is not None:
        bits.append(f"HTTP {ev.status}")
    if ev.error_code:
        bits.append(code(ev.error_code, 80))
    line = f"• *{escape_within(finding.summary, 400)}*"
    # The summary may quote the answer already ("… (404 MANIFEST_UNKNOWN)"). Only the status and code
    # together count as a quote: a bare "200" could be part of a digest or a tag.
    quoted = bool(ev.error_code) and f"{ev.status} {ev.error_code}" in finding.summary
    if bits and not quoted:
        line += "  (" + ", ".join(bits) + ")"
    if ev.message and ev.message != finding.summary:
        line += "\n    " + code(ev.message, 400)
    if ev.log_line:
        line += "\n" + code_block(ev.log_line, 800)
    return line


def _findings_sections(findings: Sequence[Finding]) -> list[Block]:
    order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    ranked = sorted(findings, key=lambda f: order.get(f.severity, 3))
    shown, hidden = ranked[:MAX_FINDINGS_SHOWN], len(ranked) - MAX_FINDINGS_SHOWN
    chunks: list[str] = []
    current = "*Evidence*"
    for finding in shown:
        piece = fit(_evidence_lines(finding), SECTION_LIMIT - 200)
        if len(current) + 1 + len(piece) > SECTION_LIMIT - 100:
            chunks.append(current)
            current = piece
        else:
            current += "\n" + piece
    chunks.append(current)
    if hidden > 0:
        chunks.append(f"_… and {hidden} more finding(s) not shown (the CLI's `--json` has them all)._")
    return [section(c) for c in chunks]


def _platform_section(d: Diagnosis) -> SectionBlock | None:
    if not d.platforms and not d.missing_platforms:
        return None
    lines: list[str] = []
    if d.platforms:
        present = ", ".join(code(p.platform, 60) for p in d.platforms[:30])
        more = f" and {len(d.platforms) - 30} more" if len(d.platforms) > 30 else ""
        lines.append(f"*Platforms present:* {present}{more}")
    if d.missing_platforms:
        lines.append("*Missing:* " + ", ".join(code(p, 60) for p in d.missing_platforms[:30]))
    return section("\n".join(lines))


def _remediation_section(d: Diagnosis) -> SectionBlock | None:
    if not d.remediation:
        return None
    lines = ["*What to do*"]
    for i, step in enumerate(d.remediation[:MAX_STEPS_SHOWN], start=1):
        line = f"{i}. {escape_within(step.text, 500)}"
        if step.command:
            line += "\n    " + code(step.command, 500)
        lines.append(line)
    return section("\n".join(lines))


def diagnosis_context(d: Diagnosis) -> ContextBlock:
    parts = [f"registry {code(d.registry or d.reference.domain, 100)}", f"checked {slack_date(d.checked_at)}"]
    if d.from_cache:
        age = f"{d.cache_age_s:.0f}s old" if d.cache_age_s is not None else "cached"
        parts.append(f"from cache ({age})")
    parts.append(f"{d.requests} registry request(s)")
    if d.correlation_id:
        parts.append(f"id {code(d.correlation_id, 64)}")
    return context([" · ".join(parts)])


def _buttons(d: Diagnosis, incident_id: str, mirrors_configured: bool) -> ActionsBlock | None:
    base = ActionPayload(incident=incident_id, ref=d.reference.normalized, digest=d.digest,
                         platforms=tuple(d.wanted_platforms))
    value = dump_inline(base) or dump_inline(base.model_copy(update={"platforms": ()}))
    if value is None:
        return None
    buttons: list[ButtonElement] = []
    if d.digest and d.reference.effective_tag:
        buttons.append(ButtonElement(text="Pin digest", action_id="pin_digest", value=value, style="primary"))
    if d.reference.effective_tag:
        buttons.append(ButtonElement(text="Nearest tags", action_id="show_tags", value=value))
    buttons.append(ButtonElement(text="Re-check", action_id="recheck", value=value))
    if mirrors_configured:
        buttons.append(ButtonElement(text="Bypass mirror", action_id="bypass_mirror", value=value))
    buttons.append(ButtonElement(text="Resolve", action_id="resolve_incident", value=value))
    return ActionsBlock(block_id="diagnosis_actions", elements=buttons)


def render_diagnosis(d: Diagnosis, *, incident_id: str | None = None,
                     mirrors_configured: bool = False, title_prefix: str = "") -> Rendered:
    """The full diagnosis message (a thread reply). Buttons only when there is an incident to act on."""
    words = verdict_words(d.verdict)
    blocks: list[Block] = [header(f"{title_prefix}{words}: {d.reference.familiar}")]
    summary = [f"{verdict_emoji(d.verdict)} {code(d.reference.normalized, 400)}"]
    if d.summary:
        summary.append(escape_within(d.summary, 1500))
    if d.digest:
        summary.append(f"*Digest:* {code(d.digest, 100)}")
    blocks.append(section("\n".join(summary)))
    if d.findings:
        blocks.extend(_findings_sections(d.findings))
    platform_block = _platform_section(d)
    if platform_block:
        blocks.append(platform_block)
    tags = valid_tags(d.suggested_tags)[:MAX_TAGS_SHOWN]
    if tags:
        blocks.append(section("*Nearest tags:* " + ", ".join(code(t, 130) for t in tags)))
    steps = _remediation_section(d)
    if steps:
        blocks.append(steps)
    if d.degraded:
        blocks.append(context(["_Degraded:_ " + escape_within("; ".join(d.degraded), 500)]))
    blocks.append(diagnosis_context(d))
    if incident_id:
        actions = _buttons(d, incident_id, mirrors_configured)
        if actions:
            blocks.append(actions)
    text = f"{words}: {d.reference.normalized}" + (f" — {d.summary}" if d.summary else "")
    return Rendered(_cap(blocks), _fallback(escape(text)))


def diagnosis_line(d: Diagnosis) -> str:
    """One mrkdwn line: emoji, verdict, reference (for parent messages and summaries)."""
    return f"{verdict_emoji(d.verdict)} *{verdict_words(d.verdict)}* · {code(d.reference.normalized, 300)}"


# --- the parent message of a slash-command thread -------------------------------------------------


def render_parent(incident: Incident, asked_by: str | None, *, pending: Sequence[str] = ()) -> Rendered:
    """Short channel message: who asked, each reference with its verdict, pins and status."""
    lines = [f"{mention_user(asked_by)} asked imagecheck about:"]
    for ref in incident.references[:20]:
        d = incident.diagnoses.get(ref)
        if d is not None:
            lines.append(diagnosis_line(d))
        else:
            lines.append(f":hourglass_flowing_sand: checking {code(ref, 300)}")
    for ref in pending:
        if ref not in incident.references:
            lines.append(f":hourglass_flowing_sand: checking {code(ref, 300)}")
    blocks: list[Block] = [section("\n".join(lines))]
    status_parts: list[str] = []
    for pin in incident.pins[-3:]:
        status_parts.append(f":pushpin: pinned {code(pin.pinned, 400)} by {mention_user(pin.by)}")
    if incident.status is not IncidentStatus.open:
        status_parts.append(f"*{incident.status.value.capitalize()}*")
    if status_parts:
        blocks.append(context(status_parts))
    blocks.append(context(["Details in the thread :thread:"]))
    parts = [f"{verdict_words(d.verdict)}: {d.reference.normalized}" for d in incident.diagnoses.values()]
    # The slash command's first parent is a placeholder incident: its refs are only in ``pending``.
    waiting = [r for r in incident.references if r not in incident.diagnoses]
    waiting += [r for r in pending if r not in incident.references]
    if waiting:
        parts.append("imagecheck is checking " + ", ".join(waiting))
    text = escape(", ".join(parts) or "imagecheck: no references")
    if incident.status is IncidentStatus.resolved:
        text = "[resolved] " + text
    return Rendered(_cap(blocks), _fallback(text))


# --- a triaged paste ------------------------------------------------------------------------------


def render_triage(result: TriageResult, *, on_demand: bool = False) -> Rendered:
    """Classification, the evidence line, references found and (when checked) how they reconcile."""
    category = result.category.value.replace("_", " ")
    blocks: list[Block] = [header(f"Looks like: {category} ({result.confidence:.0%} sure)")]
    if result.meaning:
        blocks.append(section(escape_within(result.meaning, 1500)))
    evidence = next((e for s in result.categories for e in s.evidence), None)
    if evidence is not None:
        blocks.append(section(f"*Evidence* (line {evidence.line_no}):\n" + code_block(evidence.line, 1200)))
    if result.references:
        ref_lines = ["*References in the paste*"]
        for r in result.references[:10]:
            if r.valid and r.normalized:
                ref_lines.append(f"• {code(r.normalized, 300)}")
            else:
                why = escape_within(r.error or "", 200)
                ref_lines.append(f"• {code(r.as_written, 300)} — not valid: {why}")
        blocks.append(section("\n".join(ref_lines)))
    if result.diagnoses:
        checked = "\n".join(diagnosis_line(d) for d in result.diagnoses[:10])
        blocks.append(section("*Checked now*\n" + checked))
    if result.reconciliation:
        blocks.append(section("*Paste vs registry*\n" + "\n".join(
            "• " + escape_within(line, 400) for line in result.reconciliation[:10])))
    if result.next_steps:
        steps = [f"{i}. {escape_within(s.text, 400)}"
                 + (f"\n    {code(s.command, 400)}" if s.command else "")
                 for i, s in enumerate(result.next_steps[:MAX_STEPS_SHOWN], start=1)]
        blocks.append(section("*What to do*\n" + "\n".join(steps)))
    notes: list[str] = []
    if result.redactions:
        notes.append(f":lock: {result.redactions} secret(s) redacted from the paste")
    if result.truncated:
        notes.append("the paste was long: only its start was read")
    if on_demand:
        notes.append("triaged on request")
    if notes:
        blocks.append(context([" · ".join(notes)]))
    text = f"Looks like {category} ({result.confidence:.0%})"
    if result.meaning:
        text += f": {result.meaning}"
    return Rendered(_cap(blocks), _fallback(escape(text)))


# --- small messages -------------------------------------------------------------------------------

USAGE = (
    "*Usage:* `/imagecheck <image reference> [more references…] [--platform os/arch]…`\n"
    "Examples: `/imagecheck nginx:1.27`, `/imagecheck ghcr.io/org/app:v2 --platform linux/arm64`\n"
    "Paste a pull error in a channel I'm in and I'll diagnose it, or use the message shortcut "
    "*Diagnose image error* on any message."
)


def render_usage() -> Rendered:
    return Rendered([section(USAGE)], "Usage: /imagecheck <image reference> [--platform os/arch]")


def render_notice(message: str, *, detail: str | None = None) -> Rendered:
    """A one-section message from our own words plus optional untrusted detail (escaped)."""
    text = message if detail is None else f"{message}\n{code(detail, 600)}"
    return Rendered([section(text)], _fallback(message))

