"""Records written by other releases still read, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.domain.models import SCHEMA_VERSION, CachedDiagnosis, IncidentStatus, TimelineKind, Verdict
from bot.metrics import STORE_ERRORS
from bot.store.codec import MIGRATIONS, decode, encode
from tests.store.conftest import Backend

OLD_INCIDENT = {  # as an early release wrote it: no schema_version, no pins, no diagnoses
    "id": "C9:1.5", "channel": "C9", "thread_ts": "1.5",
    "created_at": "2026-02-01T09:00:00Z", "updated_at": "2026-02-01T09:05:00Z", "status": "mitigated",
    "timeline": [{"at": "2026-02-01T09:01:00Z", "kind": "checked", "summary": "nginx:1.25 ok"}],
}

OLD_CACHED = {  # a diagnosis without the optional fields added since (findings, degraded, ...)
    "schema_version": 1, "stored_at": "2026-02-01T09:00:00Z",
    "diagnosis": {"reference": {"input": "nginx", "domain": "docker.io", "path": "library/nginx",
                                "tag": "latest"},
                  "verdict": "rate_limited", "summary": "Docker Hub quota exhausted"},
}


def _raw(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _errors(op: str) -> float:
    value = STORE_ERRORS.labels(op=op)._value.get()  # prometheus_client has no public getter
    return float(value)


async def test_old_incident_without_new_fields_reads(state: Backend) -> None:
    await state.write_raw(state.store.keys.incident("C9:1.5"), _raw(OLD_INCIDENT))  # type: ignore[attr-defined]

    incident = await state.store.get_incident("C9:1.5")

    assert incident is not None
    assert incident.schema_version == SCHEMA_VERSION
    assert incident.status is IncidentStatus.mitigated
    assert incident.pins == []
    assert incident.diagnoses == {}
    assert incident.timeline[0].kind is TimelineKind.checked


async def test_old_cached_diagnosis_reads_with_defaults(state: Backend) -> None:
    await state.write_raw(state.store.keys.diagnosis("old"), _raw(OLD_CACHED))  # type: ignore[attr-defined]

    cached = await state.store.get_diagnosis("old")

    assert cached is not None
    assert cached.diagnosis.verdict is Verdict.rate_limited
    assert cached.diagnosis.reference.normalized == "docker.io/library/nginx:latest"
    assert cached.diagnosis.findings == []
    assert cached.diagnosis.from_cache is False


async def test_newer_record_with_unknown_fields_still_reads(state: Backend) -> None:
    newer = {**OLD_INCIDENT, "schema_version": SCHEMA_VERSION + 1, "severity": "sev2"}
    await state.write_raw(state.store.keys.incident("C9:1.5"), _raw(newer))  # type: ignore[attr-defined]

    incident = await state.store.get_incident("C9:1.5")

    assert incident is not None
    assert incident.channel == "C9"


async def test_unreadable_record_is_a_counted_miss(state: Backend) -> None:
    await state.write_raw(state.store.keys.incident("C9:bad"), b"\x00not json")  # type: ignore[attr-defined]
    before = _errors("get_incident_decode")

    assert await state.store.get_incident("C9:bad") is None
    assert _errors("get_incident_decode") == before + 1


async def test_registered_migration_upgrades_an_older_version(monkeypatch: pytest.MonkeyPatch,
                                                              state: Backend) -> None:
    def rename_thread(data: dict[str, Any]) -> dict[str, Any]:
        data["thread_ts"] = data.pop("thread")
        return data

    monkeypatch.setitem(MIGRATIONS, ("Incident", 0), rename_thread)
    ancient = {k: v for k, v in OLD_INCIDENT.items() if k != "thread_ts"} | {"thread": "1.5",
                                                                           "schema_version": 0}
    await state.write_raw(state.store.keys.incident("C9:1.5"), _raw(ancient))  # type: ignore[attr-defined]

    incident = await state.store.get_incident("C9:1.5")

    assert incident is not None
    assert incident.thread_ts == "1.5"


def test_records_carry_schema_version_even_when_the_model_has_none() -> None:
    record = CachedDiagnosis.model_validate(OLD_CACHED)  # CachedDiagnosis has no such field itself
    encoded = json.loads(encode(record))
    assert encoded["schema_version"] == SCHEMA_VERSION
    assert decode(CachedDiagnosis, encode(record)) == record
