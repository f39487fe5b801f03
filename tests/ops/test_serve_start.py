"""`imagecheck serve` starts quietly: JSON log lines only, and no warning an operator would chase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import SlackEmulator

pytestmark = pytest.mark.slow


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "imagecheck serve exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback, our own server)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("imagecheck serve did not come up")


def test_serve_starts_with_json_logs_and_no_warnings(slack_emulator: SlackEmulator) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "IMAGECHECK_", "REDIS_URL"))}
    env.update(SLACK_BOT_TOKEN="xoxb-start-test", SLACK_SIGNING_SECRET="start-secret",
               SLACK_API_URL=slack_emulator.api_url)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port), "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    lines = [line for line in stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), stderr  # every line is a JSON record
    assert any("serving Slack events" in r["event"] for r in records)
    assert [r for r in records if r["level"] in ("warning", "error", "critical")] == []
    assert "xoxb-start-test" not in stderr
