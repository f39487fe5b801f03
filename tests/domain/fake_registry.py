"""An in-memory ``RegistryPort`` for unit tests of the domain's pure logic.

It answers like distribution 2.8 does (MANIFEST_UNKNOWN for a missing repository's manifest, NAME_UNKNOWN
for its tags list, BLOB_UNKNOWN for a missing blob) and counts one request per call. Failures that
need a real server to produce (TLS, DNS, timeouts, 429) are injected as the domain errors the adapter
raises; the integration tests produce them for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.errors import BlobUnknown, ImagecheckError, ManifestUnknown, NameUnknown
from bot.domain.models import (
    BlobHead,
    Descriptor,
    Evidence,
    ImageConfig,
    IndexEntry,
    Manifest,
    ManifestHead,
    ManifestKind,
    Platform,
    RateLimit,
    ResponseMeta,
    TagList,
)

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Repo:
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, Manifest] = field(default_factory=dict)
    configs: dict[str, ImageConfig] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)

    def push_image(self, name: str, platform: str = "linux/amd64", *, tag: str | None = None,
                   layers: int = 2) -> Manifest:
        os_, arch, *variant = platform.split("/")
        config_digest = digest_of(f"config {name} {platform}")
        layer_descs = [Descriptor(media_type=OCI_LAYER, digest=digest_of(f"layer {name} {platform} {i}"),
                                  size=10) for i in range(layers)]
        manifest = Manifest(digest=digest_of(f"manifest {name} {platform}"), media_type=OCI_MANIFEST,
                            kind=ManifestKind.image, size=300,
                            config=Descriptor(media_type=OCI_CONFIG, digest=config_digest, size=50),
                            layers=layer_descs, meta=ResponseMeta(status=200))
        self.manifests[manifest.digest] = manifest
        self.configs[config_digest] = ImageConfig(os=os_, architecture=arch,
                                                  variant=variant[0] if variant else None)
        self.blobs |= {config_digest, *(d.digest for d in layer_descs)}
        if tag:
            self.tags[tag] = manifest.digest
        return manifest

    def push_index(self, name: str, platforms: list[str], *, tag: str | None = None) -> Manifest:
        entries = []
        for platform in platforms:
            child = self.push_image(f"{name}-{platform}", platform)
            os_, arch, *variant = platform.split("/")
            entries.append(IndexEntry(media_type=OCI_MANIFEST, digest=child.digest, size=child.size,
                                      platform=Platform(os=os_, architecture=arch,
                                                        variant=variant[0] if variant else None)))
        index = Manifest(digest=digest_of(f"index {name}"), media_type=OCI_INDEX, kind=ManifestKind.index,
                         size=500, entries=entries, meta=ResponseMeta(status=200))
        self.manifests[index.digest] = index
        if tag:
            self.tags[tag] = index.digest
        return index


# (operation, registry, repository, reference, anonymous) -> an error to raise, or None to answer
Failure = Callable[[str, str, str, str, bool], ImagecheckError | None]


class FakeRegistry:
    def __init__(self, hosts: dict[str, dict[str, Repo]], *, credentials_for: set[str] | None = None,
                 fail: Failure | None = None, date: datetime | None = None,
                 rate_limit: RateLimit | None = None) -> None:
        self.hosts = hosts
        self.credentials_for = credentials_for or set()
        self.fail = fail
        self.date = date
        self.rate_limit = rate_limit
        self.calls: list[tuple[str, str, str, str, bool]] = []

    @property
    def request_count(self) -> int:
        return len(self.calls)

    def has_credentials(self, registry: str) -> bool:
        return registry in self.credentials_for

    async def credentials_identity(self, registry: str) -> str:
        return f"user-for-{registry}" if registry in self.credentials_for else ""

    def _meta(self, registry: str, path: str) -> ResponseMeta:
        return ResponseMeta(status=200, url=f"https://{registry}/v2/{path}", date=self.date,
                            rate_limit=self.rate_limit)

    def _enter(self, op: str, registry: str, repository: str, reference: str, anonymous: bool) -> Repo | None:
        self.calls.append((op, registry, repository, reference, anonymous))
        if self.fail is not None:
            error = self.fail(op, registry, repository, reference, anonymous)
            if error is not None:
                raise error
        return self.hosts.get(registry, {}).get(repository)

    def _manifest(self, repo: Repo | None, reference: str) -> Manifest:
        by_tag = repo.tags.get(reference) if repo else None
        digest = reference if reference.startswith("sha256:") else by_tag
        manifest = repo.manifests.get(digest) if repo and digest else None
        if manifest is None:
            raise ManifestUnknown("manifest unknown (404)", status=404, code="MANIFEST_UNKNOWN",
                                  evidence=Evidence(status=404, error_code="MANIFEST_UNKNOWN"))
        return manifest

    async def head_manifest(self, registry: str, repository: str, reference: str, *,
                            anonymous: bool = False) -> ManifestHead:
        repo = self._enter("head_manifest", registry, repository, reference, anonymous)
        m = self._manifest(repo, reference)
        return ManifestHead(digest=m.digest, media_type=m.media_type, size=m.size,
                            meta=self._meta(registry, f"{repository}/manifests/{reference}"))

    async def get_manifest(self, registry: str, repository: str, reference: str, *,
                           anonymous: bool = False) -> Manifest:
        repo = self._enter("get_manifest", registry, repository, reference, anonymous)
        m = self._manifest(repo, reference)
        return m.model_copy(update={"meta": self._meta(registry, f"{repository}/manifests/{reference}")})

    async def get_image_config(self, registry: str, repository: str, digest: str, *,
                               anonymous: bool = False) -> ImageConfig:
        repo = self._enter("get_image_config", registry, repository, digest, anonymous)
        if repo is None or digest not in repo.blobs or digest not in repo.configs:
            raise BlobUnknown("blob unknown (404)", status=404, code="BLOB_UNKNOWN")
        meta = self._meta(registry, f"{repository}/blobs/{digest}")
        return repo.configs[digest].model_copy(update={"meta": meta})

    async def list_tags(self, registry: str, repository: str, *, anonymous: bool = False,
                        page_size: int = 1000, max_pages: int = 10, max_tags: int = 10_000) -> TagList:
        repo = self._enter("list_tags", registry, repository, "", anonymous)
        if repo is None:
            raise NameUnknown("repository unknown (404)", status=404, code="NAME_UNKNOWN",
                              evidence=Evidence(status=404, error_code="NAME_UNKNOWN"))
        return TagList(repository=repository, tags=sorted(repo.tags),
                       meta=self._meta(registry, f"{repository}/tags/list"))

    async def head_blob(self, registry: str, repository: str, digest: str, *,
                        anonymous: bool = False) -> BlobHead:
        repo = self._enter("head_blob", registry, repository, digest, anonymous)
        if repo is None or digest not in repo.blobs:
            raise BlobUnknown("blob unknown (404)", status=404, code="BLOB_UNKNOWN")
        return BlobHead(digest=digest, meta=self._meta(registry, f"{repository}/blobs/{digest}"))
