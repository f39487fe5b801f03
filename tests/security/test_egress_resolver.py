"""SystemResolver: the real getaddrinfo for local names, DNSFailure for everything that goes wrong.

Only ``localhost`` (answered from /etc/hosts) is looked up for real; no other name reaches DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest

from bot.domain.errors import DNSFailure
from bot.domain.models import Verdict
from bot.registry.egress import SystemResolver


async def test_localhost_resolves_to_loopback_only() -> None:
    answers = await SystemResolver().resolve("localhost", 443)
    assert answers
    assert len(answers) == len(set(answers))
    assert all(ipaddress.ip_address(a).is_loopback for a in answers)


async def test_address_text_comes_back_as_itself() -> None:
    assert await SystemResolver().resolve("127.0.0.1", 80) == ["127.0.0.1"]


async def test_unencodable_name_is_a_dns_failure_without_a_lookup() -> None:
    # A 64-character label fails IDNA encoding before any query is sent.
    with pytest.raises(DNSFailure) as caught:
        await SystemResolver().resolve("a" * 64 + ".example", 443)
    assert caught.value.verdict is Verdict.dns_error


async def test_resolver_error_is_a_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mock: a resolver answering NXDOMAIN would need real DNS.
    async def nxdomain(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", nxdomain)
    with pytest.raises(DNSFailure, match="Name or service not known"):
        await SystemResolver().resolve("registry.example.com", 443)


async def test_stuck_resolver_times_out_as_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mock: the system resolver cannot be pointed at a local DNS server that never answers.
    async def never(*_args: Any, **_kwargs: Any) -> list[Any]:
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", never)
    with pytest.raises(DNSFailure, match="timed out"):
        await SystemResolver(timeout_s=0.05).resolve("registry.example.com", 443)
