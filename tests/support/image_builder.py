"""Build small synthetic images and push them through the OCI distribution API.

Everything goes over HTTP as a client would do it (blob upload ``POST`` then monolithic ``PUT``,
manifest ``PUT``, ``DELETE`` for the broken scenarios), as the registry's push identity. Content is
derived from the repository, tag and platform, so digests are stable for a given input but differ
between scenarios; tests read digests from the returned dataclasses, never from literals.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.registry_process import Credentials, RegistryProcess

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
ACCEPT_ALL = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

AMD64 = "linux/amd64"
ARM64 = "linux/arm64/v8"
ARMV7 = "linux/arm/v7"
UNKNOWN = "unknown/unknown"

PAYMENTS_TAGS = ("1.8.3", "1.8.4-hotfix1", "1.9.0", "latest")
FILLER_TAG_COUNT = 250


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_dict(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    out = {"architecture": parts[1], "os": parts[0]}
    if len(parts) > 2:
        out["variant"] = parts[2]
    return out


# --- what was pushed -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedImage:
    """A single-platform manifest (OCI image manifest or Docker v2 schema 2)."""

    repository: str
    digest: str
    media_type: str
    size: int
    platform: str  # "linux/arm64/v8"; "unknown/unknown" for an attestation manifest
    config_digest: str
    layer_digests: tuple[str, ...]
    tags: tuple[str, ...] = ()
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class PushedIndex:
    """An OCI image index or a Docker manifest list, with its children in index order."""

    repository: str
    digest: str
    media_type: str
    size: int
    children: tuple[PushedImage, ...]
    attestations: tuple[PushedImage, ...] = ()
    tags: tuple[str, ...] = ()
    body: bytes = field(default=b"", repr=False)

    @property
    def platforms(self) -> list[str]:
        """Real platforms (attestation entries left out), e.g. ``["linux/amd64", "linux/arm64/v8"]``."""
        return [c.platform for c in self.children]

    @property
    def by_platform(self) -> dict[str, PushedImage]:
        return {c.platform: c for c in self.children}


@dataclass(frozen=True)
class TagSet:
    """A repository with many tags (pagination, nearest-tag suggestions)."""

    repository: str
    images: dict[str, PushedImage]  # the named tags: 1.8.3, 1.8.4-hotfix1, 1.9.0, latest
    digests: dict[str, str]  # every tag -> digest, filler included

    @property
    def tags(self) -> list[str]:
        """All tags, sorted (distribution 2.8 lists them in storage order, which is not sorted)."""
        return sorted(self.digests)


@dataclass(frozen=True)
class ScenarioSet:
    """The same scenarios in every registry; ``prefix`` is "" or "public/" / "private/" (token)."""

    prefix: str
    single_oci: PushedImage  # {prefix}single/oci:1.0, linux/amd64, two layers
    single_docker: PushedImage  # {prefix}single/docker:1.0, Docker v2 schema 2, linux/amd64
    multi_oci: PushedIndex  # {prefix}multi/oci:1.0, amd64 + arm64/v8 + arm/v7 + attestation
    multi_docker: PushedIndex  # {prefix}multi/docker:1.0, manifest list amd64 + arm64/v8 + arm/v7
    amd64_only: PushedIndex  # {prefix}amd64only/app:1.0, OCI index with linux/amd64 only
    dangling: PushedIndex  # {prefix}dangling/app:1.0, its arm64 child deleted after the push
    dangling_deleted: PushedImage  # that deleted child (GET by digest -> 404 MANIFEST_UNKNOWN)
    missing_blob: PushedImage  # {prefix}missingblob/app:1.0, OCI manifest, layer blob deleted
    missing_blob_digest: str  # that deleted layer (GET/HEAD blob -> 404 BLOB_UNKNOWN)
    payments: TagSet  # {prefix}payments/api: 1.8.3, 1.8.4-hotfix1, 1.9.0, latest + 250 nightly-NNN
    mirror_current: PushedImage  # {prefix}mirror/app:stable, the upstream's (newer) image
    mirror_agreed: PushedImage  # {prefix}mirror/app:agreed, identical on upstream and stale mirror

    @property
    def missing_repository(self) -> str:
        """A repository that was never pushed."""
        return f"{self.prefix}does/not-exist"

    def repo(self, name: str) -> str:
        return f"{self.prefix}{name}"


# --- HTTP ------------------------------------------------------------------------------------------

_REPO_IN_PATH = re.compile(r"^/v2/(.+?)/(?:manifests|blobs|tags)/")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class _PushAuth(httpx.Auth):
    """Answers the registry's challenge: Basic, or a Bearer token fetched from its realm per repository."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._lock = threading.Lock()
        # One client for token requests: creating an httpx client costs ~40 ms (it loads CA certificates).
        self._token_client = httpx.Client(timeout=10)

    def close(self) -> None:
        self._token_client.close()

    def _scope(self, request: httpx.Request) -> str:
        match = _REPO_IN_PATH.match(request.url.path)
        return f"repository:{match[1]}:pull,push,delete" if match else "registry:catalog:*"

    def _apply(self, request: httpx.Request, scope: str) -> bool:
        with self._lock:
            token = self._tokens.get(scope)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
            return True
        if self._basic and self.credentials:
            user_pass = f"{self.credentials.username}:{self.credentials.password}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(user_pass).decode("ascii")
            return True
        return False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = self._scope(request)
        self._apply(request, scope)
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic"):
            self._basic = True
        elif challenge.lower().startswith("bearer"):
            params = dict(_CHALLENGE_PARAM.findall(challenge))
            auth = self.credentials.as_tuple() if self.credentials else None
            reply = self._token_client.get(
                params["realm"],
                params={"service": params.get("service", ""), "scope": scope},
                auth=auth,
            )
            reply.raise_for_status()
            with self._lock:
                self._tokens[scope] = reply.json()["token"]
        else:
            return
        if self._apply(request, scope):
            yield request


