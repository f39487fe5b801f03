"""What a click reads before acting, against a real Redis that is up, gone, or never there: "expired"
and "the state store is unreachable" are different answers, and only registry-only buttons proceed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.domain.incidents import new_incident
from bot.domain.models import utcnow
from bot.slack.click_state import (
    STORE_DOWN_NOTICE,
    ClickRefused,
    load_click_state,
    thread_stand_in,
)
from bot.slack.payloads import ActionPayload, dump_payload
from bot.store.factory import open_store
from tests.fixtures.redis_server import free_port

NGINX = "docker.io/library/nginx:1.27"
INCIDENT = "CCHAN001:1700000000.000001"
INLINE = ActionPayload(incident=INCIDENT, ref=NGINX).model_dump_json()


@pytest_asyncio.fixture
async def dead_store() -> AsyncIterator[Any]:
    store = await open_store(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens on that port
    yield store
    await store.aclose()


@pytest_asyncio.fixture
async def live_store(redis_url: str) -> AsyncIterator[Any]:
    store = await open_store(redis_url, key_prefix=f"t-{uuid.uuid4().hex[:8]}:")  # this test's own keys
    yield store
    await store.aclose()


@pytest.mark.parametrize("action_id", ["pin_digest", "show_tags", "recheck", "bypass_mirror"])
async def test_registry_only_buttons_proceed_on_a_blank_thread_when_the_store_is_down(
        dead_store: Any, action_id: str) -> None:
    state = await load_click_state(dead_store, action_id, INLINE, incident_ttl_days=30)
    assert state.recorded is False
    assert (state.incident.id, state.incident.channel, state.incident.thread_ts) == (
        INCIDENT, "CCHAN001", "1700000000.000001")
    assert state.incident.pins == []
    assert state.ref.normalized == NGINX


async def test_resolve_is_refused_when_the_store_is_down(dead_store: Any) -> None:
    with pytest.raises(ClickRefused) as refused:
        await load_click_state(dead_store, "resolve_incident", INLINE, incident_ttl_days=30)
    assert refused.value.notice == STORE_DOWN_NOTICE


async def test_a_stored_payload_with_the_store_down_is_unreachable_not_expired(dead_store: Any) -> None:
    with pytest.raises(ClickRefused) as refused:
        await load_click_state(dead_store, "pin_digest", '{"k": "payload:abc"}', incident_ttl_days=30)
    assert refused.value.notice == STORE_DOWN_NOTICE


async def test_a_malformed_incident_id_with_the_store_down_is_refused(dead_store: Any) -> None:
    value = ActionPayload(incident="not-a-thread", ref=NGINX).model_dump_json()
    with pytest.raises(ClickRefused) as refused:
        await load_click_state(dead_store, "pin_digest", value, incident_ttl_days=30)
    assert refused.value.notice == STORE_DOWN_NOTICE


async def test_with_the_store_up_a_missing_incident_or_blob_is_expired(live_store: Any) -> None:
    for value in (INLINE, '{"k": "payload:gone"}'):
        with pytest.raises(ClickRefused) as refused:
            await load_click_state(live_store, "pin_digest", value, incident_ttl_days=7)
        assert "expired" in refused.value.notice
        assert "kept 7 days" in refused.value.notice


async def test_with_the_store_up_the_stored_state_is_returned(live_store: Any) -> None:
    await live_store.save_incident(new_incident("CCHAN001", "1700000000.000001", at=utcnow(), created_by="UA"))
    big = ActionPayload(incident=INCIDENT, ref=NGINX, platforms=tuple(f"linux/arch{i}" for i in range(200)))
    state = await load_click_state(live_store, "resolve_incident", await dump_payload(big, live_store),
                                   incident_ttl_days=30)
    assert state.recorded is True
    assert state.payload == big
    assert state.incident.created_by == "UA"


def test_stand_in_only_for_our_incident_ids() -> None:
    assert thread_stand_in("C1:1700000000.000001") is not None
    for bad in ("", "C1", ":1.2", "C1:", "C1:1.2:3"):
        assert thread_stand_in(bad) is None, bad
