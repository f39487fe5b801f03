"""Run ``python -m bot check`` the way a person does, against settings that name the local registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CheckRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def diagnoses(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def only(self) -> dict[str, Any]:
        (d,) = self.diagnoses
        return d


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "imagecheck.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def clean_env(directory: Path, config_path: Path | None) -> dict[str, str]:
    """The environment minus anything that would reach outside the test (Redis, ~/.docker, proxies)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IMAGECHECK_") and k not in ("REDIS_URL", "DOCKER_CONFIG")
           and "proxy" not in k.lower()}
    docker_dir = directory / "docker-config"
    docker_dir.mkdir(exist_ok=True)
    env["DOCKER_CONFIG"] = str(docker_dir)  # an empty one: no credentials from the machine
    env["NO_COLOR"] = "1"
    if config_path is not None:
        env["IMAGECHECK_CONFIG"] = str(config_path)
    return env


def run_check(directory: Path, config: dict[str, Any] | None, *args: str, json_output: bool = True,
              timeout: float = 90.0, env: dict[str, str] | None = None) -> CheckRun:
    config_path = write_config(directory, config) if config is not None else None
    argv = [sys.executable, "-m", "bot", "check", *args] + (["--json"] if json_output else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT,
                          env={**clean_env(directory, config_path), **(env or {})}, check=False)
    return CheckRun(done.returncode, done.stdout, done.stderr)