class RegistryPusher:
    """Pushes and deletes through one registry's HTTP API as its admin identity."""

    def __init__(self, registry: RegistryProcess, credentials: Credentials | None = None) -> None:
        self.registry = registry
        self._auth = _PushAuth(credentials if credentials is not None else registry.admin)
        self.client = httpx.Client(
            base_url=registry.base_url,
            auth=self._auth,
            timeout=10,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self.client.close()
        self._auth.close()

    def _ok(self, response: httpx.Response, *expected: int) -> httpx.Response:
        if response.status_code not in expected:
            raise RuntimeError(
                f"{response.request.method} {response.request.url} -> {response.status_code} {response.text[:500]}"
            )
        return response

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        start = self._ok(self.client.post(f"/v2/{repository}/blobs/uploads/"), 202)
        location = httpx.URL(start.headers["Location"])
        # Keep the upload's own query (_state=…) and add the digest: httpx's params= would replace it.
        location = location.copy_merge_params({"digest": digest})
        self._ok(self.client.put(location, content=data, headers={"Content-Type": "application/octet-stream"}), 201)
        return digest

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        response = self._ok(
            self.client.put(
                f"/v2/{repository}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
            ),
            201,
        )
        digest = sha256_digest(body)
        if response.headers.get("Docker-Content-Digest") != digest:
            raise RuntimeError(f"registry stored {response.headers.get('Docker-Content-Digest')}, sent {digest}")
        return digest

    def delete_manifest(self, repository: str, digest: str) -> None:
        self._ok(self.client.delete(f"/v2/{repository}/manifests/{digest}"), 202)

    def delete_blob(self, repository: str, digest: str) -> None:
        self._ok(self.client.delete(f"/v2/{repository}/blobs/{digest}"), 202)

    # --- images --------------------------------------------------------------------------------------

    def push_image(
        self,
        repository: str,
        tags: Iterable[str],
        platform: str,
        *,
        seed: str,
        docker: bool = False,
        layers: int = 1,
    ) -> PushedImage:
        """Push config + layers + manifest; tag it with each of ``tags`` (none: by digest only)."""
        tags = tuple(tags)
        layer_blobs = [_layer_tar_gz(f"{repository}|{seed}|{platform}|layer{i}") for i in range(layers)]
        config = _config_json(platform, [diff_id for _, diff_id in layer_blobs], seed)
        config_digest = self.push_blob(repository, config)
        layer_digests = tuple(self.push_blob(repository, blob) for blob, _ in layer_blobs)
        manifest = _manifest_json(
            docker=docker,
            config=(config_digest, len(config)),
            layers=[(d, len(b)) for d, (b, _) in zip(layer_digests, layer_blobs, strict=True)],
        )
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        digest = self._push_tagged(repository, tags, manifest, media_type)
        return PushedImage(
            repository,
            digest,
            media_type,
            len(manifest),
            platform,
            config_digest,
            layer_digests,
            tags,
            manifest,
        )

    def push_attestation(self, repository: str, subject: PushedImage) -> PushedImage:
        """A buildkit-style attestation manifest (in-toto layer) for ``subject``."""
        statement = json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v0.1",
                "subject": [{"digest": {"sha256": subject.digest.split(":", 1)[1]}}],
                "predicateType": "https://spdx.dev/Document",
            }
        ).encode()
        layer_digest = self.push_blob(repository, statement)
        config = json.dumps(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            }
        ).encode()
        config_digest = self.push_blob(repository, config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [
                    {
                        "mediaType": IN_TOTO,
                        "digest": layer_digest,
                        "size": len(statement),
                        "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"},
                    }
                ],
            },
            indent=2,
        ).encode()
        digest = self.push_manifest(repository, sha256_digest(manifest), manifest, OCI_MANIFEST)
        return PushedImage(
            repository,
            digest,
            OCI_MANIFEST,
            len(manifest),
            UNKNOWN,
            config_digest,
            (layer_digest,),
            (),
            manifest,
        )

    def push_index(
        self,
        repository: str,
        tags: Iterable[str],
        platforms: Iterable[str],
        *,
        seed: str,
        docker: bool = False,
        attestation: bool = False,
    ) -> PushedIndex:
        """Push one child image per platform (untagged), then the index/list naming them."""
        tags = tuple(tags)
        children = tuple(self.push_image(repository, (), p, seed=seed, docker=docker) for p in platforms)
        attestations = (self.push_attestation(repository, children[0]),) if attestation else ()
        entries: list[dict[str, Any]] = [
            {
                "mediaType": c.media_type,
                "digest": c.digest,
                "size": c.size,
                "platform": platform_dict(c.platform),
            }
            for c in children
        ]
        for att, subject in zip(attestations, children, strict=False):
            entries.append(
                {
                    "mediaType": att.media_type,
                    "digest": att.digest,
                    "size": att.size,
                    "platform": {"architecture": "unknown", "os": "unknown"},
                    "annotations": {
                        "vnd.docker.reference.digest": subject.digest,
                        "vnd.docker.reference.type": "attestation-manifest",
                    },
                }
            )
        media_type = DOCKER_LIST if docker else OCI_INDEX
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}, indent=2).encode()
        digest = self._push_tagged(repository, tags, body, media_type)
        return PushedIndex(repository, digest, media_type, len(body), children, attestations, tags, body)

    def _push_tagged(self, repository: str, tags: tuple[str, ...], body: bytes, media_type: str) -> str:
        digest = sha256_digest(body)
        for reference in tags or (digest,):
            self.push_manifest(repository, reference, body, media_type)
        return digest

    def tag(self, image: PushedImage, tags: Iterable[str], pool: ThreadPoolExecutor | None = None) -> None:
        """Add tags to an already pushed manifest (one manifest PUT per tag)."""

        def put(tag: str) -> None:
            self.push_manifest(image.repository, tag, image.body, image.media_type)

        if pool is None:
            for tag in tags:
                put(tag)
        else:
            list(pool.map(put, tags))


