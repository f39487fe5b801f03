"""Ready-to-paste snippets that pin an image by digest (the ``pin_digest`` button, ``imagecheck``).

One naming rule everywhere: the fully qualified ``domain/path@digest``
(``docker.io/library/nginx@sha256:…``). Docker, containerd, Kubernetes, Compose, Helm charts and
BuildKit all accept it, and unlike the familiar ``nginx@sha256:…`` it cannot be rewritten by a node's
default-registry or short-name settings. The tag is kept beside the digest as a comment or a field, for
people; the digest alone decides what is pulled.

The one exception is Kustomize's ``images[].name``: it must match the image as written in the
manifests, so it is the name as the user typed it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml
from docker_image import digest as ddigest
from pydantic import BaseModel, ConfigDict, Field

from bot.domain.errors import InvalidReference
from bot.domain.models import ImageRef, PlatformDigest
from bot.domain.reference import clean_reference_text, parse_reference

__all__ = ["PinSnippets", "PlatformPin", "pin_snippets"]

# Arguments kubectl accepts unquoted; anything else (a name with spaces from a chat message) is quoted.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._/:@=<>-]+")
_ATTESTATION_PLATFORM = "unknown/unknown"


class PlatformPin(BaseModel):
    """One platform's own manifest in a multi-arch index, pinned."""

    model_config = ConfigDict(frozen=True)

    platform: str
    digest: str
    pinned: str


class PinSnippets(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str  # the normalised reference being pinned (what the tag pointed at)
    digest: str
    pinned: str  # domain/path@digest
    pinned_with_tag: str | None = None  # domain/path:tag@digest, when a tag was given (readable)
    kubectl: str
    helm: str  # values YAML
    kustomize: str  # kustomization.yaml ``images:`` entry
    compose: str  # ``image:`` line
    dockerfile: str  # ``FROM`` line (with a comment line above it)
    alternatives: list[PlatformPin] = Field(default_factory=list)
    index_note: str | None = None


def _check_digest(digest: str) -> None:
    try:
        ddigest.validate_digest(digest)
    except ddigest.InvalidDigest as exc:
        raise ValueError(f"not a valid digest: {digest!r} ({exc})") from None


def _shell_word(word: str) -> str:
    if _SHELL_SAFE.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def _name_as_written(ref: ImageRef) -> str:
    """The repository as the user wrote it (``nginx`` for ``nginx:1.27``), for Kustomize's matcher."""
    written = clean_reference_text(ref.input).split("@", 1)[0]
    slash = written.rfind("/")
    colon = written.find(":", slash + 1)
    if colon >= 0:
        written = written[:colon]
    try:
        same = parse_reference(written, allow_suspicious=True).name == ref.name
    except InvalidReference:
        same = False
    return written if same else ref.name


def _short(digest: str) -> str:
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}"


def pin_snippets(ref: ImageRef, digest: str, *, platforms: Sequence[PlatformDigest] = (),
                 workload: str = "deploy/<name>", container: str | None = None) -> PinSnippets:
    """Snippets pinning ``ref`` to ``digest`` (verified by the caller against the registry).

    ``platforms`` are the per-platform manifests when ``digest`` is a multi-arch index; attestation
    entries (``unknown/unknown``) are left out. Raises ``ValueError`` for a malformed digest.
    """
    _check_digest(digest)
    for entry in platforms:
        _check_digest(entry.digest)
    pinned = ref.with_digest(digest)
    tag = ref.tag
    pinned_with_tag = f"{ref.name}:{tag}@{digest}" if tag else None
    readable = f"{ref.name}:{tag}" if tag else ref.name
    tag_comment = f"  # {tag}" if tag else ""

    image: dict[str, str] = {"repository": ref.name}
    if tag:
        image["tag"] = tag
    image["digest"] = digest
    helm = ("# Helm values (charts that support image.digest pull by it and ignore the tag)\n"
            + yaml.safe_dump({"image": image}, sort_keys=False, default_flow_style=False).rstrip("\n"))
    kustomize = ("# kustomization.yaml\n"
                 + yaml.safe_dump({"images": [{"name": _name_as_written(ref), "newName": ref.name,
                                               "digest": digest}]},
                                  sort_keys=False, default_flow_style=False).rstrip("\n"))
    kubectl = (f"kubectl set image {_shell_word(workload)} "
               f"{_shell_word(container or '<container>')}={pinned}")

    alternatives = [PlatformPin(platform=p.platform, digest=p.digest, pinned=ref.with_digest(p.digest))
                    for p in platforms if p.platform != _ATTESTATION_PLATFORM]
    index_note = None
    if alternatives:
        names = ", ".join(a.platform for a in alternatives)
        index_note = (f"{_short(digest)} is a multi-arch index ({names}): pin it to keep every platform, "
                      "each node pulls its own. A platform digest locks one architecture: nodes of any "
                      "other would run the wrong binary (exec format error).")
    return PinSnippets(
        reference=ref.normalized, digest=digest, pinned=pinned, pinned_with_tag=pinned_with_tag,
        kubectl=kubectl, helm=helm, kustomize=kustomize,
        compose=f"image: {pinned}{tag_comment}",
        dockerfile=f"# {readable}\nFROM {pinned}",
        alternatives=alternatives, index_note=index_note,
    )
