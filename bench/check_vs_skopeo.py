"""``imagecheck check`` vs ``skopeo inspect --no-tags``, side by side, against one token-auth registry.

Both run as a person runs them: ``python -m bot check A B … --json`` once for a batch (one process,
concurrent checks), ``skopeo inspect`` once per reference in turn. Requests are counted from the
registry's access log and the token server's own log, so they are the servers' numbers, not ours.
Also: CLI start-up (time, and that a real ``check`` loads nothing of Slack or Redis), and that a
second check in the same process fetches no new token.

``python -m bench.check_vs_skopeo`` prints the table; ``python -m bench check_vs_skopeo`` runs it
with the others. Targets (issue 2): fewer requests than skopeo; batch wall-time ratio <= 1.0.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._harness import LatencyProxy, cli_environment, load_1m, median, ms, print_table, registry_entry, scratch_dir
from tests.integration.cli import REPO_ROOT
from tests.support.local_registry import LocalRegistry, Traffic, running_registry
from tests.support.registry_process import Flavour
from tests.support.skopeo import SkopeoError, skopeo_inspect_result

REPETITIONS = 3
DISTANT_RTT_S = 0.030
HEAVY = ("slack_bolt", "slack_sdk", "redis", "aiohttp", "prometheus_client", "bot.domain.triage")


@dataclass(frozen=True)
class Measured:
    wall_s: list[float]
    traffic: Traffic
    answer: str


def _measure(registry: LocalRegistry, run_once: Callable[[], str], repetitions: int) -> Measured:
    """Run ``repetitions`` times; the traffic shown is the last run's, and the answer says so when the
    runs didn't all make the same number of requests."""
    walls: list[float] = []
    totals: list[int] = []
    traffic = Traffic([])
    answer = ""
    for _ in range(repetitions):
        mark = registry.mark()
        started = time.perf_counter()
        answer = run_once()
        walls.append(time.perf_counter() - started)
        traffic = registry.traffic_since(mark)
        totals.append(traffic.total)
    if len(set(totals)) > 1:
        answer += f" (requests varied: {'/'.join(map(str, totals))})"
    return Measured(walls, traffic, answer)