def _layer_tar_gz(content: str) -> tuple[bytes, str]:
    """A real one-file tar.gz (deterministic: fixed mtimes); returns (blob, diff_id)."""
    raw = io.BytesIO()
    payload = content.encode()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/imagecheck-layer")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def _config_json(platform: str, diff_ids: list[str], seed: str) -> bytes:
    config: dict[str, Any] = {
        **platform_dict(platform),
        "created": "2026-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin", f"IMAGECHECK_SEED={seed}"], "Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "imagecheck tests"} for _ in diff_ids],
    }
    return json.dumps(config, indent=2).encode()


def _manifest_json(*, docker: bool, config: tuple[str, int], layers: list[tuple[str, int]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": config[0],
                "size": config[1],
            },
            "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": d, "size": s} for d, s in layers],
        },
        indent=2,
    ).encode()


# --- the scenario set ------------------------------------------------------------------------------


def write_tags_on_disk(registry: RegistryProcess, repository: str, digest: str, tags: Iterable[str]) -> None:
    """Tag an already pushed manifest by writing distribution 2.8's tag links straight into its storage.

    Why not the API: a manifest PUT costs ~6 ms of registry CPU, and 250 filler tags in four scenario
    sets would eat the whole session-setup budget. The registry has no cache configured and reads tag
    links from disk on every request, so these tags are indistinguishable from pushed ones (the
    support tests check ``tags/list`` and a manifest GET by a written tag).
    """
    algorithm, hex_digest = digest.split(":", 1)
    tags_dir = registry.data_dir / "docker/registry/v2/repositories" / repository / "_manifests/tags"
    if not tags_dir.is_dir():
        raise RuntimeError(f"push something to {repository} through the API first")
    for tag in tags:
        for link_dir in (tags_dir / tag / "current", tags_dir / tag / "index" / algorithm / hex_digest):
            link_dir.mkdir(parents=True, exist_ok=True)
            (link_dir / "link").write_text(digest)


def filler_tags(count: int = FILLER_TAG_COUNT) -> list[str]:
    """Tags unlike the named ones (``nightly-000``…), so they never look like semver neighbours."""
    return [f"nightly-{i:03d}" for i in range(count)]


