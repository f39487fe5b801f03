"""Loopback servers that misbehave on purpose, for verdicts a real local registry can't produce.

Each server binds 127.0.0.1 on a port the OS picks, runs in daemon threads, records every request
it answers in ``.log`` (an ``InProcessLog``: recorded before the answer is sent, so counts are exact
once the client has its response) and offers ``base_url`` / ``host`` / ``port``. Use them as context
managers or call ``start()`` / ``stop()``; the pytest fixtures in ``tests/fixtures/registry.py`` do this.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.support.access_log import InProcessLog, LoggedRequest
from tests.support.tls import CertFiles

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **API_VERSION_HEADER, **(headers or {})},
    )


def oci_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
    return json_reply(status, {"errors": [{"code": code, "message": message, "detail": None}]}, headers)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ssl_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake here, in the per-connection thread, so a client that stalls or rejects our
        # certificate never blocks the accept loop.
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate: exactly what these servers are for
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up mid-answer are expected here; keep test output clean


class HttpFaultServer:
    """Base: an HTTP(S) server whose ``respond`` decides each answer."""

    scheme = "http"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.log = InProcessLog()
        self._ssl_context = ssl_context
        if ssl_context is not None:
            self.scheme = "https"
        self._server: _Server | None = None

    def respond(self, request: Request) -> Reply:
        if request.path == "/v2/" or request.path == "/v2":
            return json_reply(200, {})
        return oci_error(404, "NAME_UNKNOWN", "repository name not known to registry")

    def server_date(self) -> datetime:
        return datetime.now(UTC)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _handler_for(self))
        server.ssl_context = self._ssl_context
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def _handler_for(owner: HttpFaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's
        # delayed ACK adds ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def date_time_string(self, timestamp: float | None = None) -> str:
            return format_datetime(owner.server_date(), usegmt=True)

        def _serve(self) -> None:
            url = urlsplit(self.path)
            request = Request(self.command, url.path, parse_qs(url.query), dict(self.headers.items()))
            reply = owner.respond(request)
            owner.log.record(
                LoggedRequest(self.command, url.path, url.query, reply.status, self.headers.get("User-Agent", ""))
            )
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return Handler


# --- TLS ---------------------------------------------------------------------------------------------


class TlsServer(HttpFaultServer):
    """A registry-looking HTTPS server presenting ``cert``.

    ``ca_pem_path`` is the certificate a client would have to trust: the test CA for the expired and
    wrong-host servers (so that expiry / the name is the only failure), the cert itself when self-signed.
    """

    def __init__(self, cert: CertFiles, ca_pem_path: str) -> None:
        super().__init__(cert.server_context())
        self.cert = cert
        self.ca_pem_path = ca_pem_path


class PlainHttpServer(HttpFaultServer):
    """A registry that only speaks plain HTTP; ``https_url`` is what a client assuming TLS would use."""

    @property
    def https_url(self) -> str:
        return f"https://{self.host}"


# --- raw-socket servers ------------------------------------------------------------------------------


class _SocketServer:
    """A listening socket with an accept thread; subclasses handle each connection in its own thread."""

    def __init__(self) -> None:
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []
        self.accepted = 0

    def start(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, name=type(self).__name__, daemon=True).start()
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._connections.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._listener is not None, "server not started"
        return int(self._listener.getsockname()[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"


class BlackholeServer(_SocketServer):
    """Accepts connections and never sends a byte (a client must time out)."""

    def _handle(self, conn: socket.socket) -> None:
        self._stopping.wait()


class TrickleServer(_SocketServer):
    """Answers ``GET /v2/`` correctly but sends its response one byte every ``interval`` seconds."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__()
        self.interval = interval
        body = b"{}"
        self.response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Docker-Distribution-API-Version: registry/2.0\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        self.bytes_sent = 0

    def _handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
        for index in range(len(self.response)):
            if self._stopping.wait(self.interval if index else 0):
                return
            try:
                conn.sendall(self.response[index : index + 1])
            except OSError:
                return  # the client gave up, as it should
            self.bytes_sent += 1


@dataclass(frozen=True)
class RefusedEndpoint:
    """A loopback port nothing listens on (bound, then closed): connecting gets ECONNREFUSED."""

    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"


def refused_endpoint() -> RefusedEndpoint:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return RefusedEndpoint(port)


