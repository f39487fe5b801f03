"""``imagecheck serve`` / ``socket`` with settings that don't validate: the field and the reason, in one
line each, exit 2, and never the rejected value (it may be a password). Before, ``serve`` built the
settings itself and pydantic's traceback printed ``input_value=['<the password>']`` into the pod's log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cli import REPO_ROOT, clean_env, write_config

SECRET = "hunter2-do-not-print"


@pytest.mark.parametrize("command", ["serve", "socket"])
def test_broken_settings_stop_the_server_naming_the_field_not_the_secret(command: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"registries": {"registry.example.com": {"password": [SECRET]}}})
    env = {**clean_env(tmp_path, config), "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s3cret",
           "SLACK_APP_TOKEN": "xapp-test"}
    done = subprocess.run([sys.executable, "-m", "bot", command, "--port", "0"] if command == "serve"
                          else [sys.executable, "-m", "bot", command], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT, env=env, check=False)
    assert done.returncode == 2
    assert f"imagecheck {command}: settings: registries.registry.example.com.password" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
