"""Structured logs: one JSON line per check, with the correlation id the Slack message shows, and no
secret even when a log call is handed one by mistake."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.local_registry import LocalRegistry

SCRIPT = textwrap.dedent("""
    import asyncio, logging, sys
    from bot.logging_setup import configure_logging
    from bot.settings import Settings, RegistrySettings
    from bot.wiring import build_runtime
    from bot.domain.reference import parse_reference

    configure_logging("INFO", json=True)

    async def main():
        settings = Settings(registries={sys.argv[1]: RegistrySettings(insecure=True)})
        async with build_runtime(settings) as rt:
            await rt.checks.check(parse_reference(sys.argv[2]), correlation_id="corr-123")
        logging.getLogger("bot.test").warning("login failed for https://ci:hunter2-pass@%s/v2/", sys.argv[1])

    asyncio.run(main())
""")


def test_one_json_line_per_check_with_correlation_id_and_no_secrets(tmp_path: Path,
                                                                    registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_oci
    ref = registry_open.ref(image.repository, "1.0")
    result = subprocess.run([sys.executable, "-c", SCRIPT, registry_open.host, ref], capture_output=True,
                            text=True, timeout=60, check=True, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    checks = [line for line in lines if line.get("event") == "check"]
    assert len(checks) == 1
    (check,) = checks
    assert check["reference"] == f"{registry_open.host}/{image.repository}:1.0"
    assert check["verdict"] == "ok"
    assert check["correlation_id"] == "corr-123"
    assert check["requests"] >= 1
    assert "duration_ms" in check
    assert "timestamp" in check
    assert "hunter2-pass" not in result.stderr
    assert any("REDACTED" in line.get("event", "") for line in lines)