# --- protocol faults ---------------------------------------------------------------------------------


class RateLimitedServer(HttpFaultServer):
    """``/v2/`` answers 200; everything else 429 with Docker Hub's rate-limit headers and envelope."""

    def __init__(self, limit: int = 100, window: int = 21600, retry_after: int = 3600) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.retry_after = retry_after

    def respond(self, request: Request) -> Reply:
        if request.path in ("/v2/", "/v2"):
            return json_reply(200, {})
        return oci_error(
            429,
            "TOOMANYREQUESTS",
            "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading",
            {
                "RateLimit-Limit": f"{self.limit};w={self.window}",
                "RateLimit-Remaining": f"0;w={self.window}",
                "Retry-After": str(self.retry_after),
            },
        )


class RedirectServer(HttpFaultServer):
    """Redirects by exact path, and every other ``/v2/<...>`` path (not the ``/v2/`` ping) to ``default``.

    A Location may use ``{base}`` for this server's own base URL. Keep hop paths outside ``/v2/`` so
    the default doesn't catch them, e.g. ``RedirectServer({"/hop1": "{base}/hop2",
    "/hop2": "http://169.254.169.254/"}, default="{base}/hop1")``. A path with no route answers 200
    ``{"path": ...}``, so a chain can also end on this server.
    """

    def __init__(self, routes: Mapping[str, str], *, default: str | None = None, status: int = 307) -> None:
        super().__init__()
        self.routes = dict(routes)
        self.default = default
        self.status = status

    def respond(self, request: Request) -> Reply:
        location = self.routes.get(request.path)
        if location is None and self.default is not None and request.path.startswith("/v2/") and request.path != "/v2/":
            location = self.default
        if location is None:
            return json_reply(200, {"path": request.path})
        return Reply(self.status, b"", {"Location": location.format(base=self.base_url), **API_VERSION_HEADER})


def _manifest_body(note: str) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(note.encode()).hexdigest(),
                "size": len(note),
            },
            "layers": [],
        }
    ).encode()


