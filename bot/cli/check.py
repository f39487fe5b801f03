"""``imagecheck check REF... [--platform P]... [--deep] [--fresh] [--json]``

Checks each reference against its registry (several at once) and prints a verdict line, the evidence
and numbered next steps; ``--json`` prints one ``Diagnosis`` per line. Exit status: 0 when every image
is pullable, 1 when a problem was found, 2 for bad usage (an invalid reference or platform).

Imports stay light: the registry client and the store are loaded inside ``run`` (Redis only when
``REDIS_URL`` is set), Slack never.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.errors import ConfigError, InvalidPlatform, InvalidReference
from bot.domain.models import Diagnosis, ImageRef, Platform, Severity, Verdict
from bot.domain.reference import parse_platform, parse_reference

if TYPE_CHECKING:
    from bot.settings import Settings


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


def _clean(text: str) -> str:
    """Registry answers and pasted references are not ours: no terminal escape sequences from them."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def render(d: Diagnosis, style: _Style) -> str:
    ok = d.verdict is Verdict.ok
    mark = style("✔ ok", "1;32") if ok else style(f"✘ {d.verdict.value}", "1;31")
    lines = [f"{mark}  {_clean(d.reference.normalized)}", f"  {_clean(d.summary)}"]
    if d.digest:
        lines.append(f"  digest: {d.digest}" + (f"  ({_clean(d.media_type)})" if d.media_type else ""))
    if d.platforms:
        lines.append("  platforms: " + ", ".join(_clean(p.platform) for p in d.platforms))
    if d.missing_platforms:
        lines.append("  missing: " + style(", ".join(d.missing_platforms), "31"))
    if d.suggested_tags:
        lines.append("  nearest tags: " + ", ".join(_clean(t) for t in d.suggested_tags))
    if d.findings:
        lines.append("  evidence:")
        for f in d.findings:
            colour = {Severity.error: "31", Severity.warning: "33"}.get(f.severity)
            bullet = style("-", colour) if colour else "-"
            cited = [str(f.evidence.status) if f.evidence.status else "", f.evidence.error_code or ""]
            cite = " ".join(c for c in cited if c)
            lines.append(f"    {bullet} {_clean(f.summary)}" + (f" [{_clean(cite)}]" if cite else ""))
            if f.evidence.exception:
                lines.append(f"        {_clean(f.evidence.exception)}")
    if d.remediation:
        lines.append("  next steps:")
        for i, step in enumerate(d.remediation, 1):
            lines.append(f"    {i}. {_clean(step.text)}")
            if step.command:
                lines.append("       " + style(f"$ {_clean(step.command)}", "36"))
    for note in d.degraded:
        lines.append("  " + style(f"note: {_clean(note)}", "33"))
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
            print(f"imagecheck check: invalid reference {_clean(repr(text))}: {_clean(exc.message)}",
                  file=sys.stderr)
            if exc.hint:
                print(f"  hint: {_clean(exc.hint)}", file=sys.stderr)
    return None if failed else refs


def _parse_platforms(texts: Sequence[str]) -> list[Platform] | None:
    platforms: list[Platform] = []
    for text in texts:
        try:
            platforms.append(parse_platform(text))
        except InvalidPlatform as exc:
            print(f"imagecheck check: invalid --platform {_clean(repr(text))}: {_clean(exc.message)}",
                  file=sys.stderr)
            return None
    return platforms


async def check_all(refs: Sequence[ImageRef], platforms: Sequence[Platform], *, deep: bool, fresh: bool,
                    settings: Settings | None = None) -> list[Diagnosis]:
    from bot.wiring import build_runtime

    async with build_runtime(settings) as runtime:
        return await runtime.checks.check_many(list(refs), platforms=platforms, deep=deep, fresh=fresh)


def format_diagnosis(d: Diagnosis, *, colour: bool = False) -> str:
    """The human rendering ``imagecheck check`` prints (other commands reuse it)."""
    return render(d, _Style(colour))


def load_settings() -> Settings | None:
    """Settings from the environment and ``IMAGECHECK_CONFIG``; None (after saying why) when broken."""
    import yaml
    from pydantic import ValidationError

    from bot.settings import Settings

    config_file = os.environ.get("IMAGECHECK_CONFIG")
    if config_file and not os.path.isfile(config_file):
        # pydantic-settings would silently ignore it and check with the wrong settings
        print(f"imagecheck check: settings: IMAGECHECK_CONFIG names no file: {_clean(config_file)}",
              file=sys.stderr)
        return None
    try:
        return Settings()
    except ValidationError as exc:
        # Field locations and messages only: the rejected input may be a password.
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            print(f"imagecheck check: settings: {where}: {error['msg']}", file=sys.stderr)
    except (OSError, ValueError, yaml.YAMLError) as exc:  # an unreadable or unparseable settings file
        print(f"imagecheck check: settings: {type(exc).__name__}: {_clean(str(exc))[:300]}", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    refs = _parse_refs(args.refs)
    platforms = _parse_platforms(args.platform)
    if refs is None or platforms is None:
        return 2
    settings = load_settings()
    if settings is None:
        return 2
    try:
        diagnoses = asyncio.run(check_all(refs, platforms, deep=args.deep, fresh=args.fresh,
                                          settings=settings))
    except ConfigError as exc:
        print(f"imagecheck check: configuration error: {_clean(exc.message)}", file=sys.stderr)
        return 2
    colour = _colour_wanted() and not args.json
    for i, d in enumerate(diagnoses):
        if args.json:
            print(d.model_dump_json())
        else:
            print(("\n" if i else "") + format_diagnosis(d, colour=colour))
    return 0 if all(d.ok for d in diagnoses) else 1
