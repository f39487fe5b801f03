"""Read a response body under a cap that counts DECODED bytes (a small gzip body can inflate).

httpx's own decoders inflate a whole network chunk at once, so a hostile 64 KiB chunk could become
tens of MiB in memory before any check runs; here decompression is bounded by the bytes still allowed.
"""

from __future__ import annotations

import zlib

import httpx

from bot.domain.errors import RegistryServerError, ResponseTooLarge
from bot.domain.models import Evidence

ACCEPT_ENCODING = "gzip, deflate"


class _Decoder:
    def __init__(self, encoding: str) -> None:
        self._zlib: zlib._Decompress | None = None
        if encoding in ("", "identity"):
            return
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()  # zlib-wrapped, as RFC 9110 means it
        else:
            raise ValueError(encoding)

    def feed(self, data: bytes, room: int) -> bytes:
        """At most ``room`` decoded bytes from ``data`` (the rest is left unread: we stop anyway)."""
        if self._zlib is None:
            return data[:room]
        return self._zlib.decompress(data, max(room, 1))


async def read_capped(response: httpx.Response, limit: int, *, truncate: bool, url: str) -> bytes:
    """The decoded body, at most ``limit`` bytes; beyond that, ``truncate`` cuts, else
    ``ResponseTooLarge`` is raised without reading further."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    try:
        decoder = _Decoder(encoding)
    except ValueError:
        raise RegistryServerError(
            f"the registry answered with an unsupported content encoding {encoding[:40]!r}",
            status=response.status_code,
            evidence=Evidence(status=response.status_code, url=url,
                              headers={"content-encoding": encoding[:40]})) from None
    declared = response.headers.get("content-length")
    if not truncate and encoding in ("", "identity") and declared and declared.isdigit() \
            and int(declared) > limit:
        raise _too_large(response.status_code, limit, url, declared)
    out = bytearray()
    try:
        async for chunk in response.aiter_raw():
            out += decoder.feed(chunk, limit + 1 - len(out))
            if len(out) > limit:
                if truncate:
                    return bytes(out[:limit])
                raise _too_large(response.status_code, limit, url, declared)
    except zlib.error:
        raise RegistryServerError(
            "the registry sent a corrupt compressed body", status=response.status_code,
            evidence=Evidence(status=response.status_code, url=url)) from None
    return bytes(out)


def _too_large(status: int, limit: int, url: str, declared: str | None) -> ResponseTooLarge:
    headers = {"content-length": declared} if declared else {}
    return ResponseTooLarge(
        f"the registry's answer is larger than the {limit} byte limit", status=status,
        evidence=Evidence(status=status, url=url, headers=headers,
                          message=f"body exceeds {limit} bytes (decoded)"))
