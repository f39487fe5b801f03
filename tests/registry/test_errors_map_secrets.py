"""``error_from_response(..., secrets=)``: the login's secrets leave no trace in the evidence it keeps,
whichever way the server spelled them."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

from bot.domain.errors import RateLimited, RegistryServerError
from bot.registry.errors_map import error_from_response

SECRET = "p@ss word/with+symbols&=\"quotes\""


def _evidence_text(status: int, headers: dict[str, str], body: bytes) -> str:
    err = error_from_response(status, headers, body, "https://r.example/token", not_found=RegistryServerError,
                              secrets=(SECRET,))
    return f"{err} {err.evidence.model_dump_json()}"


def test_a_form_encoded_echo_is_scrubbed() -> None:
    text = _evidence_text(500, {}, f"bad form: grant={quote_plus(SECRET)} client=docker".encode())
    assert quote_plus(SECRET) not in text
    assert "client=docker" in text  # the rest of the server's words are kept


def test_a_json_escaped_echo_in_raw_text_is_scrubbed() -> None:
    escaped = json.dumps(SECRET)[1:-1]
    text = _evidence_text(500, {}, f'{{"detail": "{escaped}" is wrong'.encode())
    assert escaped not in text
    assert SECRET not in text


def test_a_cited_header_echoing_the_secret_is_scrubbed() -> None:
    err = error_from_response(429, {"www-authenticate": f'Bearer error="x",error_description="{SECRET}"',
                                    "docker-ratelimit-source": SECRET, "retry-after": "7"},
                              b"", "https://r.example/v2/", not_found=RegistryServerError, secrets=(SECRET,))
    assert isinstance(err, RateLimited)
    assert err.rate_limit.retry_after_s == 7.0  # rate limits are still read from the cited headers
    assert SECRET not in err.evidence.model_dump_json()
    assert SECRET not in err.rate_limit.model_dump_json()


def test_without_secrets_the_answer_is_kept_as_before() -> None:
    err = error_from_response(500, {}, b"plain failure text", "https://r.example/v2/", not_found=RegistryServerError)
    assert err.evidence.message == "plain failure text"
