"""Button payloads: small pydantic models carried in a button's ``value``.

Slack caps a value at 2,000 characters. A payload that would not fit is stored as a blob in the
state store and the button carries only ``{"k": "<blob key>"}``; ``load_payload`` follows the key.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.domain.ports import StatePort

MAX_VALUE_CHARS = 2000
BLOB_TTL_S = 30 * 24 * 3600.0


class ActionPayload(BaseModel):
    """What a diagnosis button needs to act: which incident, which reference, what we saw then."""

    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1
    incident: str  # Incident.id: "<channel>:<thread_ts>"
    ref: str  # the normalized reference the diagnosis was for
    digest: str | None = None  # the digest the diagnosis resolved (pin compares against it)
    platforms: tuple[str, ...] = ()
    confirmed: bool = False  # pin this exact digest without re-resolving (after "tag moved")


class _BlobPointer(BaseModel):
    k: str


class PayloadError(Exception):
    """The button's value is not ours, or its stored state has expired (not: the store is down)."""


async def dump_payload(payload: ActionPayload, store: StatePort) -> str:
    raw = payload.model_dump_json(exclude_defaults=True)
    if len(raw) <= MAX_VALUE_CHARS:
        return raw
    key = "payload:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    await store.put_blob(key, raw, BLOB_TTL_S)
    return _BlobPointer(k=key).model_dump_json()


def dump_inline(payload: ActionPayload) -> str | None:
    """The value when it fits without the store (the pure renderer's path), else ``None``."""
    raw = payload.model_dump_json(exclude_defaults=True)
    return raw if len(raw) <= MAX_VALUE_CHARS else None


async def load_payload(value: str, store: StatePort) -> ActionPayload:
    """The button's payload. ``PayloadError`` when it is not ours or its blob expired;
    ``StoreUnavailable`` (not swallowed) when the blob cannot be read now: that is not "expired"."""
    try:
        pointer = _BlobPointer.model_validate_json(value)
    except ValidationError:
        pointer = None
    if pointer is not None:
        stored = await store.get_blob(pointer.k)
        if stored is None:
            raise PayloadError("the state behind this button has expired")
        value = stored
    try:
        return ActionPayload.model_validate_json(value)
    except ValidationError as exc:
        raise PayloadError("this button's value is not one imagecheck made") from exc
