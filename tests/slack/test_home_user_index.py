"""App Home finds a user's incidents through the store's per-user index, in a busy workspace too.

Home used to read the workspace's 1,000 newest incidents and keep the viewer's: someone whose incident
was older than that saw "You have no open incidents" while it was still open.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.domain.incidents import add_event, new_incident
from bot.domain.models import Incident, TimelineKind, utcnow
from tests.fixtures.redis_server import StoreFactory
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness, ScriptedChecks, make_services


def incident(channel: str, thread_ts: str, user: str, *, minutes_ago: float) -> Incident:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return add_event(new_incident(channel, thread_ts, at=at, created_by=user), TimelineKind.checked,
                     "checked", at=at, actor=user, reference="docker.io/library/nginx:1.99")


async def open_home(h: Harness, user: str, count: int) -> str:
    await h.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"})
    views = await h.emulator.wait_for("views.publish", count)
    assert views[count - 1].args["user_id"] == user
    return json.dumps(views[count - 1].args["view"])


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_an_incident_behind_1000_newer_ones_is_still_on_its_users_home(
        backend: str, store_factory: StoreFactory, slack_emulator: SlackEmulator) -> None:
    store = await store_factory(backend)
    await store.save_incident(incident("COLD0001", "1700000000.000100", "UALICE01", minutes_ago=600))
    for i in range(1000):
        await store.save_incident(incident("CBUSY001", f"1700000{i:03d}.000100", f"UOTHER{i % 5:02d}",
                                           minutes_ago=500 - i * 0.1))
    h = await Harness(slack_emulator, make_services(ScriptedChecks(), store)).start()
    try:
        alice = await open_home(h, "UALICE01", 1)
        assert "COLD0001:1700000000.000100" in alice
        assert "no open incidents" not in alice
        assert "CBUSY001" not in alice  # others' incidents stay off her Home

        other = await open_home(h, "UOTHER03", 2)
        assert "COLD0001" not in other
        assert other.count("CBUSY001:") == 25  # his own, up to Home's 25
    finally:
        await h.close()