class DigestLyingServer(HttpFaultServer):
    """Serves a manifest whose ``Docker-Content-Digest`` is the digest of *different* bytes.

    ``true_digest`` is sha256 of the bytes served; ``claimed_digest`` is what the header says. A
    request by either digest, or any tag, gets the same body.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = _manifest_body("what is served")
        self.true_digest = "sha256:" + hashlib.sha256(self.body).hexdigest()
        self.claimed_digest = "sha256:" + hashlib.sha256(_manifest_body("what is claimed")).hexdigest()

    def respond(self, request: Request) -> Reply:
        if "/manifests/" in request.path:
            return Reply(
                200,
                self.body,
                {
                    "Content-Type": OCI_MANIFEST,
                    "Docker-Content-Digest": self.claimed_digest,
                    **API_VERSION_HEADER,
                },
            )
        return super().respond(request)


class GzipBombServer(HttpFaultServer):
    """A manifest sent with ``Content-Encoding: gzip`` that inflates to ``decoded_size`` bytes (> 4 MiB)."""

    def __init__(self, decoded_size: int = 8 * 1024 * 1024) -> None:
        super().__init__()
        head, tail = b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","pad":"', b'"}'
        decoded = head + b" " * (decoded_size - len(head) - len(tail)) + tail
        self.decoded_size = len(decoded)
        self.decoded_digest = "sha256:" + hashlib.sha256(decoded).hexdigest()
        self.body = gzip.compress(decoded, compresslevel=9, mtime=0)
        self.encoded_size = len(self.body)

    def respond(self, request: Request) -> Reply:
        if "/manifests/" in request.path:
            return Reply(
                200,
                self.body,
                {
                    "Content-Type": OCI_MANIFEST,
                    "Content-Encoding": "gzip",
                    "Docker-Content-Digest": self.decoded_digest,
                    **API_VERSION_HEADER,
                },
            )
        return super().respond(request)


# Realms a hostile registry might hand out. "{base}"/"{port}" are filled with the server's own.
REALM_METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
REALM_OTHER_HOST = "https://auth.attacker.invalid/token"
REALM_PLAIN_HTTP = "http://{host}/token"
REALM_LOOPBACK_OTHER_NAME = "http://localhost:{port}/token"  # same socket, another host name


class HostileRealmServer(HttpFaultServer):
    """Every ``/v2/...`` request gets 401 with ``WWW-Authenticate: Bearer realm="<realm>"``.

    It also serves ``/token`` itself (so a realm pointing back at it, under another name, is
    observable): ``token_requests`` holds the ``Authorization`` header of each token request
    (``None`` when none was sent), which tells whether a client leaked credentials there.
    """

    def __init__(self, realm: str, service: str = "hostile-registry") -> None:
        super().__init__()
        self.realm_template = realm
        self.service = service
        self.token_requests: list[str | None] = []

    @property
    def realm(self) -> str:
        return self.realm_template.format(base=self.base_url, host=self.host, port=self.port)

    def respond(self, request: Request) -> Reply:
        if request.path == "/token":
            self.token_requests.append(request.headers.get("Authorization"))
            return json_reply(200, {"token": "hostile-token", "access_token": "hostile-token", "expires_in": 300})
        challenge = f'Bearer realm="{self.realm}",service="{self.service}"'
        if "/manifests/" in request.path or "/tags/" in request.path:
            name = request.path.removeprefix("/v2/").split("/manifests/")[0].split("/tags/")[0]
            challenge += f',scope="repository:{name}:pull"'
        return oci_error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge})


class SkewedClockServer(HttpFaultServer):
    """A registry whose ``Date`` header is ``skew`` (default +10 minutes) away from the real clock."""

    def __init__(self, skew: timedelta = timedelta(minutes=10)) -> None:
        super().__init__()
        self.skew = skew

    def server_date(self) -> datetime:
        return datetime.now(UTC) + self.skew


class PaginatedTagsServer(HttpFaultServer):
    """``tags/list`` with ``n``/``last`` and ``Link`` pagination (distribution 2.8 ignores ``n``).

    ``repeat_link`` makes every page point at the same next page (a loop); ``link_base`` makes the
    Link absolute on another origin (to test that pagination stays on the registry's host).
    """

    def __init__(
        self,
        repository: str,
        tags: Sequence[str],
        *,
        page_size: int = 100,
        repeat_link: bool = False,
        link_base: str | None = None,
    ) -> None:
        super().__init__()
        self.repository = repository
        self.tags = sorted(tags)
        self.page_size = page_size
        self.repeat_link = repeat_link
        self.link_base = link_base

    def respond(self, request: Request) -> Reply:
        if request.path != f"/v2/{self.repository}/tags/list":
            return super().respond(request)
        n = int(request.query.get("n", [str(self.page_size)])[0])
        last = request.query.get("last", [""])[0]
        remaining = [t for t in self.tags if t > last] if last and not self.repeat_link else self.tags
        page = remaining[:n]
        headers: dict[str, str] = {}
        if len(remaining) > n or self.repeat_link:
            next_last = self.tags[n - 1] if self.repeat_link else page[-1]
            link = f"{self.link_base or ''}/v2/{self.repository}/tags/list?n={n}&last={next_last}"
            headers["Link"] = f'<{link}>; rel="next"'
        return json_reply(200, {"name": self.repository, "tags": page}, headers)


SCHEMA1_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def schema1_manifest(name: str = "legacy/app", tag: str = "1.0") -> bytes:
    """A Docker schema 1 manifest as old registries serve it (unsigned here; nobody should verify it)."""
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": name,
            "tag": tag,
            "architecture": "amd64",
            "fsLayers": [{"blobSum": "sha256:" + hashlib.sha256(b"layer").hexdigest()}],
            "history": [{"v1Compatibility": '{"id":"0"}'}],
        },
        indent=3,
    ).encode()


class ScriptedServer(HttpFaultServer):
    """Answers each exact path with a fixed ``Reply`` (any method); other paths as a registry would
    (``/v2/`` 200, else 404 NAME_UNKNOWN). For one-off answers: 403 DENIED, 5xx, schema 1, bad JSON…

    >>> ScriptedServer({"/v2/a/manifests/1": oci_error(403, "DENIED", "requested access is denied")})
    """

    def __init__(self, routes: Mapping[str, Reply]) -> None:
        super().__init__()
        self.routes = dict(routes)

    def respond(self, request: Request) -> Reply:
        return self.routes.get(request.path) or super().respond(request)
