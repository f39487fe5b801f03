"""``imagecheck triage``: offline in-process, and once end to end against a real local registry."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _triage_json(tmp_path: Path, registry: LocalRegistry, text: str) -> dict[str, Any]:
    paste = tmp_path / "paste.txt"
    paste.write_text(text, encoding="utf-8")
    config = write_config(tmp_path, {"registries": {registry.host: {"insecure": True}}})
    done = subprocess.run([sys.executable, "-m", "bot", "triage", "--json", str(paste)], capture_output=True,
                          text=True, timeout=90, cwd=REPO_ROOT, env=clean_env(tmp_path, config), check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_the_failing_image_is_checked_even_after_six_healthy_ones(tmp_path: Path,
                                                                   registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    healthy = [registry_open.ref(i.repository, "1.0") for i in
               (s.single_oci, s.single_docker, s.multi_oci, s.multi_docker, s.amd64_only, s.dangling)]
    failing = registry_open.ref(s.single_oci.repository, "no-such-tag")
    text = "".join(f'  Normal   Pulled   2m   kubelet  Container image "{h}" already present on machine\n'
                   for h in healthy)
    text += (f'  Warning  Failed   1m   kubelet  Failed to pull image "{failing}": rpc error: code = NotFound '
             f'desc = failed to pull and unpack image "{failing}": failed to resolve reference "{failing}": '
             f"{failing}: not found\n  Warning  Failed   1m   kubelet  Error: ErrImagePull\n")
    result = _triage_json(tmp_path, registry_open, text)
    assert result["category"] == "tag_not_found"
    checked = [d["reference"]["normalized"] for d in result["diagnoses"]]
    assert len(checked) == 5
    assert checked[0] == failing
    assert result["diagnoses"][0]["verdict"] == "tag_not_found"
    confirmed, *others = result["reconciliation"]
    assert "confirmed, the registry still has no such manifest" in confirmed
    assert len(others) == 4
    assert all("does not tie this image to the failure" in line for line in others)


@pytest.mark.slow
def test_a_missing_blob_paste_gets_a_deep_check_that_finds_the_blob(tmp_path: Path,
                                                                     registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.missing_blob
    blob = registry_open.scenarios.missing_blob_digest
    ref = registry_open.ref(image.repository, "1.0")
    result = _triage_json(tmp_path, registry_open,
                          f'  Warning  Failed   1m   kubelet  Failed to pull image "{ref}": rpc error: code = '
                          f'NotFound desc = failed to pull and unpack image "{ref}": failed to copy: '
                          f"httpReadSeeker: failed open: content at http://{registry_open.host}/v2/"
                          f"{image.repository}/blobs/{blob} not found: not found\n")
    assert result["category"] == "blob_unknown"
    [d] = result["diagnoses"]
    assert d["verdict"] == "blob_unknown"  # a shallow check answers ok here
    assert any(f["kind"] == "blob_missing" and blob in f["summary"] for f in d["findings"])
    [line] = result["reconciliation"]
    assert "confirmed" in line
    assert "node's side" not in line


def test_a_huge_log_file_is_triaged_on_its_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # CI and build logs end with their error; a multi-megabyte log must still be read to its end.
    log = tmp_path / "ci.log"
    noise = b"Step 12/40 : RUN make build-everything-with-a-lot-of-output-and-more-output\n"
    with log.open("wb") as fh:
        for _ in range(6 * 1024 * 1024 // len(noise)):
            fh.write(noise)
        fh.write(b"ERROR: failed to solve: nginx:1.27-alpne: docker.io/library/nginx:1.27-alpne: not found\n")
    assert main(["triage", "--offline", "--json", str(log)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["category"] == "tag_not_found"
    assert [r["normalized"] for r in result["references"]] == ["docker.io/library/nginx:1.27-alpne"]
    assert result["truncated"] is True
