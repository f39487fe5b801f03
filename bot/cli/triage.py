"""``imagecheck triage [FILE...|-] [--offline] [--json] [--platform P]``

Reads pasted pull-error text (files, or stdin with ``-`` or no argument), redacts it, classifies it and
prints the category, the evidence lines and the image references it names. Unless ``--offline``, it then
checks up to 5 of those references (the ones the failure lines name first) against their registries,
concurrently (deeply for a missing blob or an invalid manifest), and reconciles the log's view
with the registry's view now. ``--json`` prints one ``TriageResult`` per line, per input, with ``source``.

Exit status: 0 when the triage itself succeeded (whatever it found), 2 for bad usage or an unreadable
file. Imports stay light: the registry client and the store load only when checks run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO

from bot import metrics
from bot.cli.collector import fewer_collections
from bot.cli.common import USAGE_ERROR, clean, config_error, load_settings, parse_platforms, say
from bot.domain.errors import ConfigError, InvalidPlatform
from bot.domain.models import Diagnosis, Platform, TriageResult
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.triage import MAX_PASTE_BYTES, reconcile, triage
from bot.domain.triage.focus import needs_deep_check, refs_to_check

if TYPE_CHECKING:
    from bot.settings import Settings

COMMAND = "triage"
MAX_CHECKS = 5
# Read the start and the end of a long input (triage keeps both and drops the middle), never the
# whole of a huge file or stream; a little more than the cap, so triage can tell it was cut.
_HEAD_BYTES = MAX_PASTE_BYTES // 2
_TAIL_BYTES = MAX_PASTE_BYTES
_CHUNK = 64 * 1024

def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="files holding the pasted error text; '-' or nothing reads stdin")
    parser.add_argument("--offline", action="store_true",
                        help="classify and extract only; do not contact any registry")
    parser.add_argument("--json", action="store_true", help="one TriageResult JSON object per line per input")
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT]",
                        help="platform to check the references for (repeatable); default: the one the "
                             "log names, else the settings' fleet platforms")


def _clean(text: str) -> str:
    """Pasted text is not ours: no terminal escape sequences from it (and no line breaks in one line)."""
    return clean(text, keep="\t")


def _read(name: str) -> str:
    if name == "-":
        binary = getattr(sys.stdin, "buffer", None)  # a text-only stdin (embedding, tests) has none
        if binary is None:
            return _head_and_tail(io.BytesIO(sys.stdin.read().encode("utf-8", errors="replace")))
        return _head_and_tail(binary)
    with open(name, "rb") as fh:
        return _head_and_tail(fh)


def _head_and_tail(stream: BinaryIO) -> str:
    head = stream.read(_HEAD_BYTES)
    tail = bytearray()
    dropped = False
    while chunk := stream.read(_CHUNK):
        tail += chunk
        if len(tail) > _TAIL_BYTES + _CHUNK:  # keep only the last _TAIL_BYTES, a chunk at a time
            del tail[: len(tail) - _TAIL_BYTES]
            dropped = True
    # a marker line where the middle went (triage's own cut will notice the size and say so)
    middle = b"\n[imagecheck: the middle of this input was not read]\n" if dropped else b""
    return (bytes(head) + middle + bytes(tail)).decode("utf-8", errors="replace")

def _load_inputs(names: Sequence[str]) -> list[tuple[str, str]] | None:
    inputs: list[tuple[str, str]] = []
    failed = False
    for name in names or ["-"]:
        try:
            inputs.append((name if name != "-" else "<stdin>", _read(name)))
        except OSError as exc:
            failed = True
            say(COMMAND, f"cannot read {_clean(name)}: {_clean(exc.strerror or str(exc))}")
    return None if failed else inputs


# --- presentation ---------------------------------------------------------------------------------


def render(result: TriageResult) -> str:
    facts = [f"{result.category.value} (confidence {result.confidence:.2f})"]
    for label, value in (("runtime", result.runtime), ("registry", result.registry_host),
                         ("platform", result.platform), ("HTTP", result.http_status),
                         ("code", result.error_code)):
        if value is not None:
            facts.append(f"{label} {value}")
    lines = [f"== {_clean(result.source or '<stdin>')} ==", "category: " + ", ".join(map(str, facts)),
             f"meaning: {result.meaning}"]
    primary = next((c for c in result.categories if c.category is result.category), None)
    if primary and primary.evidence:
        lines.append("evidence:")
        for ev in primary.evidence:
            marked = ev.line[:ev.start] + ">>" + ev.line[ev.start:ev.end] + "<<" + ev.line[ev.end:]
            lines.append(f"  line {ev.line_no} [{ev.rule}]: {_clean(marked.strip())}")
    others = [f"{c.category.value} {c.confidence:.2f}" for c in result.categories if c is not primary]
    if others:
        lines.append("also seen: " + ", ".join(others))
    if result.references:
        lines.append("references:")
        for ref in result.references:
            if ref.valid:
                note = "" if ref.as_written == ref.normalized else f"  (written {_clean(ref.as_written)})"
                lines.append(f"  - {_clean(ref.normalized or '')}{note}")
            else:
                lines.append(f"  - invalid: {_clean(ref.as_written)}: {_clean(ref.error or '')}")
    else:
        lines.append("references: none found in the text")
    if result.next_steps:
        lines.append("next steps:")
        for i, step in enumerate(result.next_steps, 1):
            lines.append(f"  {i}. {_clean(step.text)}")
            if step.command:
                lines.append(f"     $ {_clean(step.command)}")
    if result.redactions:
        lines.append(f"redacted: {result.redactions} secret(s) removed before anything was shown or checked")
    if result.truncated:
        lines.append(f"note: the paste was longer than {MAX_PASTE_BYTES // 1024} KiB and was cut")
    return "\n".join(lines)


# --- checks ---------------------------------------------------------------------------------------


def _platforms_for(result: TriageResult, given: Sequence[Platform]) -> list[Platform]:
    if given:
        return list(given)
    if result.platform:
        try:
            return [parse_platform(result.platform)]
        except InvalidPlatform:
            return []
    return []


async def check_references(results: Sequence[TriageResult], given: Sequence[Platform],
                           settings: Settings | None) -> list[list[Diagnosis]]:
    """Check up to ``MAX_CHECKS`` references of each result, all concurrently, in one runtime.

    The references the failure lines name go first (``refs_to_check``), and a missing-blob or
    invalid-manifest paste gets deep checks, the only kind that looks past the manifest.
    """
    from bot.domain.checking import NoCheckMetrics
    from bot.wiring import build_runtime

    # A one-shot process: nobody can scrape what it would count.
    async with build_runtime(settings, check_metrics=NoCheckMetrics()) as runtime:
        async def one(result: TriageResult) -> list[Diagnosis]:
            refs = [parse_reference(r.as_written) for r in refs_to_check(result, MAX_CHECKS)]
            platforms = _platforms_for(result, given)
            deep = needs_deep_check(result)
            return list(await asyncio.gather(*(runtime.checks.check(ref, platforms=platforms, deep=deep)
                                               for ref in refs)))

        return list(await asyncio.gather(*(one(r) for r in results)))


def _attach(result: TriageResult, diagnoses: list[Diagnosis]) -> TriageResult:
    return result.model_copy(update={"diagnoses": diagnoses, "reconciliation": reconcile(result, diagnoses)})


def run(args: argparse.Namespace) -> int:
    with fewer_collections():  # settings, the registry client and the store still import (bot.cli.collector)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    platforms = parse_platforms(args.platform, command=COMMAND)
    inputs = _load_inputs(args.files)
    if platforms is None or inputs is None:
        return USAGE_ERROR
    results = [triage(text, source=source) for source, text in inputs]
    if not args.offline and any(any(ref.valid for ref in r.references) for r in results):
        settings = load_settings(command=COMMAND)
        if settings is None:
            return USAGE_ERROR
        try:
            with metrics.not_recorded():  # the registry client's and the store's own counts
                checked = asyncio.run(check_references(results, platforms, settings))
        except ConfigError as exc:
            return config_error(COMMAND, exc)
        results = [_attach(r, d) for r, d in zip(results, checked, strict=True)]
    for i, result in enumerate(results):
        if args.json:
            print(result.model_dump_json())
            continue
        print(("\n" if i else "") + render(result))
        if result.diagnoses:
            from bot.cli.check import format_diagnosis

            print("registry checks:")
            for d in result.diagnoses:
                print("\n".join("  " + line for line in format_diagnosis(d).split("\n")))
            print("log vs registry:")
            for line in result.reconciliation:
                print(f"  - {_clean(line)}")
    return 0
