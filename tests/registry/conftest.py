"""Fixtures for the registry client tests: scripted servers and clients wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.registry.scripted import Handler, ScriptedServer

StartServer = Callable[..., Awaitable[ScriptedServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """``await start_server(handler, ssl_context=None)`` -> a running ScriptedServer, stopped afterwards."""
    servers: list[ScriptedServer] = []

    async def start(handler: Handler, ssl_context=None) -> ScriptedServer:
        server = await ScriptedServer(handler, ssl_context=ssl_context).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
