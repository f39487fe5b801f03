"""Start-up regression guard for ``imagecheck check``: which modules a run imports, not how long it takes.

Most of a one-shot ``imagecheck check`` is Python importing things, so the heavy modules a check doesn't
need must stay out of it: Slack, Redis, aiohttp, triage, prometheus_client, rapidfuzz (only a missing
tag ranks nearest tags), and YAML when no settings file is named. Each run is a real ``python -m bot check`` subprocess
(run through ``runpy`` exactly as ``-m`` does) that writes ``sys.modules`` to a file when it exits:
``-X importtime`` would miss modules imported with ``importlib.import_module``, as the CLI imports its
commands. No timings are asserted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path

from bot import metrics
from tests.integration.cli import REPO_ROOT, clean_env, write_config
from tests.support.local_registry import LocalRegistry

# Never needed by a check: the Slack front end, the Redis store (no REDIS_URL), the HTTP server, triage,
# and prometheus_client (a one-shot CLI run records no metrics: nobody could scrape them).
NEVER_FOR_CHECK = ("slack_bolt", "slack_sdk", "redis", "aiohttp", "bot.slack", "bot.web", "bot.store.redis_store",
                   "bot.domain.triage", "prometheus_client")
# Needed only on some paths: nearest-tag ranking (a missing tag) and a settings file.
RAPIDFUZZ = "rapidfuzz"
YAML = "yaml"


def _loaded(names: set[str], candidates: tuple[str, ...]) -> list[str]:
    """The candidates that were imported, themselves or any submodule of them."""
    return sorted(c for c in candidates if any(n == c or n.startswith(c + ".") for n in names))


# ``python -m bot ARGS``, then the names in sys.modules (however the process ends: --help exits).
_AS_DASH_M = """\
import runpy, sys
out, sys.argv = sys.argv[1], ["bot", *sys.argv[2:]]
try:
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
finally:
    loader = sys.modules.get("pydantic.plugin._loader")
    scanned = loader is not None and loader._plugins is not None  # pydantic's cache of installed plugins
    with open(out, "w", encoding="utf-8") as f:
        f.write("\\n".join([*(n for n, m in sorted(sys.modules.items()) if m is not None),
                            "@plugins-scanned" if scanned else "@plugins-not-scanned"]))
