"""``imagecheck check REF... [--platform P]... [--deep] [--fresh] [--json]``

Checks each reference against its registry (several at once) and prints a verdict line, the evidence
and numbered next steps; ``--json`` prints one ``Diagnosis`` per line. Exit status: 0 when every image
is pullable, 1 when a problem was found, 2 for bad usage (an invalid reference or platform).

Imports stay light: the registry client and the store are loaded inside ``run`` (Redis only when
``REDIS_URL`` is set), Slack never, and prometheus_client not at all (nothing is counted: the checks
get ``NoCheckMetrics``, and the registry client's and the store's counts are dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import metrics
from bot.cli.collector import fewer_collections
from bot.cli.common import USAGE_ERROR, clean, config_error, load_settings, parse_platforms, say
from bot.domain.errors import ConfigError, InvalidReference
from bot.domain.models import Diagnosis, ImageRef, Platform, Severity, Verdict
from bot.domain.reference import parse_reference

if TYPE_CHECKING:
    from bot.settings import Settings

COMMAND = "check"


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("refs", nargs="+", metavar="REF", help="image references, e.g. nginx:1.25")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                        help="a platform the image must have (repeatable); default: the settings' fleet "
                             "platforms")
    parser.add_argument("--deep", action="store_true",
                        help="also check that every config and layer blob exists")
    parser.add_argument("--fresh", action="store_true", help="ask the registry again, ignoring the cache")
    parser.add_argument("--json", action="store_true", help="one Diagnosis JSON object per line")


# --- presentation ---------------------------------------------------------------------------------


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


def _colour_wanted() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def render(d: Diagnosis, style: _Style) -> str:
    ok = d.verdict is Verdict.ok
    mark = style("✔ ok", "1;32") if ok else style(f"✘ {d.verdict.value}", "1;31")
    lines = [f"{mark}  {clean(d.reference.normalized)}", f"  {clean(d.summary)}"]
    if d.digest:
        lines.append(f"  digest: {d.digest}" + (f"  ({clean(d.media_type)})" if d.media_type else ""))
    if d.platforms:
        lines.append("  platforms: " + ", ".join(clean(p.platform) for p in d.platforms))
    if d.missing_platforms:
        lines.append("  missing: " + style(", ".join(d.missing_platforms), "31"))
    if d.suggested_tags:
        lines.append("  nearest tags: " + ", ".join(clean(t) for t in d.suggested_tags))
    if d.findings:
        lines.append("  evidence:")
        for f in d.findings:
            colour = {Severity.error: "31", Severity.warning: "33"}.get(f.severity)
            bullet = style("-", colour) if colour else "-"
            cited = [str(f.evidence.status) if f.evidence.status else "", f.evidence.error_code or ""]
            cite = " ".join(c for c in cited if c)
            if f.evidence.error_code and cite in f.summary:
                cite = ""  # the summary quotes the answer already: "… (404 MANIFEST_UNKNOWN)" (not a bare "200")
            lines.append(f"    {bullet} {clean(f.summary)}" + (f" [{clean(cite)}]" if cite else ""))
            if f.evidence.exception:
                lines.append(f"        {clean(f.evidence.exception)}")
    if d.remediation:
        lines.append("  next steps:")
        for i, step in enumerate(d.remediation, 1):
            lines.append(f"    {i}. {clean(step.text)}")
            if step.command:
                lines.append("       " + style(f"$ {clean(step.command)}", "36"))
    for note in d.degraded:
        lines.append("  " + style(f"note: {clean(note)}", "33"))
    if d.from_cache:
        lines.append(f"  (answered from cache (age {d.cache_age_s or 0:.0f}s), 0 registry requests)")
    else:
        lines.append(f"  ({d.requests} registry request{'s' if d.requests != 1 else ''}, "
                     f"{d.duration_ms:.0f} ms)")
    return "\n".join(lines)


# --- running --------------------------------------------------------------------------------------


def _parse_refs(texts: Sequence[str]) -> list[ImageRef] | None:
    refs: list[ImageRef] = []
    failed = False
    for text in texts:
        try:
            refs.append(parse_reference(text))
        except InvalidReference as exc:
            failed = True
            say(COMMAND, f"invalid reference {clean(repr(text))}: {clean(exc.message)}")
            if exc.hint:
                print(f"  hint: {clean(exc.hint)}", file=sys.stderr)
    return None if failed else refs


async def check_all(refs: Sequence[ImageRef], platforms: Sequence[Platform], *, deep: bool, fresh: bool,
                    settings: Settings | None = None) -> list[Diagnosis]:
    from bot.domain.checking import NoCheckMetrics
    from bot.wiring import build_runtime

    # One process, one run: nobody can scrape what it would count.
    async with build_runtime(settings, check_metrics=NoCheckMetrics()) as runtime:
        return await runtime.checks.check_many(list(refs), platforms=platforms, deep=deep, fresh=fresh)


def format_diagnosis(d: Diagnosis, *, colour: bool = False) -> str:
    """The human rendering ``imagecheck check`` prints (other commands reuse it)."""
    return render(d, _Style(colour))


def run(args: argparse.Namespace) -> int:
    with fewer_collections():  # settings, the registry client and the store still import (bot.cli.collector)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    refs = _parse_refs(args.refs)
    platforms = parse_platforms(args.platform, command=COMMAND)
    if refs is None or platforms is None:
        return USAGE_ERROR
    settings = load_settings(command=COMMAND)
    if settings is None:
        return USAGE_ERROR
    try:
        # The registry client and the store count through bot.metrics themselves: drop those counts too,
        # so that prometheus_client is never imported.
        with metrics.not_recorded():
            diagnoses = asyncio.run(check_all(refs, platforms, deep=args.deep, fresh=args.fresh,
                                              settings=settings))
    except ConfigError as exc:
        return config_error(COMMAND, exc)
    colour = _colour_wanted() and not args.json
    for i, d in enumerate(diagnoses):
        if args.json:
            print(d.model_dump_json())
        else:
            print(("\n" if i else "") + format_diagnosis(d, colour=colour))
    return 0 if all(d.ok for d in diagnoses) else 1