def _imagecheck(env: dict[str, str], refs: Sequence[str]) -> Callable[[], str]:
    def run_once() -> str:
        done = subprocess.run([sys.executable, "-m", "bot", "check", *refs, "--json"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        verdicts = [json.loads(line)["verdict"] for line in done.stdout.splitlines() if line.strip()]
        if len(verdicts) != len(refs):
            raise RuntimeError(f"imagecheck check failed ({done.returncode}): {done.stderr[-500:]}")
        return _summarise(verdicts)
    return run_once


def _skopeo(refs: Sequence[str]) -> Callable[[], str]:
    def run_once() -> str:
        answers = []
        for ref in refs:
            try:
                skopeo_inspect_result(ref)
                answers.append("ok")
            except SkopeoError as exc:
                answers.append("manifest unknown" if "manifest unknown" in exc.stderr else "error")
        return _summarise(answers)
    return run_once


def _summarise(answers: Sequence[str]) -> str:
    distinct = sorted(set(answers))
    return ", ".join(f"{a} x{answers.count(a)}" if len(answers) > 1 else a for a in distinct)


def _rows(case: str, ours: Measured, theirs: Measured) -> list[dict[str, object]]:
    ratio = median(ours.wall_s) / median(theirs.wall_s)
    rows: list[dict[str, object]] = []
    for tool, m in (("imagecheck", ours), ("skopeo", theirs)):
        rows.append({"case": case, "tool": tool, "median_ms": ms(median(m.wall_s)), "runs": len(m.wall_s),
                     "registry_reqs": len(m.traffic.registry), "token_reqs": len(m.traffic.token),
                     "total_reqs": m.traffic.total, "answer": m.answer,
                     "ratio_ic/skopeo": round(ratio, 2) if tool == "imagecheck" else None,
                     "load_1m": load_1m()})
    return rows


# The libraries a check can't do without (the chosen stack: asyncio, httpx, pydantic, pydantic-settings,
# PyYAML for the settings file, docker-image-py for references), imported as the CLI imports them
# (bot.cli.lean_imports) and nothing of imagecheck's own: the least any ``imagecheck check`` can cost.
STACK_FLOOR = ("import sys; sys.modules.setdefault('httpx._main', None)\n"
               "import asyncio, httpx, pydantic, pydantic_settings, yaml, docker_image.reference\n"
               "from pydantic import BaseModel")


def _startup_rows(env: dict[str, str], ref: str, skopeo_batch_s: float) -> list[dict[str, object]]:
    def wall(argv: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, timeout=60, check=True)
        return time.perf_counter() - started

    bare = median([wall([sys.executable, "-c", "pass"]) for _ in range(REPETITIONS)])
    helped = median([wall([sys.executable, "-m", "bot", "check", "--help"]) for _ in range(REPETITIONS)])
    floor = median([wall([sys.executable, "-c", STACK_FLOOR]) for _ in range(REPETITIONS)])
    # A real check, then what it loaded: the lean-imports promise holds for a run, not only for --help.
    probe = ("import sys\nfrom bot.cli.main import main\nrc = main(['check', sys.argv[1], '--json'])\n"
             f"print('LOADED', ' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    done = subprocess.run([sys.executable, "-c", probe, ref], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    loaded = next((line.split()[1:] for line in done.stdout.splitlines() if line.startswith("LOADED")), None)
    heavy = "did not run" if loaded is None else (", ".join(loaded) or "none")
    return [
        {"case": "start-up: python -c pass", "tool": "python", "median_ms": ms(bare), "runs": REPETITIONS},
        {"case": "start-up: imagecheck check --help", "tool": "imagecheck", "median_ms": ms(helped),
         "runs": REPETITIONS},
        {"case": "floor: import the stack's libraries, no work", "tool": "python", "median_ms": ms(floor),
         "runs": REPETITIONS, "ratio_ic/skopeo": round(floor / skopeo_batch_s, 2),
         "answer": "ratio vs skopeo's batch of 8"},
        {"case": "a real check loads slack/redis/aiohttp/prometheus/triage?", "tool": "imagecheck", "answer": heavy},
    ]


async def _repeat_in_process(registry: LocalRegistry, directory: Path, ref: str) -> list[dict[str, object]]:
    from bot.domain.reference import parse_reference
    from bot.settings import Settings
    from bot.wiring import build_runtime

    (directory / "docker").mkdir(exist_ok=True)
    settings = Settings(registries={registry.host: registry_entry(registry)}, docker_config=directory / "docker")
    rows: list[dict[str, object]] = []
    async with build_runtime(settings) as runtime:
        for label in ("first check in a process", "repeat check, same process (fresh)"):
            mark = registry.mark()
            # fresh=True: skip the result cache, so the registry is really asked again
            d = await runtime.checks.check(parse_reference(ref), fresh=True)
            traffic = registry.traffic_since(mark)
            rows.append({"case": label, "tool": "imagecheck", "registry_reqs": len(traffic.registry),
                         "token_reqs": len(traffic.token), "total_reqs": traffic.total, "answer": d.verdict.value})
    return rows


def run() -> list[dict[str, object]]:
    with scratch_dir("bench-skopeo-") as directory, running_registry(directory / "registry", Flavour.token) as reg:
        s = reg.scenarios
        payments = s.repo("payments/api")
        batch = [(s.single_oci.repository, "1.0"), (s.single_docker.repository, "1.0"),
                 (s.multi_oci.repository, "1.0"), (s.multi_docker.repository, "1.0"),
                 (s.amd64_only.repository, "1.0"), (payments, "1.8.3"), (payments, "1.9.0"), (payments, "latest")]
        singles = {"single-arch": (s.single_oci.repository, "1.0"),
                   "multi-arch index": (s.multi_oci.repository, "1.0"),
                   "missing tag": (payments, "1.9.9")}

        def refs(host: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
            return [f"{host}/{repo}:{tag}" for repo, tag in pairs]

        env = cli_environment(directory / "cli", {"registries": {reg.host: registry_entry(reg)}})
        skopeo_batch = _measure(reg, _skopeo(refs(reg.host, batch)), REPETITIONS)
        rows = _rows(f"batch of {len(batch)}", _measure(reg, _imagecheck(env, refs(reg.host, batch)), REPETITIONS),
                     skopeo_batch)
        for case, pair in singles.items():
            ref = refs(reg.host, [pair])
            rows += _rows(case, _measure(reg, _imagecheck(env, ref), REPETITIONS),
                          _measure(reg, _skopeo(ref), REPETITIONS))

        # The same batch with the registry DISTANT_RTT_S away (the token server stays on loopback):
        # on loopback a network round trip costs nothing and process start-up is all there is.
        port = int(reg.host.rsplit(":", 1)[1])
        with LatencyProxy("127.0.0.1", port, DISTANT_RTT_S) as proxy:
            far_env = cli_environment(directory / "cli-far", {"registries": {proxy.host: registry_entry(reg)}})
            rows += _rows(f"batch of {len(batch)}, registry {DISTANT_RTT_S * 1000:g} ms RTT away",
                          _measure(reg, _imagecheck(far_env, refs(proxy.host, batch)), REPETITIONS),
                          _measure(reg, _skopeo(refs(proxy.host, batch)), REPETITIONS))

        rows += _startup_rows(env, refs(reg.host, [singles["single-arch"]])[0], median(skopeo_batch.wall_s))
        rows += asyncio.run(_repeat_in_process(reg, directory, refs(reg.host, [singles["multi-arch index"]])[0]))
        return rows


if __name__ == "__main__":
    print_table("check_vs_skopeo", run())
    sys.exit(0)
