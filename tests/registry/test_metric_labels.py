"""Registry request metrics are labelled with a bounded set of registries: configured ones and
well-known public ones by name, public wildcard families by family, anything a user typed as ``other``.

Requests go through the real client and egress transport; a fake resolver that knows no name stands in
for DNS (tests never look up a real name), so every request fails at DNS and is still counted, as a
request to an unreachable registry is in production."""

from __future__ import annotations

import socket

import pytest

from bot import metrics
from bot.domain.errors import DNSFailure
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from bot.registry.metric_labels import OTHER, RegistryLabels


class _NoSuchName:
    async def resolve(self, host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _requests(label: str) -> float:
    value = metrics.REGISTRY.get_sample_value("imagecheck_registry_requests_total",
                                               {"registry": label, "status": "error"})
    return value or 0.0


def _latency_count(label: str) -> float:
    value = metrics.REGISTRY.get_sample_value("imagecheck_registry_request_seconds_count", {"registry": label})
    return value or 0.0


async def _head(client: RegistryClient, registry: str) -> None:
    with pytest.raises(DNSFailure):
        await client.session().head_manifest(registry, "team/app", "1.0")


@pytest.mark.parametrize(("typed", "label"), [
    ("registry.corp.example", "registry.corp.example"),  # configured
    ("ghcr.io", "ghcr.io"),
    ("myteam.azurecr.io", "*.azurecr.io"),
    ("someone-typed-this.example", OTHER),
])
async def test_requests_and_latency_are_labelled_with_a_bounded_registry(typed: str, label: str) -> None:
    config = RegistryClientConfig(endpoints={"registry.corp.example": RegistryEndpoint("registry.corp.example")},
                                  use_docker_config=False)
    before, latency_before = _requests(label), _latency_count(label)
    async with RegistryClient(config, resolver=_NoSuchName()) as client:
        await _head(client, typed)
    assert _requests(label) == before + 1
    assert _latency_count(label) == latency_before + 1
    if label != typed:
        assert _requests(typed) == 0.0  # no series for what the user typed


async def test_many_typed_hosts_share_one_series() -> None:
    config = RegistryClientConfig(use_docker_config=False)
    before = _requests(OTHER)
    async with RegistryClient(config, resolver=_NoSuchName()) as client:
        for i in range(5):
            await _head(client, f"random-{i}.typo.example")
    assert _requests(OTHER) == before + 5
    labels = {s.labels["registry"] for m in metrics.REGISTRY.collect() for s in m.samples
              if m.name == "imagecheck_registry_requests"}
    assert not any("typo.example" in label for label in labels)


@pytest.mark.parametrize(("registry", "label"), [
    ("docker.io", "docker.io"), ("quay.io", "quay.io"), ("gcr.io", "gcr.io"), ("eu.gcr.io", "*.gcr.io"),
    ("europe-west1-docker.pkg.dev", "*.pkg.dev"), ("registry.gitlab.com", "registry.gitlab.com"),
    ("mcr.microsoft.com", "mcr.microsoft.com"), ("public.ecr.aws", "public.ecr.aws"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "*.dkr.ecr.amazonaws.com"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "*.dkr.ecr.amazonaws.com"),
    ("s3.amazonaws.com", OTHER),  # AWS, but not a container registry
    ("ghcr.io:8443", OTHER),  # a port the settings don't name
    ("evilgcr.io", OTHER), ("localhost:5000", OTHER),
    ("Mirror.Corp.Example:5000", "mirror.corp.example:5000"),  # configured (mirror), any case
])
def test_label_rules(registry: str, label: str) -> None:
    assert RegistryLabels(["mirror.corp.example:5000"])(registry) == label


async def test_mirrors_and_upstreams_named_in_settings_count_as_configured() -> None:
    config = RegistryClientConfig(extra_allowed_hosts=("mirror.corp.example",), use_docker_config=False)
    before = _requests("mirror.corp.example")
    async with RegistryClient(config, resolver=_NoSuchName()) as client:
        await _head(client, "mirror.corp.example")
        await _head(client, "other-mirror.corp.example")
    assert _requests("mirror.corp.example") == before + 1