"""


def _run(tmp_path: Path, *args: str,
         config: dict[str, object] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    config_path = write_config(tmp_path, config) if config is not None else None
    modules = tmp_path / "modules.txt"
    env = clean_env(tmp_path, config_path)
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)  # the CLI must set it itself (bot.cli.lean_imports)
    done = subprocess.run([sys.executable, "-c", _AS_DASH_M, str(modules), "check", *args], capture_output=True,
                          text=True, timeout=90, cwd=REPO_ROOT, env=env, check=False)
    return done, set(modules.read_text(encoding="utf-8").split())


def test_check_help_imports_nothing_heavy(tmp_path: Path) -> None:
    done, names = _run(tmp_path, "--help")
    assert done.returncode == 0
    assert "--platform" in done.stdout
    assert "bot.cli.check" in names  # the list is real: the command's own module is in it
    assert _loaded(names, (*NEVER_FOR_CHECK, RAPIDFUZZ, YAML)) == []


def test_a_real_check_of_an_existing_tag_imports_nothing_heavy(tmp_path: Path, registry_open: LocalRegistry) -> None:
    ref = registry_open.ref(registry_open.scenarios.single_oci.repository, "1.0")
    done, names = _run(tmp_path, ref, "--json", config={"registries": {registry_open.host: {"insecure": True}}})
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"verdict":"ok"' in done.stdout
    assert "bot.registry.client" in names
    assert _loaded(names, (*NEVER_FOR_CHECK, RAPIDFUZZ)) == []


def test_a_real_check_skips_httpx_own_command_line_and_the_pydantic_plugin_scan(
        tmp_path: Path, registry_open: LocalRegistry) -> None:
    # bot.cli.lean_imports: httpx imports rich and click for its own CLI whenever they are installed (the
    # dev tools install them), and pydantic reads every installed distribution's metadata looking for
    # plugins. Together they were about a fifth of a loopback batch check.
    assert importlib.util.find_spec("rich"), "precondition: installed (by the dev tools)"
    assert importlib.util.find_spec("click"), "precondition: installed (by the dev tools)"
    ref = registry_open.ref(registry_open.scenarios.single_oci.repository, "1.0")
    done, names = _run(tmp_path, ref, "--json", config={"registries": {registry_open.host: {"insecure": True}}})
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"verdict":"ok"' in done.stdout
    assert "httpx" in names
    assert "pydantic" in names
    assert _loaded(names, ("httpx._main", "rich", "click")) == []
    assert "@plugins-not-scanned" in names


def test_a_missing_tag_still_gets_nearest_tags(tmp_path: Path, registry_open: LocalRegistry) -> None:
    # rapidfuzz is imported late, not dropped: a missing tag ranks its neighbours with it as before.
    ref = registry_open.ref(registry_open.scenarios.repo("payments/api"), "1.8.4")
    done, names = _run(tmp_path, ref, config={"registries": {registry_open.host: {"insecure": True}}})
    assert done.returncode == 1, done.stderr[-2000:]
    assert "tag_not_found" in done.stdout
    assert "nearest tags: 1.8.4-hotfix1, 1.8.3" in done.stdout
    assert _loaded(names, (RAPIDFUZZ,)) == [RAPIDFUZZ]
    assert _loaded(names, NEVER_FOR_CHECK) == []


def _checks_counted(verdict: str) -> float:
    return metrics.REGISTRY.get_sample_value("imagecheck_checks_total", {"verdict": verdict}) or 0.0


def test_counts_inside_not_recorded_are_dropped_and_counted_again_after() -> None:
    # What lets the CLI skip prometheus_client; the server (and everything outside the block) counts.
    verdict = "start-up-guard"  # a label value no real check uses
    before = _checks_counted(verdict)

    async def count_in_a_task() -> None:
        await asyncio.create_task(asyncio.sleep(0))
        metrics.CHECKS.labels(verdict=verdict).inc()

    with metrics.not_recorded():
        asyncio.run(count_in_a_task())  # tasks started inside inherit it
        metrics.CHECKS.labels(verdict=verdict).inc()
    assert _checks_counted(verdict) == before
    metrics.CHECKS.labels(verdict=verdict).inc()
    assert _checks_counted(verdict) == before + 1


def test_the_collector_is_left_as_found_and_the_heap_frozen_only_at_exit(tmp_path: Path) -> None:
    # bot.cli.collector: fewer collections while a command starts and runs, and gc.freeze() at exit so
    # shutdown doesn't sweep the start-up heap. A caller that goes on after main() returns (as this probe
    # does, with a usage error, --help and a check that fails on settings) gets the collector back as it
    # was, unfrozen, until its own exit. atexit runs handlers last-in first-out, so the probe's, registered
    # before main(), sees what the CLI's did.
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0, flush=True))\n"
             "gc.set_threshold(701, 11, 12)\n"
             "from bot.cli.main import main\n"
             "rcs = [main(['check']), main(['check', '--help']), main(['check', 'nginx:1.25'])]\n"
             "print('after main', rcs, gc.get_threshold(), gc.get_freeze_count(), gc.isenabled(), flush=True)\n")
    env = clean_env(tmp_path, tmp_path / "no-such-settings.yaml")  # the check stops at loading settings
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
                          env=env, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(("after main", "at exit"))]
    assert lines == ["after main [2, 0, 2] (701, 11, 12) 0 True", "at exit True"]
    assert "IMAGECHECK_CONFIG names no file" in done.stderr
