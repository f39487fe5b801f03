"""Plain configuration values for the registry client, built once from ``bot.settings.Settings``.

The client never reads the environment itself: the composition root hands it this object, and tests
build one directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.models import canonical_registry

if TYPE_CHECKING:
    from bot.settings import Settings

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
# Names under which Docker Hub's credentials and settings appear (docker login writes the v1 URL).
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")

MiB = 1024 * 1024
KiB = 1024


def normalize_registry(registry: str) -> str:
    """The Docker-style domain as lowercase ``host[:port]``; each Docker Hub alias becomes ``docker.io``."""
    host = registry.strip().lower()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    return canonical_registry(host.split("/", 1)[0])


@dataclass(frozen=True)
class RegistryEndpoint:
    """How to talk to one registry. ``host`` is ``host[:port]`` as the user names it."""

    host: str
    insecure: bool = False  # plain http:// (only ever for a registry named in settings)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_realms: tuple[str, ...] = ()  # extra realm hosts that may receive this registry's credentials
    ca_file: Path | None = None
    # The settings limit who may check this registry (``registries.<host>.channels``). The client
    # knows nothing of channels; it only refuses to be sent here while checking another registry.
    restricted: bool = False

    @property
    def api_host(self) -> str:
        """Where the HTTP API lives: Docker Hub's API is not at ``docker.io``."""
        return DOCKER_HUB_API_HOST if normalize_registry(self.host) == DOCKER_HUB else self.host

    @property
    def scheme(self) -> str:
        return "http" if self.insecure else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.api_host}"


@dataclass(frozen=True)
class RegistryClientConfig:
    endpoints: dict[str, RegistryEndpoint] = field(default_factory=dict)
    allow_private_hosts: tuple[str, ...] = ()
    docker_config_dir: Path | None = None  # None: $DOCKER_CONFIG, else ~/.docker
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    request_deadline_s: float = 20.0
    max_manifest_bytes: int = 4 * MiB
    max_small_body_bytes: int = 64 * KiB
    max_redirects: int = 5
    max_connections: int = 64
    per_registry_concurrency: int = 8
    credential_helper_timeout_s: float = 5.0
    # hosts the egress policy allows besides the endpoints and their token realms (mirrors, upstreams)
    extra_allowed_hosts: tuple[str, ...] = ()
    use_docker_config: bool = True  # tests switch this off to stay independent of the machine's ~/.docker

    def endpoint(self, registry: str) -> RegistryEndpoint:
        """The configured endpoint for ``registry`` (exact host:port), or a default https one."""
        key = normalize_registry(registry)
        found = self.endpoints.get(key)
        if found is not None:
            return found
        return RegistryEndpoint(host=key)

    def allowed_hosts(self) -> frozenset[str]:
        """Every ``host[:port]`` the settings name: endpoints, their token realms, mirrors, upstreams."""
        hosts = set(self.endpoints) | set(self.extra_allowed_hosts)
        for endpoint in self.endpoints.values():
            hosts.update(endpoint.token_realms)
        return frozenset(hosts)

    def insecure_hosts(self) -> frozenset[str]:
        """Hosts that may be spoken to in plain HTTP: insecure registries and their own token realms."""
        hosts: set[str] = set()
        for host, endpoint in self.endpoints.items():
            if endpoint.insecure:
                hosts.add(host)
                hosts.update(endpoint.token_realms)
        return frozenset(hosts)

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryClientConfig:
        endpoints: dict[str, RegistryEndpoint] = {}
        for host, entry in settings.registries.items():
            password = entry.resolved_password()
            key = normalize_registry(host)
            endpoints[key] = RegistryEndpoint(
                host=key,
                insecure=entry.insecure,
                username=entry.username,
                password=password.get_secret_value() if password is not None else None,
                token_realms=tuple(r.strip().lower() for r in entry.token_realms),
                ca_file=entry.ca_file,
                restricted=bool(entry.channels),
            )
        extra: list[str] = []
        for entry in settings.registries.values():
            extra.extend(m.strip().lower() for m in entry.mirrors)
            if entry.upstream:
                extra.append(entry.upstream.strip().lower())
        http = settings.http
        return cls(
            endpoints=endpoints,
            allow_private_hosts=tuple(settings.allow_private_hosts),
            docker_config_dir=settings.docker_config,
            connect_timeout_s=http.connect_timeout_s,
            read_timeout_s=http.read_timeout_s,
            request_deadline_s=http.request_deadline_s,
            max_manifest_bytes=http.max_manifest_bytes,
            max_small_body_bytes=http.max_small_body_bytes,
            max_redirects=http.max_redirects,
            max_connections=http.max_connections,
            per_registry_concurrency=http.per_registry_concurrency,
            extra_allowed_hosts=tuple(extra),
        )
