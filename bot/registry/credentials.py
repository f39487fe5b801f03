"""Registry credentials: settings first, then Docker's config (``auths``, ``credHelpers``, ``credsStore``).

Lookups are by exact normalised ``host[:port]`` (never by suffix or substring), so credentials for
``registry.corp`` are never offered to ``registry.corp.evil.example`` or ``registry.corp:444``.
Docker Hub is known under several names (``docker.io``, ``index.docker.io``, ``registry-1.docker.io``,
``https://index.docker.io/v1/``); all of them mean the same entry. Where found credentials may then be
sent is a separate rule (``auth.realm_may_receive_credentials``): the registry itself, and a token realm
on any port of the same host name, a known pairing, or a realm listed under ``token_realms``.

Identity tokens (``auths.<host>.identitytoken``, or a helper answering Username ``<token>``) become
``Credentials`` with ``identity_token`` set: OAuth2 refresh tokens that the client only ever trades for
an access token at an allowed token realm (``auth.Credentials``).

Helper programs never run on the event loop's thread: ``get`` and ``list`` are asynchronous
subprocesses, and ``has`` answers from what ``prewarm`` (run before every request) already learned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.registry.auth import IDENTITY_TOKEN_USER, Credentials
from bot.registry.config import DOCKER_HUB, RegistryEndpoint, normalize_registry

log = logging.getLogger(__name__)

DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"  # what `docker login` stores for Docker Hub
HELPER_CACHE_TTL_S = 300.0
HELPER_CACHE_SWEEP_AT = 512  # cached helper answers before expired ones are swept out
_HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def helper_server_url(registry: str) -> str:
    """The canonical spelling to ask a helper with when no original spelling is known."""
    host = normalize_registry(registry)
    return DOCKER_HUB_SERVER_URL if host == DOCKER_HUB else host


Spellings = dict[str, list[str]]  # normalised host -> ServerURLs as written, first seen first


def _add_spelling(spellings: Spellings, original: str) -> None:
    known = spellings.setdefault(normalize_registry(original), [])
    if original not in known:
        known.append(original)


def helper_server_urls(registry: str, *known: Spellings) -> list[str]:
    """Every ServerURL to ask a helper with, in order. A helper keys its entries by the server URL
    exactly as ``docker login`` was given it (``registry.corp:443``, ``[::ffff:10.0.0.5]:5000``) and
    does not normalise what it is asked, so the spellings seen in its ``list`` and in ``config.json``
    come first and the canonical form last. Docker Hub logins are always stored under
    ``https://index.docker.io/v1/``, so for Docker Hub that comes first."""
    host = normalize_registry(registry)
    canonical = helper_server_url(host)
    urls = [canonical] if host == DOCKER_HUB else []
    for spellings in known:
        urls.extend(spellings.get(host, ()))
    urls.append(canonical)
    return list(dict.fromkeys(urls))


@dataclass
class DockerConfig:
    """The parts of ``config.json`` that concern credentials, keyed by normalised host."""

    auths: dict[str, Credentials] = field(default_factory=dict)
    cred_helpers: dict[str, str] = field(default_factory=dict)
    creds_store: str | None = None
    # the ``auths`` and ``credHelpers`` keys as written (with a credsStore, `docker login` leaves an
    # empty ``auths`` entry under the spelling the store knows)
    spellings: Spellings = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> DockerConfig:
        path = directory / "config.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            # Never quote the file: it holds secrets.
            log.warning("docker config unreadable, ignoring it", extra={"path": str(path),
                                                                     "error": type(exc).__name__})
            return cls()
        return cls.from_json(raw if isinstance(raw, dict) else {})

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> DockerConfig:
        config = cls()
        auths = raw.get("auths")
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if isinstance(entry, dict):
                    _add_spelling(config.spellings, str(key))
                    creds = _auth_entry(entry)
                    if creds is not None:
                        config.auths[normalize_registry(str(key))] = creds
        helpers = raw.get("credHelpers")
        if isinstance(helpers, dict):
            for key, name in helpers.items():
                if isinstance(name, str) and _HELPER_NAME.match(name):
                    config.cred_helpers[normalize_registry(str(key))] = name
                    _add_spelling(config.spellings, str(key))
        store = raw.get("credsStore")
        if isinstance(store, str) and _HELPER_NAME.match(store):
            config.creds_store = store
        return config


