"""The per-user rate limit while Redis is down: each replica keeps counting on its own, so an outage of
the store doesn't turn a paste storm into unlimited registry checks (and a spent pull quota)."""

from __future__ import annotations

import uuid

import pytest

from bot.domain.clock import ManualClock
from bot.slack.local_rates import LocalRates
from bot.slack.services import SlackOptions
from bot.store.factory import open_store
from tests.fixtures.redis_server import free_port
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import ok
from tests.slack.harness import Harness, ScriptedChecks, make_services


async def test_with_redis_down_a_user_over_the_limit_is_told_to_wait(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.27": ok()})
    store = await open_store(f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
                             key_prefix=f"t-{uuid.uuid4().hex[:8]}:")
    services = make_services(checks, store, options=SlackOptions(user_checks_per_minute=2))
    h = await Harness(slack_emulator, services).start()
    try:
        for _ in range(3):
            await h.slash("nginx:1.27")
        await slack_emulator.wait_for("response_url", 1)
        await slack_emulator.settle()  # every answer in: "Done" for the checked ones, the refusal
        responses = slack_emulator.calls_to("response_url")
        assert any("faster than this workspace allows" in r.text for r in responses), [r.text for r in responses]
        assert len(checks.calls) == 2  # before the fallback: 3, the store's outage lifted the limit
    finally:
        await h.close()
        await store.aclose()


def test_a_window_admits_its_limit_then_a_new_window_starts() -> None:
    clock = ManualClock()
    rates = LocalRates(clock=clock)
    assert [rates.allow("rl:user:U1", limit=2, window_s=60.0) for _ in range(3)] == [True, True, False]
    assert rates.allow("rl:user:U2", limit=2, window_s=60.0) is True  # keys count apart
    clock.advance(60.0)
    assert rates.allow("rl:user:U1", limit=2, window_s=60.0) is True


def test_memory_is_bounded_forgetting_the_oldest_windows_first() -> None:
    rates = LocalRates(max_keys=3, clock=ManualClock())
    for user in ("U1", "U2", "U3", "U4"):
        rates.allow(f"rl:user:{user}", limit=1, window_s=60.0)
    assert len(rates) == 3
    assert rates.allow("rl:user:U4", limit=1, window_s=60.0) is False  # still counted
    assert rates.allow("rl:user:U1", limit=1, window_s=60.0) is True  # forgotten: a fresh window


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        LocalRates(max_keys=0)
