"""Scripted registry behaviours shared by the client tests (served by ``scripted.ScriptedServer``)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field

from aiohttp import web

from tests.registry.scripted import oci_error

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def manifest_body(tag: str = "1.0") -> bytes:
    config = {"mediaType": "application/vnd.oci.image.config.v1+json",
              "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(), "size": 2}
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config,
                       "layers": []}).encode()


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def manifest_response(request: web.Request, body: bytes, *, announced: str | None = None,
                      media_type: str = OCI_MANIFEST) -> web.Response:
    headers = {"Docker-Content-Digest": announced or digest(body), "Content-Type": media_type}
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return web.Response(status=200, headers=headers)
    return web.Response(status=200, body=body, headers=headers)


@dataclass
class TokenRegistry:
    """Bearer auth like distribution + a token server: anonymous pull for everything except
    ``private/``, which needs a user. The realm is on the same server (``/token``) unless
    ``realm`` is set."""

    users: dict[str, str] = field(default_factory=lambda: {"alice": "wonderland-pw"})
    expires_in: int = 300
    realm: str | None = None
    tokens: dict[str, str | None] = field(default_factory=dict)  # token -> user
    token_requests: list[dict[str, str]] = field(default_factory=list)

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append({"authorization": request.headers.get("Authorization", ""),
                                    **dict(request.query)})
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                return web.json_response({"details": "incorrect username or password"}, status=401)
            user = name
        token = secrets.token_hex(8)
        self.tokens[token] = user
        return web.json_response({"token": token, "expires_in": self.expires_in})

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/token":
            return await self.token(request)
        repo = request.path.removeprefix("/v2/").partition("/manifests/")[0]
        realm = self.realm or f"http://{request.host}/token"
        challenge = f'Bearer realm="{realm}",service="test-registry",scope="repository:{repo}:pull"'
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or token not in self.tokens:
            return oci_error(401, "UNAUTHORIZED", "authentication required",
                             {"WWW-Authenticate": challenge})
        if repo.startswith("private/") and self.tokens[token] is None:
            return oci_error(401, "UNAUTHORIZED", "authentication required",
                             {"WWW-Authenticate": challenge + ',error="insufficient_scope"'})
        return manifest_response(request, manifest_body())


@dataclass
class BasicRegistry:
    user: str = "bob"
    password: str = "builder-pw"

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return oci_error(401, "UNAUTHORIZED", "authentication required",
                             {"WWW-Authenticate": 'Basic realm="Registry Realm"'})
        return manifest_response(request, manifest_body())
