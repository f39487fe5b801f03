"""The settings loading, ``--platform`` parsing and error wording that ``check`` and ``triage`` share
(bot/cli/common.py): each command names itself in its messages and never echoes a rejected secret."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from bot.cli.common import clean, load_settings, parse_platforms
from bot.cli.main import main


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGECHECK_CONFIG", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: Mapping[str, object]) -> None:
    path = tmp_path / "imagecheck.yaml"
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    monkeypatch.setenv("IMAGECHECK_CONFIG", str(path))


BROKEN = {"registries": {"127.0.0.1:5999": {"insecure": "maybe", "password": ["hunter2-secret"]}}}


@pytest.mark.parametrize("command", ["check", "triage"])
def test_broken_settings_name_the_command_and_field_not_the_secret(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path, monkeypatch, BROKEN)
    assert load_settings(command=command) is None
    err = capsys.readouterr().err
    assert f"imagecheck {command}: settings: registries.127.0.0.1:5999.insecure" in err
    assert "hunter2-secret" not in err


def test_settings_file_named_but_missing_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGECHECK_CONFIG", str(tmp_path / "nope.yaml"))
    assert load_settings(command="triage") is None
    assert "imagecheck triage: settings: IMAGECHECK_CONFIG names no file" in capsys.readouterr().err


def test_good_settings_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, {"platforms": ["linux/arm64"]})
    settings = load_settings(command="check")
    assert settings is not None
    assert [str(p) for p in settings.platforms] == ["linux/arm64"]


def test_platforms_parse_or_say_which_one_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    parsed = parse_platforms(["linux/arm/v7", "linux/amd64"], command="check")
    assert parsed is not None
    assert [str(p) for p in parsed] == ["linux/arm/v7", "linux/amd64"]
    assert parse_platforms(["linux/amd64", "linux"], command="triage") is None
    assert "imagecheck triage: invalid --platform 'linux'" in capsys.readouterr().err


def test_check_with_broken_settings_is_bad_usage_before_any_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path, monkeypatch, BROKEN)
    assert main(["check", "127.0.0.1:5999/app:1"]) == 2
    captured = capsys.readouterr()
    assert "imagecheck check: settings:" in captured.err
    assert captured.out == ""


def test_check_with_bad_platform_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "nginx", "--platform", "linux/"]) == 2
    assert "imagecheck check: invalid --platform" in capsys.readouterr().err


def test_terminal_escapes_from_foreign_text_are_neutralised() -> None:
    assert clean("evil\x1b[2Jtag\nnext\tcol") == "evil?[2Jtag\nnext\tcol"
    assert clean("one\nline", keep="\t") == "one?line"
