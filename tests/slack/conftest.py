from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from bot.store.memory_store import MemoryStore
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness, ScriptedChecks, make_services


@pytest_asyncio.fixture
async def scripted() -> ScriptedChecks:
    return ScriptedChecks()


@pytest_asyncio.fixture
async def harness(slack_emulator: SlackEmulator, scripted: ScriptedChecks) -> AsyncIterator[Harness]:
    h = await Harness(slack_emulator, make_services(scripted, MemoryStore())).start()
    try:
        yield h
    finally:
        await h.close()
