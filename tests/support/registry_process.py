"""The Debian ``docker-registry`` binary (CNCF distribution 2.8.2) as a subprocess on 127.0.0.1.

The registry is told to listen on port 0 and we read the port it got from its own log line
("listening on 127.0.0.1:PORT"), so two test runs never race for a port. Its access log (stdout) goes
to ``access.log`` and everything else (stderr) to ``registry.log`` in the registry's directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx

from tests.support.access_log import RegistryAccessLog
from tests.support.token_server import ADMIN, OUTSIDER, READER, TokenServer

REGISTRY_BINARY = "/usr/bin/docker-registry"
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class Flavour(StrEnum):
    open = "open"
    basic = "basic"  # htpasswd
    token = "token"  # Bearer tokens from tests.support.token_server


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def as_tuple(self) -> tuple[str, str]:
        return (self.username, self.password)

    def skopeo(self) -> str:
        return f"{self.username}:{self.password}"


BASIC_ADMIN = Credentials("admin", "basic-admin-pw")
BASIC_READER = Credentials("reader", "basic-reader-pw")


def _htpasswd(users: tuple[Credentials, ...]) -> str:
    # Imported here so that a machine without bcrypt loses only the basic-auth flavour, not the plugin.
    import bcrypt

    # Cost 4 is bcrypt's minimum: the registry checks the hash on every request, keep it cheap.
    lines = []
    for user in users:
        hashed = bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        lines.append(f"{user.username}:{hashed}\n")
    return "".join(lines)


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us when pytest dies, so no registry outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class RegistryProcess:
    """One running registry. ``start()`` returns once ``/v2/`` answers."""

    def __init__(
        self,
        directory: Path,
        flavour: Flavour = Flavour.open,
        *,
        token_server: TokenServer | None = None,
        name: str | None = None,
        data_dir: Path | None = None,
    ) -> None:
        if flavour is Flavour.token and token_server is None:
            raise ValueError("a token registry needs a token_server")
        self.directory = directory
        self.flavour = flavour
        self.name = name or flavour.value
        self.token_server = token_server if flavour is Flavour.token else None
        # Storage may live elsewhere (a tmpfs): the filesystem driver fsyncs every write.
        self.data_dir = data_dir or directory / "data"
        self.config_path = directory / "config.yml"
        self.access_log_path = directory / "access.log"
        self.stderr_path = directory / "registry.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self.access_log: RegistryAccessLog

    # --- identities --------------------------------------------------------------------------------

    @property
    def admin(self) -> Credentials | None:
        """Who may push and delete (``None``: no credentials needed)."""
        if self.flavour is Flavour.basic:
            return BASIC_ADMIN
        if self.flavour is Flavour.token:
            return Credentials(ADMIN.username, ADMIN.password)
        return None

    @property
    def reader(self) -> Credentials | None:
        """A pull-only identity (token flavour: may pull ``private/``; basic: any repository)."""
        if self.flavour is Flavour.basic:
            return BASIC_READER
        if self.flavour is Flavour.token:
            return Credentials(READER.username, READER.password)
        return None

    @property
    def outsider(self) -> Credentials | None:
        """Token flavour only: a valid login that may pull ``public/`` but not ``private/``."""
        if self.flavour is Flavour.token:
            return Credentials(OUTSIDER.username, OUTSIDER.password)
        return None

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port is not None, "registry not started"
        return self._port

    @property
    def host(self) -> str:
        """The registry as a reference names it: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repository: str, tag_or_digest: str = "latest") -> str:
        """``127.0.0.1:PORT/repo:tag`` or ``127.0.0.1:PORT/repo@sha256:…``."""
        sep = "@" if ":" in tag_or_digest else ":"
        return f"{self.host}/{repository}{sep}{tag_or_digest}"

    # --- lifecycle ---------------------------------------------------------------------------------

    def _config(self) -> str:
        auth = ""
        if self.flavour is Flavour.basic:
            htpasswd = self.directory / "htpasswd"
            htpasswd.write_text(_htpasswd((BASIC_ADMIN, BASIC_READER)))
            auth = f"auth:\n  htpasswd:\n    realm: imagecheck-basic\n    path: {htpasswd}\n"
        elif self.token_server is not None:
            ts = self.token_server
            auth = (
                "auth:\n  token:\n"
                f"    realm: {ts.realm}\n    service: {ts.service}\n    issuer: {ts.issuer}\n"
                f"    rootcertbundle: {ts.cert.cert_path}\n"
            )
        return (
            "version: 0.1\n"
            "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.data_dir}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            "http:\n  addr: 127.0.0.1:0\n  secret: imagecheck-tests-not-a-secret\n" + auth
        )

    def start(self, timeout: float = 10.0) -> RegistryProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())
        with self.access_log_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(self.config_path)],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # no REGISTRY_* leaking in
                # Linux sends PDEATHSIG when the *thread* that forked exits, so only tie the
                # registry to a long-lived main thread, never to a pool worker.
                preexec_fn=_die_with_parent if threading.current_thread() is threading.main_thread() else None,
            )
        deadline = time.monotonic() + timeout
        while self._port is None:
            match = _LISTENING.search(self.stderr_path.read_text(errors="replace"))
            if match:
                self._port = int(match[1])
                break
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"registry did not start; see {self.stderr_path}")
            time.sleep(0.005)
        self.access_log = RegistryAccessLog(self.access_log_path, self.base_url)
        with httpx.Client(timeout=1.0) as client:
            while True:
                try:
                    if client.get(f"{self.base_url}/v2/").status_code in (200, 401):
                        return self
                except httpx.TransportError:
                    pass
                self._check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"registry /v2/ never answered; see {self.stderr_path}")
                time.sleep(0.005)

    def _check_alive(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited with {self._process.returncode}: "
                + self.stderr_path.read_text(errors="replace")[-2000:]
            )

    def stop(self) -> None:
        if self._process is None:
            return
        if hasattr(self, "access_log"):
            self.access_log.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
