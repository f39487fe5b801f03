"""Name resolution for the egress policy: one seam, so tests inject answers and never touch DNS."""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from bot.domain.errors import DNSFailure


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to (IP strings, resolver order); ``DNSFailure`` when none."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``, so /etc/hosts and search domains apply),
    bounded by a timeout because a stuck resolver would otherwise hold a check for minutes."""

    def __init__(self, timeout_s: float = 3.0) -> None:
        self._timeout_s = timeout_s

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except TimeoutError as exc:
            raise DNSFailure(f"resolving {host} timed out after {self._timeout_s:g}s") from exc
        except socket.gaierror as exc:
            raise DNSFailure(f"could not resolve {host}: {exc.strerror or exc}") from exc
        except (UnicodeError, OSError) as exc:  # the idna codec refuses labels over 63 characters
            raise DNSFailure(f"could not resolve {host}: {exc}") from exc
        addresses: list[str] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise DNSFailure(f"{host} has no addresses")
        return addresses