def populate(registry: RegistryProcess, prefix: str = "", pool: ThreadPoolExecutor | None = None) -> ScenarioSet:
    """Push every scenario of ``ScenarioSet`` under ``prefix`` into ``registry``."""
    pusher = RegistryPusher(registry)
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=int(__import__("os").environ.get("W", "16")))
    try:
        p = prefix

        def payments() -> TagSet:
            repo = f"{p}payments/api"
            images = {
                tag: pusher.push_image(repo, (tag,), AMD64, seed=f"payments-{tag}")
                for tag in ("1.8.3", "1.8.4-hotfix1", "1.9.0")
            }
            pusher.tag(images["1.9.0"], ("latest",))
            images["latest"] = images["1.9.0"]
            filler = pusher.push_image(repo, ("nightly-000",), AMD64, seed="payments-nightly")
            names = filler_tags()
            write_tags_on_disk(registry, repo, filler.digest, names[1:])
            digests = {tag: img.digest for tag, img in images.items()} | dict.fromkeys(names, filler.digest)
            return TagSet(repo, images, digests)

        def dangling() -> tuple[PushedIndex, PushedImage]:
            index = pusher.push_index(f"{p}dangling/app", ("1.0",), (AMD64, ARM64), seed="dangling")
            gone = index.by_platform[ARM64]
            pusher.delete_manifest(gone.repository, gone.digest)
            return index, gone

        def missing_blob() -> tuple[PushedImage, str]:
            image = pusher.push_image(f"{p}missingblob/app", ("1.0",), AMD64, seed="missingblob")
            pusher.delete_blob(image.repository, image.layer_digests[0])
            return image, image.layer_digests[0]

        submit = pool.submit
        f_payments = submit(payments)
        f_single_oci = submit(pusher.push_image, f"{p}single/oci", ("1.0",), AMD64, seed="single-oci", layers=2)
        f_single_docker = submit(
            pusher.push_image, f"{p}single/docker", ("1.0",), AMD64, seed="single-docker", docker=True
        )
        all_three = (AMD64, ARM64, ARMV7)
        f_multi_oci = submit(
            pusher.push_index, f"{p}multi/oci", ("1.0",), all_three, seed="multi-oci", attestation=True
        )
        f_multi_docker = submit(
            pusher.push_index, f"{p}multi/docker", ("1.0",), all_three, seed="multi-docker", docker=True
        )
        f_amd64_only = submit(pusher.push_index, f"{p}amd64only/app", ("1.0",), (AMD64,), seed="amd64-only")
        f_dangling = submit(dangling)
        f_missing_blob = submit(missing_blob)
        f_mirror_current = submit(pusher.push_image, f"{p}mirror/app", ("stable",), AMD64, seed="mirror-new")
        f_mirror_agreed = submit(pusher.push_image, f"{p}mirror/app", ("agreed",), AMD64, seed="mirror-agreed")
        dangling_index, deleted = f_dangling.result()
        broken, blob = f_missing_blob.result()
        return ScenarioSet(
            prefix=prefix,
            single_oci=f_single_oci.result(),
            single_docker=f_single_docker.result(),
            multi_oci=f_multi_oci.result(),
            multi_docker=f_multi_docker.result(),
            amd64_only=f_amd64_only.result(),
            dangling=dangling_index,
            dangling_deleted=deleted,
            missing_blob=broken,
            missing_blob_digest=blob,
            payments=f_payments.result(),
            mirror_current=f_mirror_current.result(),
            mirror_agreed=f_mirror_agreed.result(),
        )
    finally:
        if own_pool:
            pool.shutdown()
        pusher.close()


@dataclass(frozen=True)
class StaleMirror:
    """A second registry that serves an *older* image for a tag than its upstream does."""

    mirror: RegistryProcess
    upstream: RegistryProcess
    repository: str  # "mirror/app" (+ the upstream's prefix)
    tag: str  # "stable": digests differ
    upstream_digest: str
    mirror_digest: str
    agreed_tag: str  # "agreed": same digest on both
    agreed_digest: str


def populate_stale_mirror(mirror: RegistryProcess, upstream: RegistryProcess, upstream_set: ScenarioSet) -> StaleMirror:
    pusher = RegistryPusher(mirror)
    try:
        repo = upstream_set.mirror_current.repository
        old = pusher.push_image(repo, ("stable",), AMD64, seed="mirror-old")
        # Same inputs as the upstream's "agreed" image, so the same bytes and digest.
        agreed = pusher.push_image(repo, ("agreed",), AMD64, seed="mirror-agreed")
        if agreed.digest != upstream_set.mirror_agreed.digest:
            raise RuntimeError("mirror/app:agreed should be byte-identical on mirror and upstream")
        return StaleMirror(
            mirror,
            upstream,
            repo,
            "stable",
            upstream_set.mirror_current.digest,
            old.digest,
            "agreed",
            agreed.digest,
        )
    finally:
        pusher.close()
