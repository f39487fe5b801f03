"""Parse and normalise image references and platforms exactly as Docker and containerd do.

(First cut: the reference helper owns this module and replaces the hint logic.)
"""

from __future__ import annotations

from docker_image import reference as dref

from bot.domain.errors import InvalidPlatform, InvalidReference
from bot.domain.models import ImageRef, Platform


def parse_reference(text: str) -> ImageRef:
    """``nginx`` -> ``docker.io/library/nginx:latest``; raises ``InvalidReference`` with a hint."""
    raw = text
    try:
        ref = dref.Reference.parse_normalized_named(text)
    except dref.InvalidReference as exc:
        raise InvalidReference(str(exc) or "invalid reference format", input=raw) from exc
    name = ref["name"]
    domain, _, path = name.partition("/")
    return ImageRef(input=raw, domain=domain, path=path, tag=ref["tag"], digest=ref["digest"])


def parse_platform(text: str) -> Platform:
    parts = text.strip().lower().split("/")
    if len(parts) < 2 or len(parts) > 3 or not all(parts):
        raise InvalidPlatform(f"platform must be os/arch[/variant], got {text!r}")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None)
