"""The registry client against real distribution 2.8 registries (B1's fixtures), counted from the
registries' access logs and the token server's log, and compared with skopeo where it answers the
same question."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import BlobUnknown, ManifestUnknown, NameUnknown, RegistryAuthError
from bot.domain.models import ManifestKind
from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from tests.support.local_registry import LocalRegistry
from tests.support.skopeo import skopeo_inspect

pytestmark = pytest.mark.timeout(120)


def _client(registry: LocalRegistry, *, username: str | None = None, password: str | None = None
            ) -> RegistryClient:
    realms = (f"127.0.0.1:{registry.token_server.port}",) if registry.token_server else ()
    endpoint = RegistryEndpoint(registry.host, insecure=True, username=username, password=password,
                                token_realms=realms)
    return RegistryClient(RegistryClientConfig(endpoints={registry.host: endpoint}, use_docker_config=False))


async def test_single_image_head_then_get_matches_skopeo(registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_oci
    mark = registry_open.mark()
    async with _client(registry_open) as client:
        session = client.session()
        head = await session.head_manifest(registry_open.host, image.repository, "1.0")
        manifest = await session.get_manifest(registry_open.host, image.repository, "1.0")
    traffic = registry_open.traffic_since(mark)
    assert [(r.method, r.status) for r in traffic.registry] == [("HEAD", 200), ("GET", 200)]
    assert session.request_count == traffic.total == 2
    assert head.digest == manifest.digest == image.digest
    assert manifest.kind is ManifestKind.image
    assert manifest.media_type == image.media_type
    assert manifest.config is not None
    assert manifest.config.digest == image.config_digest
    assert tuple(layer.digest for layer in manifest.layers) == image.layer_digests
    skopeo = await asyncio.to_thread(skopeo_inspect, registry_open.ref(image.repository, "1.0"))
    assert skopeo["Digest"] == manifest.digest


async def test_docker_schema2_is_not_converted_to_schema1(registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_docker
    async with _client(registry_open) as client:
        manifest = await client.session().get_manifest(registry_open.host, image.repository, "1.0")
    assert manifest.digest == image.digest
    assert manifest.media_type == "application/vnd.docker.distribution.manifest.v2+json"


@pytest.mark.parametrize("which", ["multi_oci", "multi_docker"])
async def test_index_entries_platforms_and_attestations(registry_open: LocalRegistry, which: str) -> None:
    index = getattr(registry_open.scenarios, which)
    async with _client(registry_open) as client:
        manifest = await client.session().get_manifest(registry_open.host, index.repository, "1.0")
    assert manifest.kind is ManifestKind.index
    assert manifest.digest == index.digest
    real = [(str(e.platform), e.digest) for e in manifest.entries if not e.attestation]
    assert real == [(c.platform, c.digest) for c in index.children]
    attestations = [e for e in manifest.entries if e.attestation]
    assert len(attestations) == len(index.attestations)


async def test_child_of_index_by_digest_is_verified(registry_open: LocalRegistry) -> None:
    index = registry_open.scenarios.multi_oci
    arm = index.by_platform["linux/arm64/v8"]
    async with _client(registry_open) as client:
        session = client.session()
        child = await session.get_manifest(registry_open.host, index.repository, arm.digest)
        config = await session.get_image_config(registry_open.host, index.repository, arm.config_digest)
    assert child.digest == arm.digest
    assert (config.os, config.architecture, config.variant) == ("linux", "arm64", "v8")


async def test_dangling_child_and_missing_blob(registry_open: LocalRegistry) -> None:
    scenarios = registry_open.scenarios
    async with _client(registry_open) as client:
        session = client.session()
        with pytest.raises(ManifestUnknown):
            await session.head_manifest(registry_open.host, scenarios.dangling.repository,
                                        scenarios.dangling_deleted.digest)
        image = scenarios.missing_blob
        await session.head_manifest(registry_open.host, image.repository, "1.0")  # manifest is fine
        with pytest.raises(BlobUnknown) as info:
            await session.head_blob(registry_open.host, image.repository, scenarios.missing_blob_digest)
        present = await session.head_blob(registry_open.host, image.repository, image.config_digest)
    assert info.value.evidence.status == 404
    assert present.size is not None


async def test_missing_tag_vs_missing_repository(registry_open: LocalRegistry) -> None:
    scenarios = registry_open.scenarios
    async with _client(registry_open) as client:
        session = client.session()
        with pytest.raises(ManifestUnknown):
            await session.get_manifest(registry_open.host, scenarios.single_oci.repository, "9.9.9")
        with pytest.raises(ManifestUnknown):  # distribution says MANIFEST_UNKNOWN here too
            await session.head_manifest(registry_open.host, scenarios.missing_repository, "1.0")
        with pytest.raises(NameUnknown) as info:  # the tags list tells the two apart
            await session.list_tags(registry_open.host, scenarios.missing_repository)
    assert info.value.code == "NAME_UNKNOWN"


async def test_list_tags_of_a_real_registry(registry_open: LocalRegistry) -> None:
    payments = registry_open.scenarios.payments
    async with _client(registry_open) as client:
        listed = await client.session().list_tags(registry_open.host, payments.repository)
    assert sorted(listed.tags) == sorted(payments.digests)
    assert not listed.truncated


async def test_basic_auth_registry(registry_basic: LocalRegistry) -> None:
    assert registry_basic.reader is not None
    image = registry_basic.scenarios.single_oci
    reader = registry_basic.reader
    async with _client(registry_basic, username=reader.username, password=reader.password) as client:
        head = await client.session().head_manifest(registry_basic.host, image.repository, "1.0")
        assert head.digest == image.digest
        assert head.meta.authenticated
        with pytest.raises(RegistryAuthError) as anon:
            await client.session().head_manifest(registry_basic.host, image.repository, "1.0",
                                                 anonymous=True)
    assert not anon.value.credentials_used
    async with _client(registry_basic, username=reader.username, password="wrong-password-42") as client:
        with pytest.raises(RegistryAuthError) as wrong:
            await client.session().head_manifest(registry_basic.host, image.repository, "1.0")
    assert wrong.value.credentials_used
    assert "wrong-password-42" not in str(wrong.value) + wrong.value.evidence.model_dump_json()


async def test_token_registry_counts_and_token_reuse(registry_token: LocalRegistry) -> None:
    image = registry_token.scenarios.single_oci
    async with _client(registry_token) as client:
        mark = registry_token.mark()
        first = client.session()
        head = await first.head_manifest(registry_token.host, image.repository, "1.0")
        traffic = registry_token.traffic_since(mark)
        assert head.digest == image.digest
        assert [r.status for r in traffic.registry] == [401, 200]
        assert len(traffic.token) == 1
        assert first.request_count == traffic.total == 3

        mark = registry_token.mark()
        repeat = client.session()
        await repeat.head_manifest(registry_token.host, image.repository, "1.0")
        await repeat.get_manifest(registry_token.host, image.repository, "1.0")
        traffic = registry_token.traffic_since(mark)
        assert traffic.token == []  # a repeat check in the same process makes no token request
        assert repeat.request_count == traffic.total == 2


async def test_token_registry_private_with_and_without_credentials(registry_token: LocalRegistry) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.reader is not None
    image = registry_token.private_scenarios.single_oci
    reader = registry_token.reader
    async with _client(registry_token, username=reader.username, password=reader.password) as client:
        session = client.session()
        manifest = await session.get_manifest(registry_token.host, image.repository, "1.0")
        assert manifest.digest == image.digest
        assert manifest.meta.authenticated
        with pytest.raises(RegistryAuthError) as info:
            await session.get_manifest(registry_token.host, image.repository, "1.0", anonymous=True)
    assert info.value.insufficient_scope
    assert not info.value.credentials_used
    # a private repository that does not exist looks the same to an anonymous client
    async with _client(registry_token) as client:
        with pytest.raises(RegistryAuthError) as missing:
            await client.session().head_manifest(registry_token.host, "private/never-pushed", "1.0")
    assert missing.value.insufficient_scope
    skopeo = await asyncio.to_thread(skopeo_inspect, registry_token.ref(image.repository, "1.0"),
                                     creds=f"{reader.username}:{reader.password}")
    assert skopeo["Digest"] == manifest.digest


async def test_wrong_password_on_token_registry(registry_token: LocalRegistry) -> None:
    assert registry_token.reader is not None
    async with _client(registry_token, username=registry_token.reader.username,
                       password="definitely-wrong-77") as client:
        with pytest.raises(RegistryAuthError) as info:
            await client.session().head_manifest(registry_token.host, "private/single/oci", "1.0")
    assert info.value.credentials_used
    assert "definitely-wrong-77" not in str(info.value) + info.value.evidence.model_dump_json()
