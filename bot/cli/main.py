"""Argument parsing and dispatch. Commands register in ``COMMANDS``: (module, help)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import Protocol

from bot.cli.collector import fewer_collections, skip_collection_at_exit
from bot.cli.lean_imports import skip_unused_library_imports

# Each module exposes ``configure(parser)`` and ``run(args) -> int`` and keeps top-level imports light.
COMMANDS: dict[str, tuple[str, str]] = {
    "parse": ("bot.cli.parse", "parse and normalise image references"),
    "check": ("bot.cli.check", "check image references against their registries"),
    "triage": ("bot.cli.triage", "classify a pasted pull error and check the images in it"),
    "serve": ("bot.cli.serve", "serve the Slack app over HTTP (events, health, metrics)"),
    "socket": ("bot.cli.serve", "run the Slack app in Socket Mode (development)"),
}


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser, name: str) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Every command is listed, but only ``selected`` imports its module and configures its options:
    start-up of ``imagecheck check`` then pays for nothing of triage, Slack or Redis."""
    parser = argparse.ArgumentParser(
        prog="imagecheck",
        description="Diagnose container image pull failures with evidence from the registry itself.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(_module=module_name)
        if name == selected:
            module: _Command = importlib.import_module(module_name)
            module.configure(sp, name)
    return parser


def _selected_command(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: list[str]) -> int:
    skip_unused_library_imports()  # see bot.cli.lean_imports: modules no command uses
    skip_collection_at_exit()  # see bot.cli.collector: the collector was a fifth of a short check's time
    with fewer_collections():  # importing the command is most of start-up
        parser = build_parser(_selected_command(argv))
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
            return int(exc.code or 0)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    module: _Command = importlib.import_module(args._module)
    try:
        return module.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """``imagecheck check … | head`` closed the pipe: stop quietly, as a shell tool does on SIGPIPE.
    stdout is pointed at /dev/null first, or the interpreter's final flush raises the same error again
    and prints it on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE  # the status a shell reports for a writer killed by SIGPIPE
