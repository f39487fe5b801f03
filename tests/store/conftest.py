"""One behavioural suite, run against both backends.

``state`` is parametrised over the embedded store and a real ``redis-server``. ``state.other()``
opens a second store sharing the same state (another replica on the same Redis and prefix; for the
embedded backend, which is single-process by definition, the same store). ``state.elapse(s)`` lets
time pass: the embedded store's injected clock moves, Redis really waits (TTLs are 1 s, so a slow machine
cannot expire a record before the test has looked at it once).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from bot.domain.clock import ManualClock
from bot.store import Store
from tests.fixtures.redis_server import StoreFactory


@dataclass
class Backend:
    name: str
    store: Store
    factory: StoreFactory
    options: dict[str, Any]
    clock: ManualClock | None = None
    _others: list[Store] = field(default_factory=list)

    async def other(self) -> Store:
        if self.name == "memory":
            return self.store
        other: Store = await self.factory("redis", **self.options)
        return other

    async def elapse(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    async def write_raw(self, key: str, raw: bytes) -> None:
        """Plant a record as an older (or newer) release would have written it."""
        if self.name == "memory":
            self.store._set(key, raw, None)  # type: ignore[attr-defined]  # no public raw write, on purpose
        else:
            await self.store._r.set(key, raw)  # type: ignore[attr-defined]


async def open_backend(name: str, store_factory: StoreFactory, **options: Any) -> Backend:
    clock = ManualClock() if name == "memory" else None
    if clock is not None:
        options["clock"] = clock
    store: Store = await store_factory(name, **options)
    if name == "redis":
        options["key_prefix"] = store.keys.prefix  # type: ignore[attr-defined]
    return Backend(name=name, store=store, factory=store_factory, options=options, clock=clock)


@pytest.fixture(params=["memory", "redis"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def state(backend_name: str, store_factory: StoreFactory) -> AsyncIterator[Backend]:
    yield await open_backend(backend_name, store_factory)
