"""The transport against real local servers: where connections go, what they carry, when none is made.

DNS is a scripted resolver (tests may not touch real DNS). Where a test needs a *public* address to
pass the policy, a recording network backend dials the local server in its place: no local server can
be a public address, and this keeps every packet on loopback. Such tests say so.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator

import httpcore
import httpx
import pytest

from bot.domain.errors import DNSFailure, EgressDenied
from bot.registry.egress import EgressPolicy, EgressTransport
from tests.security.egress_support import RecordingServer, ScriptedResolver


class StandInBackend(httpcore.AsyncNetworkBackend):
    """Records every address dialled; public addresses in ``stand_ins`` are dialled on loopback instead.

    Mock: a public registry address is the one thing no local server can provide.
    """

    def __init__(self, stand_ins: dict[str, tuple[str, int]] | None = None) -> None:
        self.dialled: list[tuple[str, int]] = []
        self._stand_ins = stand_ins or {}
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        if host in self._stand_ins:
            host, port = self._stand_ins[host]
        if not host.startswith("127.") and host != "::1":
            raise httpcore.ConnectError("test backend refuses non-loopback destinations")
        return await self._real.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                            socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets in tests")

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    s = await RecordingServer().start()
    yield s
    await s.stop()


@pytest.fixture
async def second_server() -> AsyncIterator[RecordingServer]:
    s = await RecordingServer().start()
    yield s
    await s.stop()


def client(transport: EgressTransport, **kwargs: typing.Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=5.0, **kwargs)


def named_http(*authorities: str) -> EgressPolicy:
    entries = frozenset(authorities)
    return EgressPolicy(allowed=entries, insecure=entries)


def public_on(port: int, insecure_host: str) -> EgressPolicy:
    """A policy in which ``port`` is plain HTTP's default port: hosts on it need no entry, so the
    address checks (not the name allowance) decide. Nothing is named."""
    return EgressPolicy(insecure=frozenset({insecure_host}), default_ports={"https": 443, "http": port})


async def test_named_registry_is_reached_at_the_checked_address_with_its_name_as_host(
        server: RecordingServer) -> None:
    resolver = ScriptedResolver({"registry.test": [["127.0.0.1"]]})
    transport = EgressTransport(named_http(f"registry.test:{server.port}"), resolver)
    async with client(transport) as http:
        response = await http.get(f"http://registry.test:{server.port}/v2/")
    assert response.status_code == 200
    assert response.text == "ok"
    assert server.requests[0].headers["host"] == f"registry.test:{server.port}"
    assert server.requests[0].target == "/v2/"
    assert server.requests[0].local_address == "127.0.0.1"
    assert resolver.calls == [("registry.test", server.port)]


async def test_name_resolving_to_loopback_is_denied_with_no_connection(server: RecordingServer) -> None:
    resolver = ScriptedResolver({"innocent.test": [["127.0.0.1"]]})
    transport = EgressTransport(public_on(server.port, "innocent.test"), resolver)
    async with client(transport) as http:
        with pytest.raises(EgressDenied) as caught:
            await http.get(f"http://innocent.test:{server.port}/v2/")
    assert server.connections == 0
    assert "127.0.0.1" not in str(caught.value)
    assert "innocent.test" in str(caught.value)


async def test_name_with_one_private_address_among_public_ones_is_denied(server: RecordingServer) -> None:
    backend = StandInBackend({"8.8.8.8": ("127.0.0.1", server.port)})
    resolver = ScriptedResolver({"mixed.test": [["8.8.8.8", "10.0.0.7"]]})
    transport = EgressTransport(public_on(server.port, "mixed.test"), resolver, network_backend=backend)
    async with client(transport) as http:
        with pytest.raises(EgressDenied) as caught:
            await http.get(f"http://mixed.test:{server.port}/v2/")
    assert backend.dialled == []
    assert server.connections == 0
    assert "10.0.0.7" not in str(caught.value)
    assert "8.8.8.8" not in str(caught.value)


async def test_dns_rebinding_public_then_loopback_connects_to_the_checked_public_address(
        server: RecordingServer) -> None:
    # The attacker's name answers a public address to the check and loopback to any later lookup.
    # The public address is stood in for by the local server (see StandInBackend).
    backend = StandInBackend({"93.184.215.14": ("127.0.0.1", server.port)})
    resolver = ScriptedResolver({"rebind.test": [["93.184.215.14"], ["127.0.0.1"]]})
    transport = EgressTransport(public_on(server.port, "rebind.test"), resolver, network_backend=backend)
    async with client(transport) as http:
        response = await http.get(f"http://rebind.test:{server.port}/v2/")
    assert response.status_code == 200
    assert resolver.calls == [("rebind.test", server.port)]  # resolved once, not again at connect time
    assert backend.dialled == [("93.184.215.14", server.port)]  # only ever the checked address
    assert server.requests[0].headers["host"] == f"rebind.test:{server.port}"


async def test_changing_answers_each_request_goes_to_the_address_it_checked(
        server: RecordingServer) -> None:
    # Real sockets on two loopback addresses: a resolver that changes its answer between calls
    # decides each request's destination exactly once.
    other = await RecordingServer(host="127.0.0.2", port=server.port).start()
    try:
        resolver = ScriptedResolver({"flip.test": [["127.0.0.1"], ["127.0.0.2"]]})
        transport = EgressTransport(named_http(f"flip.test:{server.port}"), resolver)
        async with client(transport) as http:
            await http.get(f"http://flip.test:{server.port}/first")
            await http.get(f"http://flip.test:{server.port}/second")
        assert [r.target for r in server.requests] == ["/first"]
        assert [r.target for r in other.requests] == ["/second"]
        assert len(resolver.calls) == 2
    finally:
        await other.stop()


async def test_redirect_to_an_unnamed_local_port_is_denied_and_never_connected(
        server: RecordingServer, second_server: RecordingServer) -> None:
    server.status = 302
    server.headers = {"Location": f"http://127.0.0.1:{second_server.port}/internal"}
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}))
    async with client(transport, follow_redirects=True) as http:
        with pytest.raises(EgressDenied):
            await http.get(f"http://127.0.0.1:{server.port}/v2/")
    assert len(server.requests) == 1
    assert second_server.connections == 0


async def test_redirect_to_cloud_metadata_is_denied_without_dialling(server: RecordingServer) -> None:
    backend = StandInBackend()
    server.status = 307
    server.headers = {"Location": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"}
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}),
                                network_backend=backend)
    async with client(transport, follow_redirects=True) as http:
        with pytest.raises(EgressDenied):
            await http.get(f"http://127.0.0.1:{server.port}/v2/")
    assert backend.dialled == [("127.0.0.1", server.port)]


async def test_redirect_to_another_name_for_the_same_allowed_address_is_denied(
        server: RecordingServer) -> None:
    # The allowance is for a host:port as named, not for whatever address it has.
    server.status = 302
    server.headers = {"Location": f"http://internal.test:{server.port}/admin"}
    resolver = ScriptedResolver({"registry.test": [["127.0.0.1"]], "internal.test": [["127.0.0.1"]]})
    transport = EgressTransport(named_http(f"registry.test:{server.port}"), resolver)
    async with client(transport, follow_redirects=True) as http:
        with pytest.raises(EgressDenied):
            await http.get(f"http://registry.test:{server.port}/v2/")
    assert [r.target for r in server.requests] == ["/v2/"]


async def test_literal_address_is_not_resolved(server: RecordingServer) -> None:
    resolver = ScriptedResolver({})
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), resolver)
    async with client(transport) as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/v2/")).status_code == 200
    assert resolver.calls == []


async def test_odd_spelling_of_a_named_address_dials_the_canonical_address(server: RecordingServer) -> None:
    backend = StandInBackend()
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}),
                                network_backend=backend)
    async with client(transport) as http:
        assert (await http.get(f"http://0x7f.1:{server.port}/v2/")).status_code == 200
    assert backend.dialled == [("127.0.0.1", server.port)]


async def test_unreachable_checked_address_falls_back_to_the_next_checked_one(
        server: RecordingServer) -> None:
    # Nothing listens on 127.0.0.3 at this port: refused, then the second answer works.
    resolver = ScriptedResolver({"dual.test": [["127.0.0.3", "127.0.0.1"]]})
    transport = EgressTransport(named_http(f"dual.test:{server.port}"), resolver)
    async with client(transport) as http:
        assert (await http.get(f"http://dual.test:{server.port}/v2/")).status_code == 200
    assert len(server.requests) == 1


async def test_connection_refused_is_httpx_connect_error_without_the_address() -> None:
    resolver = ScriptedResolver({"down.test": [["127.0.0.3"]]})
    transport = EgressTransport(named_http("down.test:9"), resolver)
    async with client(transport) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get("http://down.test:9/v2/")
    assert "127.0.0.3" not in str(caught.value)


class AddressInErrorBackend(StandInBackend):
    """Fails every dial with the text an OS error might carry: the address itself.

    Mock: the exact wording of a connect failure is the OS's and anyio's, not something a local
    server can make them say.
    """

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        raise httpcore.ConnectError(f"[Errno 113] Connect call failed ('{host}', {port})")


async def test_connect_error_text_never_carries_where_a_name_pointed() -> None:
    backend = AddressInErrorBackend()
    resolver = ScriptedResolver({"internal.test": [["10.20.30.40", "::ffff:10.20.30.41"]]})
    transport = EgressTransport(named_http("internal.test:80"), resolver, network_backend=backend)
    async with client(transport) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.get("http://internal.test/v2/")
    assert [host for host, _ in backend.dialled] == ["10.20.30.40", "10.20.30.41"]
    assert "10.20.30.4" not in str(caught.value)
    assert "<address>" in str(caught.value)


async def test_connections_are_not_shared_between_names_on_one_address(server: RecordingServer) -> None:
    resolver = ScriptedResolver({"a.test": [["127.0.0.1"]], "b.test": [["127.0.0.1"]]})
    transport = EgressTransport(named_http(f"a.test:{server.port}", f"b.test:{server.port}"), resolver)
    async with client(transport) as http:
        await http.get(f"http://a.test:{server.port}/one")
        await http.get(f"http://a.test:{server.port}/two")
        await http.get(f"http://b.test:{server.port}/three")
    assert server.connections == 2  # a.test kept its connection alive; b.test got its own
    assert [r.headers["host"].split(":")[0] for r in server.requests] == ["a.test", "a.test", "b.test"]


async def test_dns_failure_is_reported_as_such(server: RecordingServer) -> None:
    transport = EgressTransport(named_http("nowhere.test:80"), ScriptedResolver({}))
    async with client(transport) as http:
        with pytest.raises(DNSFailure):
            await http.get("http://nowhere.test/v2/")


async def test_a_hanging_resolver_is_cut_off_by_the_connect_timeout() -> None:
    class Hanging:
        async def resolve(self, host: str, port: int) -> list[str]:
            import asyncio

            await asyncio.Event().wait()  # a resolver that never answers
            return []

    transport = EgressTransport(named_http("slow.test:80"), Hanging(), connect_timeout_s=0.05)
    async with client(transport) as http:
        with pytest.raises(DNSFailure, match="timed out"):
            await http.get("http://slow.test/v2/")


async def test_empty_answer_is_a_dns_failure() -> None:
    transport = EgressTransport(named_http("empty.test:80"), ScriptedResolver({"empty.test": [[]]}))
    async with client(transport) as http:
        with pytest.raises(DNSFailure):
            await http.get("http://empty.test/v2/")


async def test_localhost_needs_an_entry_and_then_reaches_loopback(server: RecordingServer) -> None:
    resolver = ScriptedResolver({"localhost": [["8.8.8.8"]]})  # never asked: localhost is loopback
    denied = EgressTransport(public_on(server.port, "localhost"), resolver)
    async with client(denied) as http:
        with pytest.raises(EgressDenied):
            await http.get(f"http://localhost:{server.port}/v2/")
    allowed = EgressTransport(named_http(f"localhost:{server.port}"), resolver)
    async with client(allowed) as http:
        assert (await http.get(f"http://LOCALHOST.:{server.port}/v2/")).status_code == 200
    assert resolver.calls == []
    assert server.requests[0].local_address == "127.0.0.1"


async def test_request_body_and_streamed_response_pass_through(server: RecordingServer) -> None:
    server.body = b"x" * 100_000
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}))
    async with client(transport) as http:
        posted = await http.post(f"http://127.0.0.1:{server.port}/token", content=b"grant_type=password")
        assert posted.status_code == 200
        async with http.stream("GET", f"http://127.0.0.1:{server.port}/blob") as streamed:
            received = b"".join([chunk async for chunk in streamed.aiter_raw()])
    assert server.requests[0].body == b"grant_type=password"
    assert received == server.body


async def test_a_body_cut_short_is_an_httpx_protocol_error(server: RecordingServer) -> None:
    server.short_body = True
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}))
    async with client(transport) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{server.port}/v2/")


async def test_a_silent_server_is_an_httpx_read_timeout(server: RecordingServer) -> None:
    server.hang = True
    transport = EgressTransport(named_http(f"127.0.0.1:{server.port}"), ScriptedResolver({}))
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{server.port}/v2/")
