"""A running, populated registry as the fixtures hand it to tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.access_log import LoggedRequest, LogMark
from tests.support.image_builder import ScenarioSet, populate
from tests.support.registry_process import Credentials, Flavour, RegistryProcess
from tests.support.token_server import TokenServer


@dataclass(frozen=True)
class TrafficMark:
    registry: LogMark
    token: LogMark | None


@dataclass(frozen=True)
class Traffic:
    """Requests a registry (and its token server) received between a mark and now."""

    registry: list[LoggedRequest]
    token: list[LoggedRequest] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.registry) + len(self.token)


@dataclass(frozen=True)
class LocalRegistry:
    """One populated registry.

    ``scenarios``: the scenario set (prefix ``""`` for open/basic, ``"public/"`` for token);
    ``private_scenarios``: the ``private/`` set (token flavour only, else ``None``).
    """

    process: RegistryProcess
    scenarios: ScenarioSet
    private_scenarios: ScenarioSet | None = None

    @property
    def flavour(self) -> Flavour:
        return self.process.flavour

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of a reference (and the key in imagecheck settings)."""
        return self.process.host

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def admin(self) -> Credentials | None:
        return self.process.admin

    @property
    def reader(self) -> Credentials | None:
        return self.process.reader

    @property
    def outsider(self) -> Credentials | None:
        return self.process.outsider

    @property
    def token_server(self) -> TokenServer | None:
        return self.process.token_server

    def ref(self, repository: str, tag_or_digest: str = "latest") -> str:
        return self.process.ref(repository, tag_or_digest)

    def mark(self) -> TrafficMark:
        ts = self.token_server
        return TrafficMark(self.process.access_log.mark(), ts.mark() if ts else None)

    def traffic_since(self, mark: TrafficMark) -> Traffic:
        """Exact requests since ``mark`` (registry access log + token server), sentinels excluded.

        The token server is shared by every token registry in the session: run counting tests
        against one registry at a time (tests in one process run sequentially).
        """
        ts = self.token_server
        token = ts.requests_since(mark.token) if ts and mark.token else []
        return Traffic(self.process.access_log.requests_since(mark.registry), token)


@contextmanager
def running_registry(directory: Path, flavour: Flavour = Flavour.open) -> Iterator[LocalRegistry]:
    """Outside pytest (benchmarks, scripts): a populated registry, plus its token server for the token
    flavour, stopped on exit. ``directory`` holds config, logs and storage."""
    token_server = TokenServer(directory / "token-server").start() if flavour is Flavour.token else None
    process = RegistryProcess(directory / flavour.value, flavour, token_server=token_server)
    try:
        process.start()
        if flavour is Flavour.token:
            with ThreadPoolExecutor(max_workers=16) as pool:
                yield LocalRegistry(process, populate(process, "public/", pool), populate(process, "private/", pool))
        else:
            yield LocalRegistry(process, populate(process))
    finally:
        process.stop()
        if token_server is not None:
            token_server.stop()
