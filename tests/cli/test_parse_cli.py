"""`imagecheck parse` as a user runs it: a real subprocess (`python -m bot parse`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "f" * 64


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "IMAGECHECK_"))}
    return subprocess.run([sys.executable, "-m", "bot", "parse", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env, check=False)


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_one_object_per_reference() -> None:
    result = run("--json", "nginx", "ghcr.io/org/app:1.2@" + DIGEST)
    assert result.returncode == 0, result.stderr
    first, second = json_lines(result.stdout)
    assert first == {"input": "nginx", "valid": True, "normalized": "docker.io/library/nginx:latest",
                     "familiar": "nginx:latest", "domain": "docker.io", "path": "library/nginx",
                     "tag": "latest", "digest": None, "tag_implied": True}
    assert second["normalized"] == "ghcr.io/org/app@" + DIGEST
    assert (second["tag"], second["digest"], second["tag_implied"]) == ("1.2", DIGEST, False)


def test_invalid_reference_exits_1_with_error_and_hint() -> None:
    result = run("--json", "nginx:1.25", "Nginx:1.25")
    assert result.returncode == 1
    ok, bad = json_lines(result.stdout)
    assert ok["valid"] is True
    assert bad["valid"] is False
    assert bad["input"] == "Nginx:1.25"
    assert bad["error"] == "repository name must be lowercase"
    assert bad["suggestion"] == "nginx:1.25"
    assert "nginx:1.25" in str(bad["hint"])
    assert bad["normalized"] is None


def test_human_output() -> None:
    result = run("localhost:5000/team/app:dev", "https://ghcr.io/org/app:1")
    assert result.returncode == 1
    out = result.stdout
    assert "localhost:5000/team/app:dev\n  valid       yes\n" in out
    assert "  normalized  localhost:5000/team/app:dev\n" in out
    assert "  domain      localhost:5000\n" in out
    assert "  path        team/app\n" in out
    assert "  digest      -\n" in out
    assert "https://ghcr.io/org/app:1\n  valid       no\n" in out
    assert "  hint        Did you mean `ghcr.io/org/app:1`?" in out


def test_implied_tag_is_shown_as_such() -> None:
    assert "  tag         latest (implied)\n" in run("nginx").stdout
    assert "  tag         latest\n" in run("nginx:latest").stdout


def test_stdin_one_reference_per_line() -> None:
    stdin = "nginx:1.25\n\n# a comment\n  'redis:7'  \r\nghcr.io/org/app/\n"
    result = run("--json", "-", stdin=stdin)
    assert result.returncode == 1
    rows = json_lines(result.stdout)
    assert [r["input"] for r in rows] == ["nginx:1.25", "  'redis:7'  ", "ghcr.io/org/app/"]
    assert [r["valid"] for r in rows] == [True, True, False]
    assert rows[1]["normalized"] == "docker.io/library/redis:7"
    assert rows[2]["suggestion"] == "ghcr.io/org/app"


def test_stdin_mixed_with_arguments_keeps_order() -> None:
    result = run("--json", "alpine", "-", "busybox", stdin="redis\n")
    assert result.returncode == 0
    assert [r["input"] for r in json_lines(result.stdout)] == ["alpine", "redis", "busybox"]


@pytest.mark.parametrize(("args", "stdin"), [
    ((), None),  # no reference at all
    (("-",), ""),  # stdin given but empty
    (("-", "-"), "nginx\n"),  # stdin twice
    (("--no-such-flag", "nginx"), None),
])
def test_bad_usage_exits_2(args: tuple[str, ...], stdin: str | None) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr


def test_control_characters_are_not_echoed_raw() -> None:
    result = run("nginx\x1b[31m")
    assert result.returncode == 1
    assert "\x1b" not in result.stdout


def test_parse_command_imports_nothing_heavy() -> None:
    # The parse module itself (main.py's dispatch imports every command; that is checked elsewhere).
    code = ("import sys, argparse; import bot.cli.parse as p; "
            "p.run(argparse.Namespace(refs=['nginx'], json=True)); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('slack_bolt', 'slack_sdk', 'redis', 'httpx', 'aiohttp')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=ROOT, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