def _auth_entry(entry: Mapping[str, Any]) -> Credentials | None:
    username = entry.get("username")
    password = entry.get("password")
    encoded = entry.get("auth")
    user: str | None = None
    secret: str | None = None
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        name, sep, rest = decoded.partition(":")
        if sep and name:
            user, secret = name, rest
    elif isinstance(username, str) and username and isinstance(password, str):
        user, secret = username, password
    identity_token = entry.get("identitytoken")
    if isinstance(identity_token, str) and identity_token:
        # An OAuth login (`az acr login`, `docker login` to an OAuth registry): docker stores
        # `auth` as "<user>:" with an empty password next to the token, and the token wins (moby's
        # credential store hands it out as the refresh token whenever it is set).
        return Credentials.from_identity_token(identity_token, username=user or "", source="docker-config")
    if user is not None and secret is not None:
        return Credentials(user, secret, source="docker-config")
    # `registrytoken` (a bearer token for the registry itself) is not supported.
    return None


class HelperError(Exception):
    """A credential helper failed, timed out or answered nonsense (message carries no secret)."""


def _parse_helper_answer(stdout: bytes, name: str) -> Credentials | None:
    try:
        data = json.loads(stdout)
    except ValueError:
        raise HelperError(f"docker-credential-{name} answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise HelperError(f"docker-credential-{name} answered something that is not an object")
    user, secret = data.get("Username"), data.get("Secret")
    if not isinstance(user, str) or not isinstance(secret, str) or not user:
        return None
    if user == IDENTITY_TOKEN_USER:
        # docker/cli's native store: Username "<token>" means the Secret is an identity token.
        return Credentials.from_identity_token(secret, source=f"helper:{name}") if secret else None
    return Credentials(user, secret, source=f"helper:{name}")


async def run_helper_get(name: str, server_url: str, *, timeout_s: float) -> Credentials | None:
    """``docker-credential-<name> get`` with the server URL on stdin; ``None`` when it has nothing."""
    program = f"docker-credential-{name}"
    try:
        proc = await asyncio.create_subprocess_exec(
            program, "get", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        raise HelperError(f"{program} not found or not executable") from None
    try:
        async with asyncio.timeout(timeout_s):
            stdout, _ = await proc.communicate(server_url.encode())
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise HelperError(f"{program} did not answer within {timeout_s:g}s") from None
    if proc.returncode != 0:
        # "credentials not found in native keychain" is the usual reason: not an error for us.
        return None
    return _parse_helper_answer(stdout, name)


def _parse_helper_list(stdout: bytes) -> Spellings:
    try:
        data = json.loads(stdout)
    except ValueError:
        return {}
    spellings: Spellings = {}
    if isinstance(data, dict):
        for key in data:
            _add_spelling(spellings, str(key))
    return spellings


def run_helper_list(name: str, *, timeout_s: float) -> Spellings:
    """Hosts a credential store holds entries for (``docker-credential-<name> list``), blocking:
    normalised host -> the ServerURLs the store files them under.

    Only for callers without a running event loop; inside one use ``run_helper_list_async``.
    """
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run([program, "list"], capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return _parse_helper_list(done.stdout) if done.returncode == 0 else {}


async def run_helper_list_async(name: str, *, timeout_s: float) -> Spellings:
    """``run_helper_list`` as an asynchronous subprocess: a slow helper never stalls the event loop."""
    program = f"docker-credential-{name}"
    try:
        proc = await asyncio.create_subprocess_exec(
            program, "list", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return {}
    try:
        async with asyncio.timeout(timeout_s):
            stdout, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("credential helper list timed out", extra={"helper": name})
        return {}
    return _parse_helper_list(stdout) if proc.returncode == 0 else {}


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class CredentialStore:
    """Where the registry client gets credentials for a registry; results of helpers are cached."""

    def __init__(self, endpoints: Mapping[str, RegistryEndpoint], *, docker_config_dir: Path | None = None,
                 use_docker_config: bool = True, helper_timeout_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._endpoints = {normalize_registry(k): v for k, v in endpoints.items()}
        self._docker_config_dir = docker_config_dir
        self._use_docker_config = use_docker_config
        self._helper_timeout_s = helper_timeout_s
        self._monotonic = monotonic
        self._docker: DockerConfig | None = None
        self._helper_cache: dict[str, tuple[Credentials | None, float]] = {}
        self._store_hosts: Spellings | None = None  # the credsStore's `list`, once run
        self._locks: dict[str, asyncio.Lock] = {}
        self._list_lock = asyncio.Lock()

    def _docker_config(self) -> DockerConfig:
        if self._docker is None:
            if not self._use_docker_config:
                self._docker = DockerConfig()
            else:
                directory = self._docker_config_dir
                if directory is None:
                    env = os.environ.get("DOCKER_CONFIG")
                    directory = Path(env) if env else Path.home() / ".docker"
                self._docker = DockerConfig.load(directory)
        return self._docker

    def _from_settings(self, host: str) -> Credentials | None:
        endpoint = self._endpoints.get(host)
        if endpoint is not None and endpoint.username and endpoint.password is not None:
            return Credentials(endpoint.username, endpoint.password, source="settings")
        return None

    def _helper_for(self, host: str) -> str | None:
        docker = self._docker_config()
        return docker.cred_helpers.get(host) or docker.creds_store

    async def prewarm(self) -> None:
        """Learn which hosts the ``credsStore`` holds (one asynchronous ``list``, kept for the store's
        life), so ``has`` can answer without running a program. Cheap once done; safe to call often."""
        docker = self._docker_config()
        if not docker.creds_store or self._store_hosts is not None:
            return
        async with self._list_lock:  # concurrent first requests run the helper once
            if self._store_hosts is None:
                self._store_hosts = await run_helper_list_async(docker.creds_store,
                                                                timeout_s=self._helper_timeout_s)

    def has(self, registry: str) -> bool:
        """Whether credentials exist for ``registry``, without running a ``get`` helper.

        Inside an event loop this never runs a program (a helper may take seconds, and Slack wants its
        ack within three): a ``credsStore`` host counts once ``prewarm`` has listed it or ``get`` has
        fetched it. Without a running loop it may run the store's ``list`` itself.
        """
        host = normalize_registry(registry)
        if self._from_settings(host) is not None:
            return True
        docker = self._docker_config()
        if host in docker.cred_helpers or host in docker.auths:
            return True
        cached = self._helper_cache.get(host)
        if cached is not None:
            return cached[0] is not None
        if docker.creds_store:
            if self._store_hosts is None:
                if _loop_running():
                    return False  # not listed yet; prewarm() runs before every request
                # no event loop to stall: one synchronous `list`, cached for the store's life
                self._store_hosts = run_helper_list(docker.creds_store, timeout_s=self._helper_timeout_s)
            return host in self._store_hosts
        return False

    async def get(self, registry: str) -> Credentials | None:
        host = normalize_registry(registry)
        found = self._from_settings(host)
        if found is not None:
            return found
        docker = self._docker_config()
        helper = self._helper_for(host)
        if helper is not None:
            creds = await self._from_helper(host, helper)
            if creds is not None:
                return creds
        return docker.auths.get(host)

    async def _from_helper(self, host: str, helper: str) -> Credentials | None:
        docker = self._docker_config()
        if helper == docker.creds_store:
            await self.prewarm()  # its `list` tells under which spelling the store filed the login
        lock = self._locks.setdefault(host, asyncio.Lock())
        try:
            async with lock:  # concurrent checks of one registry run the helper once
                return await self._helper_get(host, helper, docker)
        finally:
            # Users type any public host: keep no lock per host ever seen (with credsStore every host
            # goes through the helper). A waiter still holds its reference to this lock.
            if not lock.locked():
                self._locks.pop(host, None)

    async def _helper_get(self, host: str, helper: str, docker: DockerConfig) -> Credentials | None:
        """The helper's answer for ``host`` (cached for ``HELPER_CACHE_TTL_S``); run under its lock."""
        cached = self._helper_cache.get(host)
        if cached is not None and self._monotonic() < cached[1]:
            return cached[0]
        creds = None
        store_spellings = self._store_hosts if helper == docker.creds_store else None
        for server_url in helper_server_urls(host, store_spellings or {}, docker.spellings):
            try:
                creds = await run_helper_get(helper, server_url, timeout_s=self._helper_timeout_s)
            except HelperError as exc:
                # a helper that hangs or answers garbage will not do better for another spelling
                log.warning("credential helper failed", extra={"registry": host, "error": str(exc)})
                break
            if creds is not None:
                break
        now = self._monotonic()
        if len(self._helper_cache) >= HELPER_CACHE_SWEEP_AT:  # drop the answers that have expired
            self._helper_cache = {h: e for h, e in self._helper_cache.items() if e[1] > now}
        self._helper_cache[host] = (creds, now + HELPER_CACHE_TTL_S)
        return creds
