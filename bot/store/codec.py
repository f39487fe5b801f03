"""Stored records: pydantic models as JSON, each carrying a ``schema_version``.

A newer release must read what an older one wrote, and a rolling deploy briefly runs both. So:
- every record's top-level JSON object has ``schema_version`` (models that lack the field get it
  added on the way out and removed on the way in);
- fields added later are optional with defaults, so an old record simply validates with them unset;
- a change that is not additive registers a migration here, from version N to N+1, applied in order;
- unknown fields from a newer release are ignored (pydantic's default), so an older replica reading a
  newer record still works.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from bot.domain.models import SCHEMA_VERSION, TagSighting
from bot.metrics import STORE_ERRORS

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

Migration = Callable[[dict[str, Any]], dict[str, Any]]

# (model class name, from_version) -> function returning the record as of from_version + 1.
MIGRATIONS: dict[tuple[str, int], Migration] = {}


class CodecError(ValueError):
    """A stored record could not be read (corrupt, or from an incompatible release)."""


class TagHistory(BaseModel):
    """The stored form of one tag's sightings, most recent first."""

    schema_version: int = SCHEMA_VERSION
    sightings: list[TagSighting] = Field(default_factory=list)


def encode(model: BaseModel) -> bytes:
    data = model.model_dump(mode="json")
    data.setdefault("schema_version", SCHEMA_VERSION)
    return json.dumps(data, separators=(",", ":")).encode()


def decode(cls: type[M], raw: bytes | str) -> M:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CodecError(f"{cls.__name__}: not JSON") from exc
    if not isinstance(data, dict):
        raise CodecError(f"{cls.__name__}: not a JSON object")
    version = data.get("schema_version", 1)
    if not isinstance(version, int):
        raise CodecError(f"{cls.__name__}: schema_version is not an integer")
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get((cls.__name__, version))
        if migrate is not None:
            data = migrate(data)
        version += 1
    if "schema_version" in cls.model_fields:
        data["schema_version"] = SCHEMA_VERSION  # now in this release's shape
    else:
        data.pop("schema_version", None)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise CodecError(f"{cls.__name__}: {exc.error_count()} invalid field(s)") from exc


def read_record(cls: type[M], raw: object, op: str) -> M | None:
    """A stored record, or None when absent or unreadable: a corrupt or incompatible record is a
    counted, logged miss (``<op>_decode``), never an error, so one bad key cannot break a replica."""
    if not isinstance(raw, bytes | str):
        return None  # absent (or, in the embedded store, a counter under that key)
    try:
        return decode(cls, raw)
    except CodecError as exc:
        STORE_ERRORS.labels(op=f"{op}_decode").inc()
        log.warning("store: unreadable %s record ignored: %s", op, exc)
        return None
