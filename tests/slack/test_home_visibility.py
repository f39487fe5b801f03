"""App Home shows a user only the incidents they started or acted in, never the whole workspace's."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.domain.models import Incident, TimelineEvent, TimelineKind, utcnow
from bot.slack.home import involves, visible_to
from bot.slack.services import SlackOptions
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import not_found, ok
from tests.slack.harness import Harness, ScriptedChecks, make_services


async def open_home(h: Harness, user: str, count: int) -> str:
    await h.event({"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home"})
    views = await h.emulator.wait_for("views.publish", count)
    view = views[count - 1]
    assert view.args["user_id"] == user
    return json.dumps(view.args["view"])


async def test_private_channel_incident_is_on_its_creators_home_only(slack_emulator: SlackEmulator) -> None:
    checks = ScriptedChecks({"docker.io/library/nginx:1.99": not_found(), "docker.io/library/nginx:1.27": ok()})
    options = SlackOptions(registry_channels={"docker.io": ("GPRIV001", "CPUB0001")})
    h = await Harness(slack_emulator, make_services(checks, MemoryStore(), options=options)).start()
    try:
        await h.slash("nginx:1.99", user="UALICE01", channel="GPRIV001")
        await slack_emulator.wait_for("chat.update", 1)
        await h.slash("nginx:1.27", user="UALICE01", channel="CPUB0001")
        await slack_emulator.wait_for("chat.update", 2)

        bob = await open_home(h, "UBOB0001", 1)
        assert "nginx:1.99" not in bob
        assert "GPRIV001" not in bob
        assert "nginx:1.27" not in bob  # not his either: he took no part in it
        assert "no open incidents" in bob

        alice = await open_home(h, "UALICE01", 2)
        assert "GPRIV001" in alice
        assert "nginx:1.99" in alice
        assert alice.index("library/nginx:1.27") < alice.index("library/nginx:1.99")  # most recent first
    finally:
        await h.close()


def test_acting_in_an_incident_makes_it_yours() -> None:
    now = utcnow()
    started = Incident(id="C1:1.1", channel="C1", thread_ts="1.1", created_by="UALICE01", updated_at=now)
    acted = Incident(id="C2:2.2", channel="C2", thread_ts="2.2", created_by="UALICE01",
                     updated_at=now - timedelta(minutes=1),
                     timeline=[TimelineEvent(kind=TimelineKind.pinned, actor="UBOB0001", summary="pinned")])
    stranger = Incident(id="C3:3.3", channel="C3", thread_ts="3.3", created_by=None, updated_at=now)
    assert [i.id for i in visible_to([started, acted, stranger], "UBOB0001")] == ["C2:2.2"]
    assert [i.id for i in visible_to([started, acted, stranger], "UALICE01")] == ["C1:1.1", "C2:2.2"]
    assert not involves(stranger, "")  # an event without a user sees nothing
    assert len(visible_to([started] * 40, "UALICE01")) == 25
