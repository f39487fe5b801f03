"""The registry's own JSON shapes and media types (OCI image spec, Docker distribution).

These stay inside the adapter; ``client.py`` turns them into ``bot.domain.models`` values.
Unknown fields are ignored (registries add annotations and extensions freely).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})

# Order matters little to distribution, but all four must be present: without the OCI index type
# distribution 2.8 answers a misleading 404 for an OCI index, and without the Docker types it converts
# manifests to schema 1 (with another digest).
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))

# buildkit marks its provenance/SBOM manifests in an index with this annotation.
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_VALUE = "attestation-manifest"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WirePlatform(_Wire):
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")


class WireDescriptor(_Wire):
    media_type: str | None = Field(default=None, alias="mediaType")
    digest: str
    size: int = 0
    platform: WirePlatform | None = None
    annotations: dict[str, str] = Field(default_factory=dict)


class WireManifest(_Wire):
    """Both an index (``manifests``) and an image manifest (``config`` + ``layers``) in one shape.

    Which one it is comes from the media type (header or body); a body may carry both keys only
    if it is malformed.
    """

    schema_version: int | None = Field(default=None, alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    manifests: list[WireDescriptor] | None = None
    config: WireDescriptor | None = None
    layers: list[WireDescriptor] | None = None
    # schema 1 only
    fs_layers: list[dict[str, Any]] | None = Field(default=None, alias="fsLayers")


class WireImageConfig(_Wire):
    architecture: str | None = None
    os: str | None = None
    variant: str | None = None
    created: str | None = None


class WireTagList(_Wire):
    name: str | None = None
    tags: list[str] | None = None


class WireToken(_Wire):
    token: str | None = None
    access_token: str | None = None
    expires_in: float | None = None
    issued_at: str | None = None

    def bearer(self) -> str | None:
        return self.token or self.access_token


class WireErrorDetail(_Wire):
    code: str = "UNKNOWN"
    message: str = ""
    detail: Any = None


class WireErrorEnvelope(_Wire):
    errors: list[WireErrorDetail] = Field(default_factory=list)
