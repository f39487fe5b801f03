"""A malformed ``REDIS_URL`` stops ``imagecheck serve``/``socket``/``check`` with one line on stderr and
exit 2, never a traceback, and never with a piece of the password (found in review: redis-py's
"Port could not be cast to integer value as 'Sup3r'" quoted the start of it).

Each run is a real ``python -m bot`` subprocess. The Redis URLs point at 127.0.0.1 ports nothing listens
on, the Slack tokens are dummies and the image reference names a loopback registry: the process must
stop before it would reach any of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli import REPO_ROOT, clean_env

PASSWORD_PIECES = ("Sup3r", "Secret", "hunter", "s3nt")

BAD_URLS = [
    # an unescaped "/", "?" or "#" in the password: redis-py reads its start as the port
    "redis://:Sup3r/Secret@127.0.0.1:6399/0",
    "redis://:Sup3r?Secret@127.0.0.1:6399/0",
    "redis://default:Sup3r#Secret@127.0.0.1:6399/0",
    # TLS options on a plain Sentinel URL: a TypeError from redis-py at start-up
    "redis+sentinel://:hunter2@127.0.0.1:26399/mymaster?sentinel_password=s3nt&ssl_cert_reqs=none",
]

COMMANDS = {
    "serve": ["serve", "--port", "0", "--host", "127.0.0.1"],
    "socket": ["socket"],
    "check": ["check", "127.0.0.1:9/team/app:1"],
}


def run_bot(tmp_path: Path, argv: list[str], redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(tmp_path, None), "REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": "test-signing", "SLACK_APP_TOKEN": "xapp-test"}
    return subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, env=env, check=False)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("redis_url", BAD_URLS)
def test_a_bad_redis_url_is_one_clear_line_and_exit_2(tmp_path: Path, command: str, redis_url: str) -> None:
    done = run_bot(tmp_path, COMMANDS[command], redis_url)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"imagecheck {command}: configuration error: REDIS_URL ")
    for piece in PASSWORD_PIECES:
        assert piece not in done.stderr
        assert piece not in done.stdout


def test_the_message_says_what_to_fix(tmp_path: Path) -> None:
    password = run_bot(tmp_path, COMMANDS["check"], BAD_URLS[0])
    assert "percent-encode" in password.stderr
    tls = run_bot(tmp_path, COMMANDS["check"], BAD_URLS[-1])
    assert "ssl_cert_reqs needs TLS" in tls.stderr
    assert "rediss+sentinel://" in tls.stderr
