"""The composition root in process and across processes: cache, shared Redis, lean start-up, DNS."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import DNSFailure
from bot.domain.models import Verdict
from bot.domain.reference import parse_reference
from bot.registry.client import RegistryClient
from bot.registry.config import RegistryClientConfig
from bot.settings import Settings
from bot.wiring import build_runtime
from tests.fixtures.redis_server import RedisServer
from tests.integration.cli import REPO_ROOT, clean_env, run_check
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGECHECK_CONFIG", "REDIS_URL", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def _settings(tmp_path: Path, *hosts: str, **extra: Any) -> Settings:
    (tmp_path / "docker").mkdir(exist_ok=True)
    return Settings(registries={h: {"insecure": True} for h in hosts}, docker_config=tmp_path / "docker",
                    **extra)


async def test_repeat_check_within_ttl_makes_zero_registry_requests(tmp_path: Path,
                                                                    registry_open: LocalRegistry):
    ref = parse_reference(registry_open.ref(registry_open.scenarios.multi_oci.repository, "1.0"))
    async with build_runtime(_settings(tmp_path, registry_open.host)) as runtime:
        assert runtime.store.backend == "memory"
        first = await runtime.checks.check(ref)
        mark = registry_open.mark()
        second = await runtime.checks.check(ref)
        assert registry_open.traffic_since(mark).total == 0
    assert first.requests > 0
    assert second.from_cache
    assert second.requests == 0
    assert second.digest == first.digest


def test_cli_answers_a_repeat_from_redis(tmp_path: Path, registry_open: LocalRegistry, redis_url: str):
    ref = registry_open.ref(registry_open.scenarios.single_oci.repository, "1.0")
    config = {"registries": {registry_open.host: {"insecure": True}}}
    env = {"REDIS_URL": redis_url, "IMAGECHECK_KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}:"}
    first = run_check(tmp_path, config, ref, env=env)
    assert first.only["verdict"] == "ok"
    assert not first.only["from_cache"]
    mark = registry_open.mark()
    second = run_check(tmp_path, config, ref, env=env, json_output=False)
    assert registry_open.traffic_since(mark).total == 0
    assert second.returncode == 0
    assert "answered from cache (age" in second.stdout
    assert "0 registry requests" in second.stdout


async def test_two_replicas_sharing_redis_make_one_registry_round(tmp_path: Path,
                                                                  registry_open: LocalRegistry,
                                                                  redis_url: str):
    index = registry_open.scenarios.multi_oci
    ref = parse_reference(registry_open.ref(index.repository, "1.0"))
    settings = _settings(tmp_path, registry_open.host, redis_url=redis_url,
                         key_prefix=f"test-{uuid.uuid4().hex[:8]}:")
    async with build_runtime(settings) as a, build_runtime(settings) as b:
        assert a.store.backend == b.store.backend == "redis"
        assert a.store is not b.store
        mark = registry_open.mark()
        results = await asyncio.gather(a.checks.check(ref), b.checks.check(ref), a.checks.check(ref),
                                       b.checks.check(ref))
        traffic = registry_open.traffic_since(mark)
    assert {r.digest for r in results} == {index.digest}
    assert traffic.total == 1 + len(index.children)  # one diagnosis' worth of requests
    assert sum(r.requests for r in results) == traffic.total


class NoSuchHost:
    """A resolver that knows no names, as a resolver for a typo'd registry host answers. Injected so
    that no test ever sends a real DNS query."""

    async def resolve(self, host: str, port: int) -> list[str]:
        raise DNSFailure(f"the registry host {host} could not be resolved")


async def test_unknown_host_is_a_dns_error(tmp_path: Path):
    settings = _settings(tmp_path)
    client = RegistryClient(RegistryClientConfig.from_settings(settings), resolver=NoSuchHost())
    try:
        async with build_runtime(settings, registry_client=client) as runtime:
            d = await runtime.checks.check(parse_reference("registry.example.invalid/team/app:1.0"))
    finally:
        await client.aclose()
    assert d.verdict is Verdict.dns_error
    assert "registry.example.invalid" in d.summary
    assert any(s.command and "getent hosts registry.example.invalid" in s.command for s in d.remediation)


def _loaded_modules(tmp_path: Path, code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, env=clean_env(tmp_path, None), check=True)
    return set(done.stdout.split())


HEAVY = ("slack_bolt", "slack_sdk", "redis", "aiohttp")


def test_importing_the_check_command_loads_no_slack_or_redis(tmp_path: Path):
    loaded = _loaded_modules(tmp_path, "import sys, bot.cli.check\nprint(' '.join(sys.modules))")
    assert "bot.cli.check" in loaded
    assert not [m for m in HEAVY if m in loaded]


def test_runtime_without_redis_url_loads_no_redis(tmp_path: Path):
    code = (
        "import asyncio, sys\n"
        "from bot.wiring import build_runtime\n"
        "async def main():\n"
        "    async with build_runtime() as rt:\n"
        "        assert rt.store.backend == 'memory'\n"
        "asyncio.run(main())\n"
        "print(' '.join(sys.modules))\n")
    loaded = _loaded_modules(tmp_path, code)
    assert "bot.wiring" in loaded
    assert [m for m in ("slack_bolt", "slack_sdk") if m in loaded] == []
    assert "redis" not in loaded


async def test_checks_answer_through_a_redis_outage_and_cache_again_after(
        tmp_path: Path, registry_open: LocalRegistry, restartable_redis: RedisServer):
    ref = parse_reference(registry_open.ref(registry_open.scenarios.single_oci.repository, "1.0"))
    settings = _settings(tmp_path, registry_open.host, redis_url=restartable_redis.url)
    async with build_runtime(settings) as runtime:
        before = await runtime.checks.check(ref)
        assert before.degraded == []
        restartable_redis.stop()  # a crash
        during = await runtime.checks.check(ref)
        assert during.verdict is Verdict.ok
        assert not during.from_cache
        assert during.requests > 0
        assert any("without the shared cache" in note for note in during.degraded)
        restartable_redis.start()
        after = await runtime.checks.check(ref)
        assert after.degraded == []
        assert not after.from_cache  # the crash lost the cache (no persistence configured)
        again = await runtime.checks.check(ref)
        assert again.from_cache
        assert again.requests == 0
