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


CREDENTIALED = textwrap.dedent("""
    import asyncio, logging, sys
    from pydantic import SecretStr
    from bot.logging_setup import configure_logging
    from bot.settings import Settings, RegistrySettings
    from bot.wiring import build_runtime
    from bot.domain.reference import parse_reference

    configure_logging("DEBUG", json=True)  # the most talkative level an operator can choose

    async def main():
        entry = RegistrySettings(insecure=True, username=sys.argv[3], password=SecretStr(sys.argv[4]))
        settings = Settings(registries={sys.argv[1]: entry})
        async with build_runtime(settings) as rt:
            d = await rt.checks.check(parse_reference(sys.argv[2]))
            print(d.verdict.value, d.model_dump_json())

    asyncio.run(main())
""")


def test_a_credentialed_check_logs_no_secret_even_at_debug(tmp_path: Path, registry_basic: LocalRegistry) -> None:
    import base64

    assert registry_basic.reader is not None
    user, password = registry_basic.reader.as_tuple()
    image = registry_basic.scenarios.single_oci
    result = subprocess.run(
        [sys.executable, "-c", CREDENTIALED, registry_basic.host, registry_basic.ref(image.repository, "1.0"),
         user, password],
        capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.stdout.startswith("ok ")  # the credentials were really used: this registry needs them
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    for output in (result.stdout, result.stderr):
        assert password not in output
        assert basic not in output


def test_proxy_environment_cannot_route_around_the_egress_policy(tmp_path: Path,
                                                                 registry_open: LocalRegistry) -> None:
    # A proxy from the environment would receive every registry request and bypass the per-address
    # checks. The registry client gives httpx its own egress transport (httpx then mounts no env
    # proxies) and sets trust_env=False besides; a dead proxy in the environment proves neither slipped.
    image = registry_open.scenarios.single_oci
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "ALL_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = subprocess.run([sys.executable, "-c", SCRIPT, registry_open.host,
                             registry_open.ref(image.repository, "1.0")],
                            capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path, env=env)
    checks = [json.loads(line) for line in result.stderr.splitlines()
              if line.startswith("{") and '"event": "check"' in line]
    assert [c["verdict"] for c in checks] == ["ok"]
