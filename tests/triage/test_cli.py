"""``imagecheck triage``: offline in-process, and once end to end against a real local registry."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.integration.cli import REPO_ROOT, clean_env, write_config
from tests.support.local_registry import LocalRegistry

PASTE = """\
  Warning  Failed  11s  kubelet  Failed to pull image "ghcr.io/acme/api:v9": rpc error: code = NotFound desc = \
failed to pull and unpack image "ghcr.io/acme/api:v9": failed to resolve reference "ghcr.io/acme/api:v9": \
ghcr.io/acme/api:v9: not found
  Warning  Failed  11s  kubelet  Error: ErrImagePull
"""


def test_offline_human_output_names_category_evidence_and_references(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    paste = tmp_path / "events.txt"
    paste.write_text(PASTE + "docker login -u bot -p hunter2secret ghcr.io\n", encoding="utf-8")
    assert main(["triage", "--offline", str(paste)]) == 0
    out = capsys.readouterr().out
    assert "category: tag_not_found" in out
    assert "runtime kubelet" in out
    assert "line 1 [tag.containerd_resolve_not_found]: " in out
    assert ">>failed to resolve reference" in out
    assert "  - ghcr.io/acme/api:v9" in out
    assert "$ imagecheck check ghcr.io/acme/api:v9" in out
    assert "hunter2secret" not in out
    assert "redacted: 1 secret" in out
    assert "registry checks" not in out


def test_offline_json_one_object_per_file_with_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.log"
    a.write_text(PASTE, encoding="utf-8")
    b = tmp_path / "b.log"
    b.write_text("no matching manifest for linux/arm64/v8 in the manifest list entries", encoding="utf-8")
    assert main(["triage", "--offline", "--json", str(a), str(b)]) == 0
    lines = capsys.readouterr().out.splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["source"] == str(a)
    assert first["category"] == "tag_not_found"
    assert first["categories"][0]["evidence"][0]["line_no"] == 1
    assert first["references"][0] == {"as_written": "ghcr.io/acme/api:v9", "normalized": "ghcr.io/acme/api:v9",
                                      "valid": True, "error": None}
    assert first["runtime"] == "kubelet"
    assert first["diagnoses"] == []
    assert second["source"] == str(b)
    assert second["category"] == "platform_mismatch"
    assert second["platform"] == "linux/arm64/v8"


def test_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("toomanyrequests: You have reached your pull rate limit"))
    assert main(["triage", "--offline", "--json", "-"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["category"] == "rate_limited"
    assert result["source"] == "<stdin>"


def test_unreadable_file_and_bad_platform_are_usage_errors(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["triage", "--offline", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
    ok = tmp_path / "ok.txt"
    ok.write_text("x", encoding="utf-8")
    assert main(["triage", "--offline", "--platform", "linux", str(ok)]) == 2
    assert "invalid --platform" in capsys.readouterr().err


@pytest.mark.slow
def test_checks_run_and_the_two_views_are_reconciled(tmp_path: Path, registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_oci
    exists = registry_open.ref(image.repository, "1.0")
    missing = registry_open.ref(image.repository, "no-such-tag")
    paste = tmp_path / "paste.txt"
    paste.write_text(f"Error response from daemon: manifest for {exists} not found: manifest unknown\n"
                     f"Error response from daemon: manifest for {missing} not found: manifest unknown\n",
                     encoding="utf-8")
    config = write_config(tmp_path, {"registries": {registry_open.host: {"insecure": True}}})
    done = subprocess.run([sys.executable, "-m", "bot", "triage", "--json", str(paste)], capture_output=True,
                          text=True, timeout=90, cwd=REPO_ROOT, env=clean_env(tmp_path, config), check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["category"] == "tag_not_found"
    verdicts = {d["reference"]["normalized"]: d["verdict"] for d in result["diagnoses"]}
    assert verdicts == {exists: "ok", missing: "tag_not_found"}
    now_exists, confirmed = result["reconciliation"]
    assert "has it now" in now_exists
    assert image.digest[:19] in now_exists
    assert "confirmed" in confirmed
