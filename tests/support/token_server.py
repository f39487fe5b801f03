"""A Docker-style token server on loopback that the local registry trusts.

It signs ES256 JWTs with a key whose self-signed certificate is the registry's ``rootcertbundle``;
the certificate travels in the token's ``x5c`` header, which is how distribution 2.8 finds the key.

Policy (like Docker Hub's):
- ``public/...``: anyone may pull; ``private/...``: ``reader`` and ``admin`` may pull, ``outsider``
  (a valid login) may not.
- an anonymous request for ``private/...`` still gets a token, with no actions, so the registry then
  answers 401 ``insufficient_scope``;
- the admin user gets every action asked for (push, delete, catalog) on every repository;
- a wrong password is a 401 from the token server itself.

OAuth2 (distribution's ``spec/auth/oauth.md``): ``POST /token`` with a form
``grant_type=refresh_token&refresh_token=…&service=…&scope=…&client_id=…`` trades an identity token
(what ``az acr login`` leaves in ``config.json``) for an access token under the same policy as GET, for
the user that token was issued to (``identity_tokens``: ``READER_IDENTITY_TOKEN``,
``OUTSIDER_IDENTITY_TOKEN``). An unknown or revoked (``revoke()``) refresh token gets
400 ``invalid_grant`` (RFC 6749 section 5.2), another grant type 400 ``unsupported_grant_type``.
POSTs are logged like GETs (``log``; the query is the form without the refresh token) and kept whole
in ``oauth_posts``.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.access_log import InProcessLog, LoggedRequest, LogMark
from tests.support.tls import CertFiles, self_signed

TOKEN_SERVICE = "imagecheck-test-registry"
TOKEN_ISSUER = "imagecheck-test-token-server"
PUBLIC_PREFIX = "public/"
PRIVATE_PREFIX = "private/"


@dataclass(frozen=True)
class TokenUser:
    username: str
    password: str
    admin: bool = False
    private_access: bool = True  # may pull private/...


ADMIN = TokenUser("admin", "admin-secret-pw", admin=True)
READER = TokenUser("reader", "reader-secret-pw")
# Logs in fine but may not pull private/: the "authenticated yet not allowed" case.
OUTSIDER = TokenUser("outsider", "outsider-secret-pw", private_access=False)

# Identity tokens (OAuth2 refresh tokens) issued to READER and OUTSIDER: long and unmistakable, so a
# test can assert they appear nowhere in output.
READER_IDENTITY_TOKEN = "idt-reader-7f3c9a1e5b2d4c6e8a0b1c2d3e4f5a6b"
OUTSIDER_IDENTITY_TOKEN = "idt-outsider-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"


@dataclass(frozen=True)
class OAuthPost:
    """One ``POST /token`` as received: the whole form (refresh token included), for assertions."""

    form: dict[str, str]
    content_type: str
    authorization: str | None
    status: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Scope:
    type: str
    name: str
    actions: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        # "repository:public/app:pull,push" (a name never contains ':' in our tests)
        parts = text.split(":")
        if len(parts) < 3:
            return None
        return cls(type=parts[0], name=":".join(parts[1:-1]), actions=[a for a in parts[-1].split(",") if a])


class TokenServer:
    """Start with ``start()``; ``realm`` is the URL to put in the registry's config."""

    def __init__(
        self,
        directory: Path,
        *,
        users: tuple[TokenUser, ...] = (ADMIN, READER, OUTSIDER),
        expires_in: int = 300,
        identity_tokens: dict[str, TokenUser] | None = None,
    ) -> None:
        self.users = {u.username: u for u in users}
        self.identity_tokens = dict(
            identity_tokens
            if identity_tokens is not None
            else {READER_IDENTITY_TOKEN: READER, OUTSIDER_IDENTITY_TOKEN: OUTSIDER}
        )
        self.oauth_posts: list[OAuthPost] = []
        self._revoked: set[str] = set()
        self.expires_in = expires_in
        self.service = TOKEN_SERVICE
        self.issuer = TOKEN_ISSUER
        self.cert: CertFiles
        self.cert, self._key = self_signed(directory, "token-signing", "imagecheck test token signer", names=())
        cert = x509.load_pem_x509_certificate(self.cert.cert_pem)
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
        self.log = InProcessLog()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "token server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.base_url}/token"

    # --- counting ----------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.log.requests)

    def mark(self) -> LogMark:
        return self.log.mark()

    def requests_since(self, mark: LogMark) -> list[LoggedRequest]:
        return self.log.requests_since(mark)

    def count_since(self, mark: LogMark) -> int:
        return len(self.log.requests_since(mark))

    # --- policy and signing -----------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> TokenUser | bool | None:
        """The user for a Basic header; ``None`` when anonymous; ``False`` when the password is wrong."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user = self.users.get(username)
        if user is None or user.password != password:
            return False
        return user

    def issue_identity_token(self, user: TokenUser) -> str:
        """A fresh identity token for ``user`` (as a new ``az acr login`` would give)."""
        token = f"idt-{user.username}-{uuid.uuid4().hex}"
        self.identity_tokens[token] = user
        return token

    def revoke(self, identity_token: str) -> None:
        """From now on this identity token gets 400 invalid_grant (an expired ``az acr login``)."""
        self._revoked.add(identity_token)

    def refresh_user(self, refresh_token: str) -> TokenUser | None:
        if refresh_token in self._revoked:
            return None
        return self.identity_tokens.get(refresh_token)

    def access_for(self, user: TokenUser | None, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for text in scopes:
            for part in text.split(" "):
                scope = Scope.parse(part)
                if scope is not None:
                    access.append({"type": scope.type, "name": scope.name, "actions": self.granted(user, scope)})
        return access

    def granted(self, user: TokenUser | None, scope: Scope) -> list[str]:
        if user is not None and user.admin:
            return scope.actions
        if scope.type != "repository":
            return []
        allowed: set[str] = set()
        private_ok = user is not None and user.private_access and scope.name.startswith(PRIVATE_PREFIX)
        if scope.name.startswith(PUBLIC_PREFIX) or private_ok:
            allowed = {"pull"}
        return [a for a in scope.actions if a in allowed]

    def issue(self, subject: str, access: list[dict[str, Any]]) -> tuple[str, int]:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants raw r||s, not DER
        return f"{signing_input}.{_b64url(signature)}", now


def _make_handler(owner: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's
        # delayed ACK adds ~40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return  # keep pytest output clean; requests are counted in owner.log

        def _answer(
            self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None, *, query: str | None = None
        ) -> None:
            url = urlsplit(self.path)
            owner.log.record(
                LoggedRequest(
                    self.command, url.path, url.query if query is None else query, status,
                    self.headers.get("User-Agent", ""),
                )
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/token":
                self._answer(404, {"error": "not found"})
                return
            params = parse_qs(url.query)
            if params.get("service", [owner.service])[0] != owner.service:
                self._answer(400, {"error": "invalid_request", "error_description": "unknown service"})
                return
            user = owner.authenticate(self.headers.get("Authorization"))
            if user is False:
                self._answer(
                    401,
                    {"error": "unauthorized", "details": "incorrect username or password"},
                    {"WWW-Authenticate": 'Basic realm="imagecheck test token server"'},
                )
                return
            assert user is not True
            access = owner.access_for(user, params.get("scope", []))
            token, issued = owner.issue(user.username if user else "", access)
            self._answer(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": owner.expires_in,
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued)),
                },
            )

        def _read_body(self) -> bytes:
            # containers/image (skopeo) sets the POST body after building the request, so Go sends it
            # chunked, without a Content-Length
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers, then the blank line
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()  # the CRLF after each chunk
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_POST(self) -> None:
            """OAuth2 refresh-token grant (distribution spec/auth/oauth.md)."""
            raw = self._read_body().decode("utf-8", errors="replace")
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            # the log's query is the form minus the secret, so counting tests can read it
            logged = urlencode([(k, v) for k, v in form.items() if k != "refresh_token"])

            def answer(status: int, body: dict[str, Any]) -> None:
                owner.oauth_posts.append(
                    OAuthPost(form, self.headers.get("Content-Type", ""), self.headers.get("Authorization"), status)
                )
                self._answer(status, body, query=logged)

            if urlsplit(self.path).path != "/token":
                answer(404, {"error": "not found"})
                return
            if form.get("service", owner.service) != owner.service:
                answer(400, {"error": "invalid_request", "error_description": "unknown service"})
                return
            if form.get("grant_type") != "refresh_token":
                answer(400, {"error": "unsupported_grant_type"})
                return
            if not form.get("client_id"):
                answer(400, {"error": "invalid_request", "error_description": "client_id is required"})
                return
            user = owner.refresh_user(form.get("refresh_token", ""))
            if user is None:
                answer(400, {"error": "invalid_grant", "error_description": "refresh token is invalid or expired"})
                return
            scopes = [form["scope"]] if form.get("scope") else []
            token, issued = owner.issue(user.username, owner.access_for(user, scopes))
            answer(
                200,
                {
                    "access_token": token,
                    "expires_in": owner.expires_in,
                    "scope": form.get("scope", ""),
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued)),
                },
            )

    return Handler
