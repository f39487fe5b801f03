"""Push small synthetic images to a local registry through the distribution API (test helper)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Pusher:
    def __init__(self, base_url: str, auth: httpx.Auth | None = None) -> None:
        self.client = httpx.Client(base_url=base_url, auth=auth, trust_env=False, timeout=10)

    def close(self) -> None:
        self.client.close()

    def blob(self, repo: str, data: bytes) -> dict[str, Any]:
        digest = digest_of(data)
        start = self.client.post(f"/v2/{repo}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["location"]
        sep = "&" if "?" in location else "?"
        done = self.client.put(f"{location}{sep}digest={digest}", content=data,
                               headers={"Content-Type": "application/octet-stream"})
        done.raise_for_status()
        return {"digest": digest, "size": len(data)}

    def manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        r = self.client.put(f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type})
        r.raise_for_status()
        return digest_of(body)

    def image(self, repo: str, tag: str | None, *, os: str = "linux", arch: str = "amd64",
              variant: str | None = None, media_type: str = OCI_MANIFEST, layer: bytes | None = None,
              push_layer: bool = True) -> tuple[str, bytes]:
        """A one-layer image; returns (digest, manifest body)."""
        config_obj: dict[str, Any] = {"architecture": arch, "os": os,
                                      "created": "2024-01-02T03:04:05.123456789Z",
                                      "rootfs": {"type": "layers", "diff_ids": []}}
        if variant:
            config_obj["variant"] = variant
        config = self.blob(repo, canonical(config_obj))
        layer_data = layer if layer is not None else f"layer-{os}-{arch}-{variant}-{tag}".encode()
        layer_desc = self.blob(repo, layer_data) if push_layer else {"digest": digest_of(layer_data),
                                                                      "size": len(layer_data)}
        is_oci = media_type == OCI_MANIFEST
        body = canonical({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json" if is_oci
                       else "application/vnd.docker.container.image.v1+json", **config},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if is_oci
                        else "application/vnd.docker.image.rootfs.diff.tar.gzip", **layer_desc}],
        })
        return self.manifest(repo, tag or digest_of(body), body, media_type), body

    def index(self, repo: str, tag: str, children: list[tuple[str, int, dict[str, str]]], *,
              media_type: str = OCI_INDEX, attestation_for: str | None = None) -> str:
        manifests: list[dict[str, Any]] = [
            {"mediaType": OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST,
             "digest": d, "size": s, "platform": p} for d, s, p in children]
        if attestation_for:
            manifests.append({"mediaType": OCI_MANIFEST, "digest": children[0][0], "size": children[0][1],
                              "platform": {"os": "unknown", "architecture": "unknown"},
                              "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                              "vnd.docker.reference.digest": attestation_for}})
        body = canonical({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
        return self.manifest(repo, tag, body, media_type)
