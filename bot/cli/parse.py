"""``imagecheck parse REF... [--json]``: how Docker reads each reference, or why it can't.

No network and nothing heavy is imported: this runs in the blink of an eye, also in CI scripts
(``imagecheck parse - < refs.txt`` exits 1 when any line is invalid).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from bot.domain.errors import InvalidReference
from bot.domain.reference import parse_reference

_FIELDS = ("input", "valid", "normalized", "familiar", "domain", "path", "tag", "digest")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("refs", nargs="+", metavar="REF",
                        help="image references; `-` reads one reference per line from stdin")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per reference, one per line")


def describe(text: str) -> dict[str, Any]:
    """The parse result for one reference, as printed (and as ``--json`` emits it)."""
    try:
        ref = parse_reference(text)
    except InvalidReference as exc:
        return {"input": text, "valid": False, "normalized": None, "familiar": None, "domain": None,
                "path": None, "tag": None, "digest": None, "error": exc.message, "hint": exc.hint,
                "suggestion": exc.suggestion}
    return {"input": text, "valid": True, "normalized": ref.normalized, "familiar": ref.familiar,
            "domain": ref.domain, "path": ref.path, "tag": ref.effective_tag, "digest": ref.digest,
            "tag_implied": ref.tag is None and ref.digest is None}


def _inputs(refs: Iterable[str], stdin: TextIO) -> Iterator[str]:
    for ref in refs:
        if ref == "-":
            for line in stdin:
                line = line.rstrip("\r\n")
                if line.strip() and not line.lstrip().startswith("#"):  # blank lines and comments
                    yield line
        else:
            yield ref


def _human(result: dict[str, Any]) -> str:
    text = result["input"]
    lines = [text if text.isprintable() else repr(text),  # no terminal escapes from pasted text
             f"  {'valid':<11} {'yes' if result['valid'] else 'no'}"]
    if result["valid"]:
        for field in _FIELDS[2:]:
            value = result[field]
            if field == "tag" and result.get("tag_implied"):
                value = f"{value} (implied)"
            lines.append(f"  {field:<11} {value if value is not None else '-'}")
    else:
        lines.append(f"  {'error':<11} {result['error']}")
        if result["hint"]:
            lines.append(f"  {'hint':<11} {result['hint']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if list(args.refs).count("-") > 1:
        print("imagecheck parse: `-` (stdin) may be given only once", file=sys.stderr)
        return 2
    all_valid = True
    count = 0
    for i, text in enumerate(_inputs(args.refs, sys.stdin)):
        count += 1
        result = describe(text)
        all_valid = all_valid and bool(result["valid"])
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(("\n" if i else "") + _human(result))
    if count == 0:
        print("imagecheck parse: no references given (stdin was empty)", file=sys.stderr)
        return 2
    return 0 if all_valid else 1
