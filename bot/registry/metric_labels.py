"""The ``registry`` label of the registry request metrics, kept to a bounded set of values.

A reference is typed by a user, so labelling with its host would let anyone mint a new time series per
request. The label names a registry only when the operator configured it (an endpoint, mirror or
upstream in the settings) or it is one of the well-known public registries. Registries under a public
wildcard family are labelled with the family (``*.azurecr.io``), not the host: their account or region
part is typed by users too. Everything else is ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER = "other"

WELL_KNOWN = frozenset({
    "docker.io", "ghcr.io", "quay.io", "gcr.io", "registry.gitlab.com", "mcr.microsoft.com", "public.ecr.aws",
})

# (label, how a host of the family ends); ECR hosts are <account>.dkr.ecr.<region>.amazonaws.com[.cn]
_FAMILIES = (
    ("*.gcr.io", (".gcr.io",)),
    ("*.pkg.dev", (".pkg.dev",)),
    ("*.azurecr.io", (".azurecr.io",)),
    ("*.dkr.ecr.amazonaws.com", (".amazonaws.com", ".amazonaws.com.cn")),
)


def _family(host: str) -> str | None:
    for label, endings in _FAMILIES:
        if host.endswith(endings):
            if label.startswith("*.dkr.ecr") and ".dkr.ecr." not in host:
                return None  # some other AWS service, not a container registry
            return label
    return None


class RegistryLabels:
    """Maps a normalised registry (``host[:port]``) to its metric label."""

    def __init__(self, configured: Iterable[str]) -> None:
        self._configured = frozenset(h.strip().lower() for h in configured)

    def __call__(self, registry: str) -> str:
        host = registry.strip().lower()
        if host in self._configured or host in WELL_KNOWN:
            return host
        return _family(host) or OTHER
