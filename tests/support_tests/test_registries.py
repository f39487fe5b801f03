"""The local registries are up, authenticate as described, and hold exactly the scenarios we pushed."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.image_builder import (
    ACCEPT_ALL,
    AMD64,
    ARM64,
    ARMV7,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    UNKNOWN,
    PushedImage,
    PushedIndex,
    RegistryPusher,
    StaleMirror,
)
from tests.support.local_registry import LocalRegistry, running_registry
from tests.support.registry_process import Flavour, RegistryProcess
from tests.support.skopeo import SkopeoError, skopeo_inspect
from tests.support.token_server import TokenServer


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bearer(token_server: TokenServer, scope: str, auth: tuple[str, str] | None = None) -> str:
    reply = httpx.get(token_server.realm, params={"service": token_server.service, "scope": scope}, auth=auth)
    reply.raise_for_status()
    return str(reply.json()["token"])


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def get_manifest(registry: LocalRegistry, repository: str, reference: str, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{registry.base_url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": ACCEPT_ALL, **headers},
    )


# --- each flavour is up and guards what it should ----------------------------------------------------


def test_open_registry_answers_v2_without_credentials(registry_open: LocalRegistry) -> None:
    reply = httpx.get(f"{registry_open.base_url}/v2/")
    assert reply.status_code == 200
    assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert registry_open.host == f"127.0.0.1:{registry_open.process.port}"


def test_basic_registry_needs_the_right_password(registry_basic: LocalRegistry) -> None:
    assert registry_basic.reader is not None
    assert registry_basic.admin is not None
    image = registry_basic.scenarios.single_oci
    url = f"{registry_basic.base_url}/v2/{image.repository}/manifests/1.0"
    anonymous = httpx.get(url, headers={"Accept": ACCEPT_ALL})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = httpx.get(url, headers={"Accept": ACCEPT_ALL}, auth=(registry_basic.reader.username, "nope"))
    assert wrong.status_code == 401
    for who in (registry_basic.reader, registry_basic.admin):
        ok = httpx.get(url, headers={"Accept": ACCEPT_ALL}, auth=who.as_tuple())
        assert ok.status_code == 200
        assert ok.headers["Docker-Content-Digest"] == image.digest


def test_token_registry_challenges_with_our_realm(registry_token: LocalRegistry, token_server: TokenServer) -> None:
    reply = httpx.get(f"{registry_token.base_url}/v2/")
    assert reply.status_code == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{token_server.realm}"' in challenge
    assert f'service="{token_server.service}"' in challenge


def test_token_registry_lets_anyone_pull_public(registry_token: LocalRegistry, token_server: TokenServer) -> None:
    image = registry_token.scenarios.single_oci
    assert image.repository.startswith("public/")
    token = bearer(token_server, f"repository:{image.repository}:pull")
    assert jwt_claims(token)["access"] == [{"type": "repository", "name": image.repository, "actions": ["pull"]}]
    reply = get_manifest(registry_token, image.repository, "1.0", Authorization=f"Bearer {token}")
    assert reply.status_code == 200
    assert reply.headers["Docker-Content-Digest"] == image.digest


def test_token_registry_gives_anonymous_an_empty_token_for_private(
    registry_token: LocalRegistry, token_server: TokenServer
) -> None:
    assert registry_token.private_scenarios is not None
    image = registry_token.private_scenarios.single_oci
    token = bearer(token_server, f"repository:{image.repository}:pull")
    claims = jwt_claims(token)
    assert claims["access"] == [{"type": "repository", "name": image.repository, "actions": []}]
    assert claims["aud"] == token_server.service
    assert claims["iss"] == token_server.issuer
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["jti"]
    reply = get_manifest(registry_token, image.repository, "1.0", Authorization=f"Bearer {token}")
    assert reply.status_code == 401
    assert 'error="insufficient_scope"' in reply.headers["WWW-Authenticate"]


def test_a_private_repo_that_does_not_exist_looks_the_same_to_anonymous(
    registry_token: LocalRegistry, token_server: TokenServer
) -> None:
    assert registry_token.private_scenarios is not None
    missing = registry_token.private_scenarios.missing_repository
    token = bearer(token_server, f"repository:{missing}:pull")
    reply = get_manifest(registry_token, missing, "1.0", Authorization=f"Bearer {token}")
    assert reply.status_code == 401
    assert 'error="insufficient_scope"' in reply.headers["WWW-Authenticate"]


def test_token_registry_lets_the_reader_pull_private(registry_token: LocalRegistry, token_server: TokenServer) -> None:
    assert registry_token.private_scenarios is not None
    assert registry_token.reader is not None
    image = registry_token.private_scenarios.single_docker
    token = bearer(token_server, f"repository:{image.repository}:pull,push", registry_token.reader.as_tuple())
    # The reader asked for push too and got only pull.
    assert jwt_claims(token)["access"][0]["actions"] == ["pull"]
    reply = get_manifest(registry_token, image.repository, "1.0", Authorization=f"Bearer {token}")
    assert reply.status_code == 200
    assert reply.headers["Docker-Content-Digest"] == image.digest


def test_token_server_refuses_a_wrong_password(token_server: TokenServer) -> None:
    reply = httpx.get(
        token_server.realm,
        params={"service": token_server.service, "scope": "repository:private/x:pull"},
        auth=("reader", "wrong"),
    )
    assert reply.status_code == 401
    unknown_service = httpx.get(token_server.realm, params={"service": "other", "scope": "repository:x:pull"})
    assert unknown_service.status_code == 400


def test_token_response_has_docker_fields(token_server: TokenServer) -> None:
    body = httpx.get(token_server.realm, params={"service": token_server.service}).json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == token_server.expires_in
    assert body["issued_at"].endswith("Z")


# --- what was pushed is what is there ---------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["open", "basic", "token"])
def test_every_scenario_digest_is_what_the_registry_serves(
    flavour: str, registry_open: LocalRegistry, registry_basic: LocalRegistry, registry_token: LocalRegistry
) -> None:
    registry = {"open": registry_open, "basic": registry_basic, "token": registry_token}[flavour]
    sets = [registry.scenarios] + ([registry.private_scenarios] if registry.private_scenarios else [])
    pusher = RegistryPusher(registry.process)  # admin identity; handles Basic and Bearer challenges
    try:
        for scenarios in sets:
            checks: list[tuple[PushedImage | PushedIndex, str]] = [
                (scenarios.single_oci, "1.0"),
                (scenarios.single_docker, "1.0"),
                (scenarios.multi_oci, "1.0"),
                (scenarios.multi_docker, "1.0"),
                (scenarios.amd64_only, "1.0"),
                (scenarios.dangling, "1.0"),
                (scenarios.missing_blob, "1.0"),
                (scenarios.mirror_current, "stable"),
            ]
            for image, tag in checks:
                reply = pusher.client.get(f"/v2/{image.repository}/manifests/{tag}", headers={"Accept": ACCEPT_ALL})
                assert reply.status_code == 200, (image.repository, reply.text)
                assert reply.headers["Docker-Content-Digest"] == image.digest == sha256(reply.content)
                assert reply.headers["Content-Type"] == image.media_type
    finally:
        pusher.close()


def test_skopeo_sees_the_same_digests_as_we_pushed(registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    inspected = skopeo_inspect(registry_open.ref(s.single_oci.repository, "1.0"))
    assert inspected["Digest"] == s.single_oci.digest
    assert inspected["Architecture"] == "amd64"
    assert inspected["Os"] == "linux"
    assert inspected["Layers"] == list(s.single_oci.layer_digests)
    raw = skopeo_inspect(registry_open.ref(s.multi_oci.repository, "1.0"), raw=True)
    assert raw["mediaType"] == OCI_INDEX
    assert [m["digest"] for m in raw["manifests"]] == [c.digest for c in s.multi_oci.children] + [
        a.digest for a in s.multi_oci.attestations
    ]
    docker = skopeo_inspect(registry_open.ref(s.single_docker.repository, "1.0"))
    assert docker["Digest"] == s.single_docker.digest


def test_skopeo_pulls_with_credentials_and_fails_without(
    registry_basic: LocalRegistry, registry_token: LocalRegistry
) -> None:
    assert registry_basic.reader is not None
    assert registry_token.reader is not None
    assert registry_token.private_scenarios is not None
    basic_image = registry_basic.scenarios.single_oci
    assert (
        skopeo_inspect(registry_basic.ref(basic_image.repository, "1.0"), creds=registry_basic.reader.skopeo())[
            "Digest"
        ]
        == basic_image.digest
    )
    public = registry_token.scenarios.single_oci
    assert skopeo_inspect(registry_token.ref(public.repository, "1.0"))["Digest"] == public.digest
    private = registry_token.private_scenarios.single_oci
    with pytest.raises(SkopeoError):
        skopeo_inspect(registry_token.ref(private.repository, "1.0"))
    inspected = skopeo_inspect(registry_token.ref(private.repository, "1.0"), creds=registry_token.reader.skopeo())
    assert inspected["Digest"] == private.digest


def test_multi_arch_index_and_manifest_list(registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    index = get_manifest(registry_open, s.multi_oci.repository, "1.0").json()
    platforms = [
        "/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant"))))
        for m in index["manifests"]
    ]
    assert platforms == [AMD64, ARM64, ARMV7, UNKNOWN]
    attestation = index["manifests"][-1]
    assert attestation["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert attestation["annotations"]["vnd.docker.reference.digest"] == s.multi_oci.by_platform[AMD64].digest
    assert s.multi_oci.platforms == [AMD64, ARM64, ARMV7]
    docker_list = get_manifest(registry_open, s.multi_docker.repository, "1.0")
    assert docker_list.headers["Content-Type"] == DOCKER_LIST
    assert {m["mediaType"] for m in docker_list.json()["manifests"]} == {DOCKER_MANIFEST}
    assert s.amd64_only.platforms == [AMD64]
    # Every child is a real image whose config names its platform.
    for child in s.multi_oci.children:
        manifest = get_manifest(registry_open, child.repository, child.digest).json()
        config = httpx.get(f"{registry_open.base_url}/v2/{child.repository}/blobs/{manifest['config']['digest']}")
        os_, arch, *variant = child.platform.split("/")
        assert (config.json()["os"], config.json()["architecture"]) == (os_, arch)
        assert config.json().get("variant") == (variant[0] if variant else None)


def test_dangling_index_child_is_really_gone(registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    index = get_manifest(registry_open, s.dangling.repository, "1.0")
    assert index.status_code == 200
    assert s.dangling_deleted.digest in [m["digest"] for m in index.json()["manifests"]]
    gone = get_manifest(registry_open, s.dangling_deleted.repository, s.dangling_deleted.digest)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    kept = s.dangling.by_platform[AMD64]
    assert get_manifest(registry_open, kept.repository, kept.digest).status_code == 200


def test_missing_blob_is_really_gone(registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    base = f"{registry_open.base_url}/v2/{s.missing_blob.repository}/blobs/"
    assert get_manifest(registry_open, s.missing_blob.repository, "1.0").status_code == 200
    assert httpx.head(base + s.missing_blob_digest).status_code == 404
    missing = httpx.get(base + s.missing_blob_digest)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert httpx.head(base + s.missing_blob.config_digest).status_code == 200


def test_payments_repository_has_every_tag(registry_open: LocalRegistry) -> None:
    payments = registry_open.scenarios.payments
    listed = httpx.get(f"{registry_open.base_url}/v2/{payments.repository}/tags/list").json()["tags"]
    assert sorted(listed) == payments.tags
    assert len(listed) == 254
    assert {"1.8.3", "1.8.4-hotfix1", "1.9.0", "latest"} <= set(listed)
    assert payments.digests["latest"] == payments.images["1.9.0"].digest
    assert len({payments.digests[t] for t in ("1.8.3", "1.8.4-hotfix1", "1.9.0")}) == 3
    # A filler tag written straight into storage is served like a pushed one.
    filler = get_manifest(registry_open, payments.repository, "nightly-123")
    assert filler.headers["Docker-Content-Digest"] == payments.digests["nightly-123"]


def test_stale_mirror_disagrees_with_upstream_on_one_tag(stale_mirror: StaleMirror) -> None:
    def head(registry: RegistryProcess, tag: str) -> str:
        reply = httpx.head(
            f"{registry.base_url}/v2/{stale_mirror.repository}/manifests/{tag}",
            headers={"Accept": ACCEPT_ALL},
        )
        return reply.headers["Docker-Content-Digest"]

    assert head(stale_mirror.upstream, stale_mirror.tag) == stale_mirror.upstream_digest
    assert head(stale_mirror.mirror, stale_mirror.tag) == stale_mirror.mirror_digest
    assert stale_mirror.mirror_digest != stale_mirror.upstream_digest
    assert head(stale_mirror.mirror, stale_mirror.agreed_tag) == stale_mirror.agreed_digest
    assert head(stale_mirror.upstream, stale_mirror.agreed_tag) == stale_mirror.agreed_digest
    assert stale_mirror.mirror.port != stale_mirror.upstream.port


def test_extra_registry_starts_empty_and_accepts_pushes(start_registry: Any) -> None:
    extra: RegistryProcess = start_registry(Flavour.open, name="extra-for-test")
    assert httpx.get(f"{extra.base_url}/v2/_catalog").json() == {"repositories": []}
    pusher = RegistryPusher(extra)
    try:
        image: PushedImage = pusher.push_image("team/tool", ("v1",), AMD64, seed="extra")
    finally:
        pusher.close()
    reply = httpx.head(f"{extra.base_url}/v2/team/tool/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert reply.headers["Docker-Content-Digest"] == image.digest


# --- the distribution 2.8 facts the engine relies on (issue 2) ------------------------------------


def test_fact_oci_index_is_404_when_accept_omits_it(registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    reply = httpx.get(
        f"{registry_open.base_url}/v2/{s.multi_oci.repository}/manifests/1.0",
        headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"},
    )
    assert reply.status_code == 404
    assert reply.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_fact_missing_repository_differs_only_in_tags_list(registry_open: LocalRegistry) -> None:
    missing = registry_open.scenarios.missing_repository
    manifest = get_manifest(registry_open, missing, "1.0")
    assert manifest.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    tags = httpx.get(f"{registry_open.base_url}/v2/{missing}/tags/list")
    assert tags.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    existing = registry_open.scenarios.single_oci.repository
    missing_tag = get_manifest(registry_open, existing, "no-such-tag")
    assert missing_tag.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert httpx.get(f"{registry_open.base_url}/v2/{existing}/tags/list").json()["tags"] == ["1.0"]


def test_fact_tags_list_ignores_page_size(registry_open: LocalRegistry) -> None:
    payments = registry_open.scenarios.payments
    reply = httpx.get(f"{registry_open.base_url}/v2/{payments.repository}/tags/list", params={"n": "10"})
    assert len(reply.json()["tags"]) == len(payments.tags)
    assert "Link" not in reply.headers


def test_token_is_an_es256_jwt_signed_by_the_bundled_certificate(token_server: TokenServer) -> None:
    token = bearer(token_server, "repository:public/x:pull")
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header["alg"] == "ES256"
    # The x5c certificate is the one the registry trusts (its rootcertbundle).
    bundled = x509.load_pem_x509_certificate(token_server.cert.cert_path.read_bytes())
    carried = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert carried == bundled
    raw = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public_key = bundled.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))


def test_running_registry_works_outside_pytest_fixtures(tmp_path: Path) -> None:
    with running_registry(tmp_path, Flavour.open) as registry:
        image = registry.scenarios.single_docker
        reply = httpx.head(f"{registry.base_url}/v2/{image.repository}/manifests/1.0", headers={"Accept": ACCEPT_ALL})
        assert reply.headers["Docker-Content-Digest"] == image.digest
        process = registry.process
    assert not process.running


def test_token_registry_outsider_logs_in_but_cannot_pull_private(
    registry_token: LocalRegistry, token_server: TokenServer
) -> None:
    assert registry_token.outsider is not None
    assert registry_token.private_scenarios is not None
    private = registry_token.private_scenarios.single_oci
    token = bearer(token_server, f"repository:{private.repository}:pull", registry_token.outsider.as_tuple())
    assert jwt_claims(token)["sub"] == registry_token.outsider.username
    assert jwt_claims(token)["access"][0]["actions"] == []
    denied = get_manifest(registry_token, private.repository, "1.0", Authorization=f"Bearer {token}")
    assert denied.status_code == 401
    public = registry_token.scenarios.single_oci
    token = bearer(token_server, f"repository:{public.repository}:pull", registry_token.outsider.as_tuple())
    assert get_manifest(registry_token, public.repository, "1.0", Authorization=f"Bearer {token}").status_code == 200


def test_fact_docker_manifest_without_accept_comes_back_as_schema1(registry_open: LocalRegistry) -> None:
    image = registry_open.scenarios.single_docker
    reply = httpx.get(f"{registry_open.base_url}/v2/{image.repository}/manifests/1.0")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/vnd.docker.distribution.manifest.v1")
    assert reply.json()["schemaVersion"] == 1
    assert reply.headers["Docker-Content-Digest"] != image.digest
