"""A long-running bot keeps no per-registry state for every host users ever typed.

Users may type any public host, so what the client learns per registry (the auth challenge, that it
needs none) is kept for the most recent ``MAX_REGISTRIES_REMEMBERED`` only, and the per-registry
request slots are dropped once nobody holds or waits for them (found in review: they were never pruned).
"""

from __future__ import annotations

import asyncio

from bot.registry.auth import MAX_REGISTRIES_REMEMBERED, Challenge, RememberedRegistries
from bot.registry.client import RegistryClient
from bot.registry.config import RegistryClientConfig


def test_per_registry_facts_are_kept_for_the_most_recent_registries_only() -> None:
    remembered = RememberedRegistries[Challenge]()
    for i in range(MAX_REGISTRIES_REMEMBERED + 100):
        remembered[f"r{i}.example"] = Challenge(scheme="bearer", params={"realm": f"https://auth{i}.example/token"})
    assert len(remembered) == MAX_REGISTRIES_REMEMBERED
    assert "r0.example" not in remembered  # the oldest went first
    remembered["r100.example"] = Challenge(scheme="basic")  # learned again: the newest now
    remembered["new.example"] = Challenge(scheme="basic")
    assert "r100.example" in remembered
    assert "r101.example" not in remembered


async def test_request_slots_are_dropped_when_idle_and_still_cap_one_registry() -> None:
    async with RegistryClient(RegistryClientConfig(use_docker_config=False, per_registry_concurrency=2)) as client:
        for i in range(3000):
            async with client.registry_slot(f"r{i}.example"):
                pass
        assert client._semaphores == {}

        inside = 0
        most = 0

        async def one() -> None:
            nonlocal inside, most
            async with client.registry_slot("busy.example"):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(one() for _ in range(6)))
        assert most == 2  # the cap held while the slot was shared
        assert client._semaphores == {}
