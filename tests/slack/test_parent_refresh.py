"""The thread's root message is re-rendered from the incident as stored, never from a stand-in.

When ``record`` can't keep a change it hands back the change applied to a blank incident, so that the
click's own reply still renders. Re-rendering the root from that copy replaced "nginx:1.27 ... ok" with
"no references" (found in review, when a save had in fact been kept).
"""

from __future__ import annotations

from bot.domain.incidents import new_incident, record_diagnosis
from bot.domain.models import utcnow
from bot.slack.incident_state import mark_parent, refresh_parent
from bot.slack.posting import Poster, make_client
from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.diagnoses import ok


async def test_the_root_shows_the_stored_incident_not_the_blank_stand_in(slack_emulator: SlackEmulator) -> None:
    store = MemoryStore()
    now = utcnow()
    stored = record_diagnosis(new_incident("C1", "1700000000.000100", at=now, created_by="UALICE"), ok(), at=now)
    await store.save_incident(stored)
    await mark_parent(store, stored.id)
    blank = new_incident("C1", "1700000000.000100", at=now, created_by="UALICE")  # what a lost write returns

    await refresh_parent(store, Poster(make_client("xoxb-test-token", slack_emulator.api_url),
                                       per_channel_interval_s=0.0), blank)
    [update] = await slack_emulator.wait_for("chat.update", 1)
    assert "nginx:1.27" in update.all_text()
    assert update.args["ts"] == "1700000000.000100"


async def test_no_root_of_ours_or_no_stored_incident_means_no_update(slack_emulator: SlackEmulator) -> None:
    store = MemoryStore()
    now = utcnow()
    poster = Poster(make_client("xoxb-test-token", slack_emulator.api_url), per_channel_interval_s=0.0)
    await refresh_parent(store, poster, new_incident("C1", "1.0", at=now))  # not our root
    await mark_parent(store, "C1:2.0")
    await refresh_parent(store, poster, new_incident("C1", "2.0", at=now))  # ours, nothing stored
    await slack_emulator.settle()
    assert slack_emulator.calls_to("chat.update") == []
