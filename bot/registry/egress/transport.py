"""The one transport under the registry client: every request passes the egress policy first.

For each request: the static URL check, one resolution (bounded), a check of EVERY resolved address,
then a connection to exactly a checked address. The URL handed to the connection pool carries the
address, never the name, so nothing below can resolve the name a second time (DNS rebinding); the
name stays in the ``Host`` header and in TLS (SNI and certificate hostname checking).

Use it with ``httpx.AsyncClient(transport=..., trust_env=False)``: with ``trust_env`` on, httpx mounts
proxies from ``HTTPS_PROXY`` in front of this transport and the checks would see the proxy, not the
registry.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import typing
from collections.abc import AsyncIterator, Iterable, Mapping

import certifi
import httpcore
import httpx

from bot.domain.errors import DNSFailure, EgressDenied
from bot.registry.egress.addresses import IPAddress, connect_address
from bot.registry.egress.policy import Destination, EgressPolicy, canonical_entry
from bot.registry.egress.resolver import Resolver, SystemResolver

if typing.TYPE_CHECKING:
    from bot.settings import Settings

# How many of a name's checked addresses to try when connecting fails (say, IPv6 unreachable).
_MAX_ADDRESSES_TRIED = 3

# httpcore's exceptions as the httpx ones callers catch; most specific first.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)
_CORE_ERRORS = tuple(core for core, _ in _ERRORS)


def _as_httpx(exc: Exception, request: httpx.Request,
              addresses: Iterable[IPAddress] = ()) -> httpx.TransportError:
    """The httpx exception for ``exc``; the addresses a name resolved to are scrubbed from the text
    (exception text becomes evidence in Slack, and where a name points is internal detail)."""
    message = str(exc) or type(exc).__name__
    for address in addresses:
        message = message.replace(str(address), "<address>")
    for core, mapped in _ERRORS:
        if isinstance(exc, core):
            return mapped(message, request=request)
    return httpx.TransportError(message, request=request)


class _AddressOnlyBackend(httpcore.AsyncNetworkBackend):
    """Refuses to dial anything but an IP literal: the pools below can never resolve a name."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise EgressDenied("refused to connect by name: the egress transport dials checked addresses "
                               "only") from exc
        return await self._inner.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not a registry destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: httpcore.Response, request: httpx.Request,
                 hidden: Iterable[IPAddress]) -> None:
        self._response = response
        self._request = request
        self._hidden = tuple(hidden)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = typing.cast(typing.AsyncIterable[bytes], self._response.stream)
        try:
            async for chunk in stream:
                yield chunk
        except _CORE_ERRORS as exc:
            raise _as_httpx(exc, self._request, self._hidden) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


def default_ssl_context() -> ssl.SSLContext:
    """Verifying context with the same trust store httpx uses by default (certifi)."""
    return ssl.create_default_context(cafile=certifi.where())


def ssl_context_for_ca(ca_file: str) -> ssl.SSLContext:
    """Verifying context that trusts only ``ca_file`` (a registry's own CA from settings)."""
    return ssl.create_default_context(cafile=ca_file)


class EgressTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that enforces an ``EgressPolicy`` on every request (and so on every
    redirect hop the client follows). Denials raise ``EgressDenied`` before any socket is opened;
    resolution failures raise ``DNSFailure``; everything else is the usual ``httpx`` exceptions."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None, *,
                 ssl_contexts: Mapping[str, ssl.SSLContext] | None = None,
                 connect_timeout_s: float = 5.0, limits: httpx.Limits | None = None,
                 network_backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._resolver: Resolver = resolver or SystemResolver(timeout_s=min(3.0, connect_timeout_s))
        # keys like the settings' ``registries:`` keys: "host" or "host:port"
        self._ssl_contexts = {canonical_entry(key): ctx for key, ctx in (ssl_contexts or {}).items()}
        self._default_ssl: ssl.SSLContext | None = None
        self._connect_timeout_s = connect_timeout_s
        self._limits = limits or httpx.Limits(max_connections=64, max_keepalive_connections=16)
        self._backend = _AddressOnlyBackend(network_backend or httpcore.AnyIOBackend())
        # One pool per (scheme, name, port): a connection verified for one name is never reused for
        # another name that happens to share its address, and each name keeps its own CA.
        self._pools: dict[tuple[str, str, int], httpcore.AsyncConnectionPool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        destination = self._policy.destination(request.url)
        addresses = await self._addresses(destination)
        pool = self._pool(destination)
        hidden = [connect_address(a) for a in addresses] + addresses if destination.is_name else []
        last_error: Exception | None = None
        for address in addresses[:_MAX_ADDRESSES_TRIED]:
            try:
                response = await pool.handle_async_request(self._pinned(request, destination, address))
            except httpcore.ConnectError as exc:  # nothing was sent; the next checked address may work
                last_error = exc
                continue
            except _CORE_ERRORS as exc:
                raise _as_httpx(exc, request, hidden) from exc
            return httpx.Response(status_code=response.status, headers=response.headers,
                                  stream=_ResponseStream(response, request, hidden),
                                  extensions=response.extensions)
        assert last_error is not None  # addresses is never empty
        raise _as_httpx(last_error, request, hidden) from last_error

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    async def _addresses(self, destination: Destination) -> list[IPAddress]:
        if not destination.is_name:
            return list(destination.addresses)  # a literal address or localhost: checked statically
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                answers = await self._resolver.resolve(destination.host, destination.port)
        except TimeoutError as exc:
            raise DNSFailure(f"resolving {destination.host} timed out") from exc
        if not answers:
            raise DNSFailure(f"{destination.host} has no addresses")
        return self._policy.checked_addresses(destination.host, destination.port, answers)

    def _pinned(self, request: httpx.Request, destination: Destination,
                address: IPAddress) -> httpcore.Request:
        """The request re-addressed to ``address``; Host header, SNI and certificate check keep the name."""
        timeouts = dict(request.extensions.get("timeout", {}))
        connect = timeouts.get("connect")
        timeouts["connect"] = self._connect_timeout_s if connect is None else min(connect,
                                                                                  self._connect_timeout_s)
        extensions = {**request.extensions, "timeout": timeouts}
        literal = str(connect_address(address))
        if destination.tls_name is not None:
            extensions["sni_hostname"] = destination.tls_name
        url = httpcore.URL(scheme=destination.scheme.encode("ascii"), host=literal.encode("ascii"),
                           port=destination.port, target=request.url.raw_path)
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("EgressTransport is asynchronous: use it with httpx.AsyncClient")
        return httpcore.Request(method=request.method.encode("ascii"), url=url, headers=request.headers.raw,
                                content=request.stream, extensions=extensions)

    def _pool(self, destination: Destination) -> httpcore.AsyncConnectionPool:
        key = (destination.scheme, destination.host, destination.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl_context(destination) if destination.scheme == "https" else None,
                max_connections=self._limits.max_connections,
                max_keepalive_connections=self._limits.max_keepalive_connections,
                keepalive_expiry=self._limits.keepalive_expiry,
                http1=True, http2=False, retries=0, network_backend=self._backend)
            self._pools[key] = pool
        return pool

    def _ssl_context(self, destination: Destination) -> ssl.SSLContext:
        for key in _ssl_keys(destination):
            if key in self._ssl_contexts:
                return self._ssl_contexts[key]
        if self._default_ssl is None:
            self._default_ssl = default_ssl_context()
        return self._default_ssl


def _ssl_keys(destination: Destination) -> Iterable[str]:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    yield f"{host}:{destination.port}"
    yield host


def ssl_contexts_from_settings(settings: Settings) -> dict[str, ssl.SSLContext]:
    """A verifying context per registry that names its own ``ca_file`` (keyed like ``registries:``)."""
    return {host: ssl_context_for_ca(str(entry.ca_file))
            for host, entry in settings.registries.items() if entry.ca_file is not None}
