"""The one-pass finders (JWT, private-key block, signed URL, curl -u) find exactly what the plain regexes
they replaced found; those regexes restarted from every overlapping occurrence and stalled on hostile
pastes, but they are the clearest statement of what is a match, so they serve here as the reference.

Inputs are random (seeded, so deterministic) strings built from the pieces each pattern cares about.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator

import pytest

from bot.domain.triage.redact import _curl_user_passwords, _jwts, _private_key_blocks, _signed_urls

_SIGNED_KEYS = ("signature", "sig=", "credential", "verify=", "token=")
_REF_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,16384}\.eyJ[A-Za-z0-9_-]{8,16384}\.[A-Za-z0-9_-]{0,16384}")
_REF_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----[\s\S]{0,16384}?"
                      r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_REF_SIGNED = re.compile(r"https?://[^\s?\"'<>]{1,2048}\?([^\s\"'<>]{1,4096})")
_REF_CURL = re.compile(r"(?:curl|wget)\b[^\n]{0,512}?[ \t](?:-u|--user)[ \t]+['\"]?[^\s:'\"]{1,256}:"
                       r"([^\s'\"]{1,512})")


def _ref_jwt(t: str) -> list[tuple[int, int]]:
    return [m.span() for m in _REF_JWT.finditer(t)]


def _ref_key(t: str) -> list[tuple[int, int]]:
    return [m.span() for m in _REF_KEY.finditer(t)]


def _ref_signed(t: str) -> list[tuple[int, int]]:
    return [m.span(1) for m in _REF_SIGNED.finditer(t)
            if any(k in m.group(0).partition("?")[2] for k in _SIGNED_KEYS)]


def _ref_curl(t: str) -> list[tuple[int, int]]:
    return [m.span(1) for m in _REF_CURL.finditer(t)]


Finder = Callable[[str, str], Iterator[tuple[int, int]]]


@pytest.mark.parametrize(("finder", "reference", "pieces"), [
    (_jwts, _ref_jwt, ["eyJ", "a", "abcdefgh", ".", "-", " ", "\n", "x"]),
    (_private_key_blocks, _ref_key, ["-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
                                     "-----BEGIN RSA PRIVATE KEY-----", "ab", "\n"]),
    (_signed_urls, _ref_signed, ["http://", "https://", "a", "?", "sig=", " ", "/", "&"]),
    (_curl_user_passwords, _ref_curl, ["curl", "wget", " ", "-u", "--user", "a:b", "x", "\n", ":"]),
], ids=["jwt", "private_key", "signed_url", "curl_user"])
def test_finder_matches_its_reference_regex(finder: Finder, reference: Callable[[str], list[tuple[int, int]]],
                                            pieces: list[str]) -> None:
    rng = random.Random(20261130)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        assert list(finder(text, text)) == reference(text), text
