"""Replace secrets in pasted (or outgoing) text with ``[REDACTED:<rule>]``.

Runs before anything is stored, logged, echoed or posted, and on the bot's own outgoing text, so it must
be idempotent (redacting redacted text changes nothing) and must leave digests, ordinary hex, UUIDs,
image references and plain URLs alone.

Each rule is gated by a probe (``probe.py``: its literal triggers, or a looser shape of its match) that
rules it out in one automaton pass, and every regex either starts with a literal or is bounded, so the
cost is linear in the size of the text. Linear is not enough on its own: a scan that restarts from every
overlapping occurrence (each ``eyJ``, each ``BEGIN``, each ``password=``) and reads up to 16 KiB ahead
took seconds on a hostile megabyte. So scans resume after what they consumed, and hand-written finders
read each run or line once (``bench/triage_throughput.py`` times such pastes). Matches from all rules
are collected first and merged where they overlap, then the text is rebuilt once.
"""

from __future__ import annotations

import base64
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.triage.probe import Haystack, Probe, escape
from bot.domain.triage.text import ascii_lower, line_bounds

MARK = "[REDACTED:"


class Redaction(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    count: int = 0
    rules: list[str] = Field(default_factory=list)  # rule names, in order of first use


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    rule: str
    priority: int


_Finder = Callable[[str, str], Iterator[tuple[int, int]]]


def _regex_finder(pattern: str, group: int = 0, *, on_lower: bool = False,
                  accept: Callable[[str, str, int, int], bool] | None = None) -> _Finder:
    """Spans of ``group`` for every match; ``on_lower`` matches case-insensitively via the lowered copy."""
    rx = re.compile(pattern)

    def find(text: str, lower: str) -> Iterator[tuple[int, int]]:
        for m in rx.finditer(lower if on_lower else text):
            s, e = m.span(group)
            if s < e and (accept is None or accept(text, m.group(0), s, e)):
                yield s, e

    return find


def _not_after_alnum(text: str, _match: str, s: int, _e: int) -> bool:
    return s == 0 or not text[s - 1].isalnum()


_SIGNED_QUERY_KEYS = ("signature", "sig=", "credential", "verify=", "token=", "x-amz-security-token")


def _looks_like_base64_secret(text: str, _match: str, s: int, e: int) -> bool:
    # Distinguishes ``auth: dXNlcjpwYXNz`` from English such as ``auth: unauthorized``.
    value = text[s:e]
    has_digit_or_sym = any(c.isdigit() or c in "+/=" for c in value)
    mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return has_digit_or_sym or mixed_case


def _b64_prefixes(*prefixes: str) -> str:
    """Regex alternation of the stable base64 prefixes of JSON openings (the first whole 3-byte groups)."""
    out = []
    for p in prefixes:
        raw = p.encode()
        out.append(base64.b64encode(raw[: len(raw) // 3 * 3]).decode())
    return "|".join(escape(o) for o in sorted(set(out), key=len, reverse=True))


_B64_DOCKERCONFIG = _b64_prefixes('{"auths":', '{ "auths":', '{\n  "auths":', '{\n\t"auths":',
                                  '{\n    "auths":', '{"auths" :', '{"auth":', '{ "auth":')

# Generic ``key = value`` secrets: the key words we look for, and key endings that name a secret
# rather than hold one (``secretName: regcred``, ``password_file=/run/x``).
_SECRET_WORDS = ("passw", "pass", "pwd", "token", "secret", "api_key", "apikey", "api-key")  # "passw": password
_NOT_A_SECRET_KEY_ENDINGS = ("name", "names", "ref", "file", "path", "type", "id", "s", "realm", "url",
                             "uri", "dir", "kind", "policy", "ttl", "length", "key_id")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.")
_KEY_TAIL = re.compile(r"[a-z0-9_.-]*")
# Stops where a value ends; at ``&`` only when a query parameter (``?password=x&user=y``) or the end of
# the word (``TOKEN=x && make``) follows, since ``password=Abc&def`` is one password.
_UNQUOTED_VALUE = re.compile(r"(?:[^ \t\r\n,;&\"')\]}]|&(?=[^\s&;\"')\]}])(?![a-z0-9_.\[\]-]{1,64}=))"
                             r"{0,1024}")
# "pass" followed by "w" is the "passw" word's (password, passwd): skipping it in C keeps a paste full of
# ``password`` from costing a Python step per occurrence twice.
_SECRET_WORD_RXS = tuple((w, re.compile(re.escape(w) + ("(?!w)" if w == "pass" else ""))) for w in _SECRET_WORDS)


_LEAD = frozenset(" \t-\"'{,")  # what may stand before a YAML/JSON key on its line


def _starts_line(lower: str, pos: int) -> bool:
    """Only ``_LEAD`` characters stand between the start of the line and ``pos``.

    Walks back over those characters only (not to the line start), so a huge one-line paste with many
    keys costs linear time.
    """
    while pos > 0 and lower[pos - 1] in _LEAD:
        pos -= 1
    return pos == 0 or lower[pos - 1] == "\n"


def _closing_quote(lower: str, open_at: int, limit: int) -> int:
    """Index of the quote closing the one at ``open_at`` (before ``limit``), skipping backslash-escaped
    quotes (``"hun\\"ter2"``); -1 if there is none."""
    quote = lower[open_at]
    end = lower.find(quote, open_at + 1, limit)
    while end != -1:
        backslashes = 0
        while lower[end - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return end
        end = lower.find(quote, end + 1, limit)
    return -1


def _secret_assignments(text: str, lower: str) -> Iterator[tuple[int, int]]:
    """``password=x``, ``"token": "x"``, ``  secret: x`` (YAML key at line start).

    A colon only counts after a quoted key or a key that starts its line, so prose such as ``failed to
    fetch anonymous token: unexpected status`` is left alone.
    """
    n = len(lower)
    for word, word_rx in _SECRET_WORD_RXS:
        found = word_rx.search(lower)
        pos = found.start() if found else -1
        while pos != -1:
            key_start = pos
            while key_start > 0 and lower[key_start - 1] in _KEY_CHARS:
                key_start -= 1
            key_end = _KEY_TAIL.match(lower, pos + len(word)).end()  # type: ignore[union-attr]
            found = word_rx.search(lower, key_end)
            nxt = found.start() if found else -1
            key = lower[key_start:key_end]
            if key.endswith(_NOT_A_SECRET_KEY_ENDINGS) and not key.endswith(word):
                pos = nxt
                continue
            # "pass" alone is too common a substring (bypass, passthrough): only a key that IS a pass
            # (``REGISTRY_PASS=``, ``pass:``) counts; ``password`` keys are the "passw" word's. "pwd"
            # counts only with a prefix (``REGISTRY_PWD``): the shell's ``PWD``/``OLDPWD`` hold the
            # working directory, which a CI log prints and nobody needs hidden.
            if word == "pass" and not (key == "pass" or key.endswith(("_pass", "-pass", ".pass"))):
                pos = nxt
                continue
            if word == "pwd" and not key.endswith(("_pwd", "-pwd", ".pwd")):
                pos = nxt
                continue
            i = key_end
            quoted_key = i < n and lower[i] in "\"'"
            if quoted_key:
                i += 1
            while i < n and lower[i] in " \t":
                i += 1
            if i >= n or lower[i] not in "=:":
                pos = nxt
                continue
            if lower[i] == ":":
                if not (quoted_key or _starts_line(lower, key_start)):
                    pos = nxt
                    continue
                if i + 1 < n and lower[i + 1] == "/":  # ``token://`` is a URL scheme, not a value
                    pos = nxt
                    continue
            i += 1
            while i < n and lower[i] in " \t":
                i += 1
            if i < n and lower[i] in "\"'":
                end = _closing_quote(lower, i, min(n, i + 1 + 1024))
                nl = lower.find("\n", i + 1, end if end != -1 else min(n, i + 1025))
                if end != -1 and nl == -1 and end > i + 1:
                    yield i + 1, end
                    # The next key is looked for after the value, never inside it: a paste of
                    # ``password=`` repeated would otherwise rescan 1 KiB from each of them.
                    found = word_rx.search(lower, end)
                    nxt = found.start() if found else -1
                pos = nxt
                continue
            j = _UNQUOTED_VALUE.match(lower, i).end()  # type: ignore[union-attr]
            if j > i and not lower.startswith("[redacted", i) and lower[i] not in "{[$":
                yield i, j
            found = word_rx.search(lower, j)  # after the value, as above
            pos = found.start() if found else -1


# Kubernetes env entries: ``- name: REGISTRY_PASSWORD`` and, on the next line, ``value: "x"``. One
# pattern for both lines, so only such pairs (not every ``value:`` line) reach Python.
_ENV_PAIR = re.compile(r"(?m)^[ \t]{0,64}(?:-[ \t]{1,8})?name:[ \t]{0,8}[\"']?([a-z0-9_.-]{1,256})[\"']?[ \t\r]*\n"
                       r"[ \t]{0,64}value:[ \t]{0,8}(\"[^\"\n]{1,1024}\"|'[^'\n]{1,1024}'|[^\s#][^\n]{0,1023})")
# The same entry as JSON (``kubectl get -o json``): ``{"name": "TOKEN", "value": "x"}``.
_ENV_PAIR_JSON = re.compile(r"\"name\"[ \t]{0,8}:[ \t]{0,8}\"([a-z0-9_.-]{1,256})\"[ \t]{0,8},\s{0,64}"
                            r"\"value\"[ \t]{0,8}:[ \t]{0,8}(\"(?:[^\"\\\n]|\\.){1,1024}\")")
_NOT_SECRET_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "null"})
_SECRET_NAME_PARTS = frozenset({"pass", "pwd", "key", "auth", "creds", "credential", "credentials"})


@lru_cache(maxsize=1024)  # an env list names the same few variables over and over
def names_a_secret(name: str) -> bool:
    """Whether a variable name says it holds a secret (``REGISTRY_PASSWORD``, ``API_KEY``, ``AUTH``), by
    the same words as ``key = value`` secrets; ``*_FILE``, ``*_PATH``, ``*_NAME`` only point at one."""
    key = name.lower()
    parts = re.split(r"[_.-]", key)
    if parts[-1] in _NOT_A_SECRET_KEY_ENDINGS:
        return False
    return any(word in key for word in _SECRET_WORDS if word != "pass") or any(p in _SECRET_NAME_PARTS
                                                                             for p in parts)


def _env_secret_values(_text: str, lower: str) -> Iterator[tuple[int, int]]:
    for rx in (_ENV_PAIR, _ENV_PAIR_JSON):
        for m in rx.finditer(lower):
            # ``AUTH_ENABLED: "true"`` names a switch, not a secret.
            if not names_a_secret(m.group(1)) or m.group(2).strip().strip("\"'") in _NOT_SECRET_VALUES:
                continue
            s, e = m.span(2)
            if lower[s] in "\"'":
                s, e = s + 1, e - 1
            e = s + len(lower[s:e].rstrip())  # a trailing space or CR is not part of the value
            if s < e:
                yield s, e


# ``--password``, and every prefixed form: ``--docker-password`` (kubectl), ``--src-password`` /
# ``--dest-password`` / ``--src-creds`` (skopeo), ``--pass`` (regctl); ``-p`` only on a login line,
# also glued to its value (``-phunter2``). In a JSON/YAML argument list the value is the next item
# (``"--password", "x"``).
_ARG_SEPARATOR = r"(?:=|[\"'][ \t]*,[ \t]*(?=[\"'])|[ \t]+"
_FLAG_VALUE = re.compile(r"(?:--(?:[a-z]{1,20}-)?(?:password|passwd|pass|creds|registry-token)|-p)"
                         + _ARG_SEPARATOR + r"|(?<=-p)(?=[^\s=-]))"
                         r"(\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s]{1,512})")
# What may stand right before a flag: a space, or the quote/bracket/comma of an argument list
# (``command: ["skopeo","copy","--src-creds=u:x"]``).
_BEFORE_FLAG = frozenset(" \t\"'[,")


def _join_continuations(lower: str) -> str:
    """``lower`` with each backslash-newline turned into spaces of the same length, so a command split
    over lines (``docker login -u u \\`` / ``-p x``) is scanned as one line and positions still map."""
    if "\\\n" not in lower and "\\\r\n" not in lower:
        return lower
    return lower.replace("\\\r\n", "   ").replace("\\\n", "  ")


def _flag_values(lower: str, ls: int, le: int, flags: re.Pattern[str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, matched text) of each ``flags`` value on the line ``lower[ls:le]``, quotes removed."""
    for m in flags.finditer(lower, ls, le):
        flag_start = m.start()
        before = lower[flag_start - 1] if flag_start > ls else " "
        if before not in _BEFORE_FLAG:
            continue
        s, e = m.span(1)
        if lower[s] in "\"'":
            s, e = s + 1, e - 1
        elif before in "\"'":  # ``"--creds=u:x",`` : the value ends with its argument's quote
            cut = lower.find(before, s, e)
            e = e if cut == -1 else cut
        if lower.startswith("-", s) or s >= e:  # ``--password-stdin`` style flags
            continue
        yield s, e, m.group(0)


_LOGIN_TRIGGERS: tuple[tuple[str, Probe], ...] = tuple(
    (t, Probe.any_of([t])) for t in (" login", '"login"', "-pass", "creds", "registry-token"))


def _login_passwords(_text: str, lower: str) -> Iterator[tuple[int, int]]:
    """``docker login -u u -p X``, ``--password X``, ``--password=X``, ``skopeo --creds u:X``.

    ``-p`` is only a password inside a ``login`` command (``docker run -p 80:80`` publishes a port).
    """
    seen_lines: set[int] = set()
    haystack = Haystack(lower)
    joined: str | None = None
    for trigger, probe in _LOGIN_TRIGGERS:
        if not haystack.may_contain(probe):  # one automaton pass instead of a str.find pass
            continue
        if joined is None:
            joined = _join_continuations(lower)
        pos = joined.find(trigger)
        while pos != -1:
            ls, le = line_bounds(joined, pos)
            # Every flag below contains "-p" or "--"; most lines holding a trigger have neither.
            if ls not in seen_lines and (joined.find("-p", ls, le) != -1 or joined.find("--", ls, le) != -1):
                seen_lines.add(ls)
                is_login = (joined.startswith("login", ls)
                            or any(joined.find(w, ls, le) != -1 for w in (" login", '"login"', "'login'")))
                for s, e, flag in _flag_values(joined, ls, le, _FLAG_VALUE):
                    if flag.startswith("-p") and not is_login:
                        continue
                    yield s, e
            pos = joined.find(trigger, le)


# containerd's ``ctr ... pull --user u:password`` / ``-u u:password`` and ``crictl pull --auth <base64>``
# (``--creds`` is the login rule's). A command line, not any ``-u``: ``docker run -u 1000:1000`` is a uid.
_RUNTIME_CLI = re.compile(r"(?:^|[\s\"'\[,;|&/])(?:ctr|crictl)(?=[\s\"',])")  # "/": /usr/bin/ctr
_REGISTRY_VERB = re.compile(r" (?:pull|push|fetch)")
_RUNTIME_FLAG_VALUE = re.compile(r"(?:--user|-u|--auth)" + _ARG_SEPARATOR + r")"
                                 r"(\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|[^\s]{1,512})")


def _runtime_cli_credentials(_text: str, lower: str) -> Iterator[tuple[int, int]]:
    joined = _join_continuations(lower)
    line_end = -1
    for cli in _RUNTIME_CLI.finditer(joined):
        if cli.start() < line_end:
            continue
        line_end = joined.find("\n", cli.end())
        if line_end == -1:
            line_end = len(joined)
        # Every flag below contains "-u" (--user, -u) or is --auth; most ctr/crictl lines have neither.
        # ``ctr run -u 1000:1000`` is a uid:gid; only the registry verbs take user:password, so a line
        # with "-u" but no registry verb (and no --auth) is skipped before any flag is parsed.
        after = cli.end()
        has_auth = joined.find("--auth", after, line_end) != -1
        if not has_auth and joined.find("-u", after, line_end) == -1:
            continue
        registry_verb = _REGISTRY_VERB.search(joined, after, line_end) is not None
        if not (has_auth or registry_verb):
            continue
        for s, e, flag in _flag_values(joined, after, line_end, _RUNTIME_FLAG_VALUE):
            if flag.startswith("--auth"):
                yield s, e
                continue
            if not registry_verb:
                continue
            colon = joined.find(":", s, e)  # ``--user admin`` alone asks for the password: nothing to hide
            if colon != -1 and colon + 1 < e:
                yield colon + 1, e


_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_KEY_BODY_MAX = 16384


def _private_key_blocks(text: str, _lower: str) -> Iterator[tuple[int, int]]:
    """A BEGIN header through the first END header at most 16 KiB after it.

    The END found last is kept and reused while it still lies ahead, and BEGINs inside a block already
    found are skipped, so a paste of BEGIN headers with no END costs one pass, not 16 KiB per header.
    """
    end_match: re.Match[str] | None = None
    covered = 0
    for begin in _KEY_BEGIN.finditer(text):
        if begin.start() < covered:
            continue
        if end_match is None or end_match.start() < begin.end():
            end_match = _KEY_END.search(text, begin.end())
            if end_match is None:
                return  # no END after this BEGIN, so none after any later one either
        if end_match.start() - begin.end() <= _KEY_BODY_MAX:
            yield begin.start(), end_match.end()
            covered = end_match.end()


_JWT_RUN = re.compile(r"eyJ[A-Za-z0-9_.-]*")
_JWT_PART_MAX = 16384


def _jwts(text: str, _lower: str) -> Iterator[tuple[int, int]]:
    """``eyJ<header>.eyJ<payload>.<signature>``: header and payload of 8 to 16 Ki characters after their
    ``eyJ``, a signature of up to 16 Ki.

    Reads each run of token characters once and tests its dot-separated parts, instead of scanning up
    to 16 KiB ahead from every ``eyJ`` (a paste of ``eyJ`` repeated took seconds per megabyte).
    """
    for run in _JWT_RUN.finditer(text):
        parts = run.group(0).split(".")
        if len(parts) < 3:
            continue
        offsets: list[int] = []
        at = run.start()
        for part in parts:
            offsets.append(at)
            at += len(part) + 1
        i = 0
        while i + 2 < len(parts):
            header, payload = parts[i], parts[i + 1]
            # The leftmost ``eyJ`` in the header part whose rest is short enough to be a header.
            head = header.find("eyJ", max(0, len(header) - 3 - _JWT_PART_MAX))
            if (head != -1 and len(header) - head - 3 >= 8 and payload.startswith("eyJ")
                    and 8 <= len(payload) - 3 <= _JWT_PART_MAX):
                yield offsets[i] + head, offsets[i + 2] + min(len(parts[i + 2]), _JWT_PART_MAX)
                i += 3
            else:
                i += 1


_URL_UP_TO_QUERY = re.compile(r"https?://[^\s?\"'<>]*")
_URL_QUERY = re.compile(r"[^\s\"'<>]{1,4096}")
_URL_PATH_MAX = 2048


def _signed_urls(_text: str, lower: str) -> Iterator[tuple[int, int]]:
    """The query of an ``http(s)://`` URL whose query carries a signature or token.

    Each URL is read once up to its ``?`` (a bounded regex retried from every ``http`` of a paste of
    them read 2 KiB each time).
    """
    covered = 0
    for url in _URL_UP_TO_QUERY.finditer(lower):
        if url.start() < covered:  # a URL inside the query just redacted
            continue
        q = url.end()
        path_len = q - url.start() - (8 if lower.startswith("https", url.start()) else 7)
        if not 0 < path_len <= _URL_PATH_MAX or not lower.startswith("?", q):
            continue
        query = _URL_QUERY.match(lower, q + 1)
        if query is None:
            continue
        # Covered whether or not it is signed: a URL nested in this query has a suffix of it as its
        # own query, so reading it again finds nothing new (and a paste of "http://a?" repeated read
        # 4 KiB from each one: seconds per MiB).
        covered = query.end()
        if any(key in query.group(0) for key in _SIGNED_QUERY_KEYS):
            yield q + 1, covered


_CURL = re.compile(r"(?:curl|wget)\b")
_CURL_USER = re.compile(r"[ \t](?:-u|--user)[ \t]+['\"]?[^\s:'\"]{1,256}:([^\s'\"]{1,512})")
_CURL_REACH = 512  # how far after ``curl`` its ``-u`` is looked for


def _curl_user_passwords(text: str, _lower: str) -> Iterator[tuple[int, int]]:
    """``curl -u user:password`` / ``wget --user u:p``: only after curl/wget, since ``docker run -u
    1000:1000`` is a uid:gid. Each line is read once, however many ``curl`` it holds."""
    line_end = -1
    for cli in _CURL.finditer(text):
        if cli.start() < line_end:
            continue
        line_end = text.find("\n", cli.end())
        if line_end == -1:
            line_end = len(text)
        for m in _CURL_USER.finditer(text, cli.end(), min(line_end, cli.end() + _CURL_REACH + 800)):
            if m.start() - cli.end() <= _CURL_REACH:
                yield m.span(1)


@dataclass(frozen=True, slots=True)
class RedactionRule:
    name: str
    # Lowercase literals; the rule runs only if one is in the lowered text. Empty: ``shape`` decides.
    triggers: tuple[str, ...]
    find: _Finder
    # For rules without triggers: a looser pattern (shared Rust/Python syntax, see ``probe.py``) that
    # every match contains, probed on the original text; the rule runs only if it is there.
    shape: str | None = None


RULES: tuple[RedactionRule, ...] = (
    RedactionRule("private_key", ("private key-----",), _private_key_blocks),
    # An unterminated key block (the paste was cut): redact the base64 body that follows the header.
    # The body stops at the next ``-----``: an END line is not part of it, and BEGIN lines that follow
    # one another join one match (one span for a paste of headers, not one per header).
    RedactionRule("private_key", ("private key-----",), _regex_finder(
        r"(?:-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----(?:[A-Za-z0-9+/=\s:,]|-(?!----)){0,16384})+")),
    RedactionRule("dockerconfigjson", (".dockerconfigjson", ".dockercfg"), _regex_finder(
        r"\.(?:dockerconfigjson|dockercfg)[\"']?\s{0,8}[:=]\s{0,8}[\"']?([a-z0-9+/=]{8,65536})", 1,
        on_lower=True)),
    RedactionRule("dockerconfigjson", (), _regex_finder(rf"(?:{_B64_DOCKERCONFIG})[A-Za-z0-9+/=]{{0,65536}}"),
                  shape=_B64_DOCKERCONFIG),
    RedactionRule("docker_config_auth", ('auth"', 'token"'), _regex_finder(
        r"\"(?:auth|identitytoken|registrytoken)\"\s{0,8}:\s{0,8}\"([^\"\\\n]{1,16384})\"", 1, on_lower=True)),
    RedactionRule("docker_config_auth", ("auth",), _regex_finder(
        r"(?<![a-z0-9_-])auth[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?([a-z0-9+/]{8,16384}={0,2})", 1, on_lower=True,
        accept=_looks_like_base64_secret)),
    RedactionRule("authorization_header", ("authorization", "registry-auth"), _regex_finder(
        r"(?:authorization[\"']?[ \t]{0,8}[:=][ \t]{0,8}\[?[ \t]{0,8}[\"']?(?:basic|bearer|token|negotiate)[ \t]{1,8}"
        r"|x-registry-auth[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?)([a-z0-9._~+/=-]{4,16384})", 1, on_lower=True)),
    RedactionRule("authorization_header", ("bearer ",), _regex_finder(
        r"bearer[ \t]{1,8}([a-z0-9._~+/-]{16,16384}=*)", 1, on_lower=True)),
    RedactionRule("jwt", (), _jwts, shape=r"eyJ[A-Za-z0-9_-]{8,}\.eyJ"),
    RedactionRule("url_password", (), _regex_finder(
        r"://([^/\s:@\"']{0,256}):([^/\s\"']{1,1024})@(?=[^/\s@\"']*(?:[/\s\"']|$))", 2),
        shape=r"://[^/@\s]*:[^/\s]*@"),
    RedactionRule("docker_login_password", (" login", '"login"', "-pass", "creds", "-token"),
                  _login_passwords),
    RedactionRule("docker_login_password", ("ctr", "crictl"), _runtime_cli_credentials),
    RedactionRule("aws_secret_access_key", ("secret_access_key", "secretaccesskey", "secret_key"),
                  # ``key: X``, ``key=X`` and ``aws configure set aws_secret_access_key X`` (a space)
                  _regex_finder(r"(?:secret_access_key|secretaccesskey|aws_secret_key)[\"']?"
                                r"(?:[ \t]{0,8}[:=][ \t]{0,8}|[ \t]{1,8})[\"']?([a-z0-9/+=]{40})(?![a-z0-9/+=])", 1,
                                on_lower=True)),
    RedactionRule("aws_access_key_id", (),
                  _regex_finder(r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}(?![A-Za-z0-9])",
                                accept=_not_after_alnum),
                  shape=r"(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}"),
    RedactionRule("github_token", (), _regex_finder(
        r"gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9])", accept=_not_after_alnum),
        shape=r"gh[pousr]_[A-Za-z0-9]{36}"),
    RedactionRule("github_token", ("github_pat_",), _regex_finder(r"github_pat_[A-Za-z0-9_]{22,255}")),
    RedactionRule("gitlab_token", (),
                  _regex_finder(r"gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft)-[A-Za-z0-9_-]{20,255}",
                                accept=_not_after_alnum),
                  shape=r"gl(?:pat|dt|rt|ptt|cbt|oas|soat|ft)-[A-Za-z0-9_-]{20}"),
    RedactionRule("slack_token", (), _regex_finder(
        r"(?:xox[abposre]-[A-Za-z0-9-]{10,255}|xoxe\.xox[a-z]-[A-Za-z0-9-]{10,255}|xapp-\d-[A-Za-z0-9-]{10,255})",
        accept=_not_after_alnum), shape=r"xox[abposre]-|xoxe\.xox|xapp-"),
    RedactionRule("slack_webhook", ("hooks.slack.com/services/",), _regex_finder(
        r"hooks\.slack\.com/services/([A-Za-z0-9/_-]{10,255})", 1)),
    RedactionRule("secret_assignment", _SECRET_WORDS, _secret_assignments),
    RedactionRule("secret_assignment", ("value:", '"value"'), _env_secret_values),
    # Pre-signed blob URLs (S3 X-Amz-Signature, Azure sig=, GCS X-Goog-Signature, Docker Hub verify=):
    # containerd prints them in "failed open" errors; the whole query is the credential.
    RedactionRule("signed_url", ("signature", "sig=", "credential", "verify=", "token="), _signed_urls),
    # ``curl -u user:password`` (only after curl/wget: ``docker run -u 1000:1000`` is a uid:gid).
    RedactionRule("url_password", ("curl", "wget"), _curl_user_passwords),
)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Union overlapping spans; the earlier rule in ``RULES`` names a merged span."""
    spans.sort(key=lambda s: (s.start, s.priority))
    merged: list[_Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            rule = last.rule if last.priority <= span.priority else span.rule
            merged[-1] = _Span(last.start, max(last.end, span.end), rule, min(last.priority, span.priority))
        else:
            merged.append(span)
    return merged


def _gate(rule: RedactionRule) -> tuple[Probe, bool]:
    """The probe that decides whether ``rule`` runs, and whether it reads the lowered text."""
    if rule.triggers:
        return Probe.any_of(rule.triggers), True
    if rule.shape is None:
        raise ValueError(f"redaction rule {rule.name}: needs triggers or a shape")
    return Probe(rule.shape), False


_GATES: tuple[tuple[Probe, bool], ...] = tuple(_gate(rule) for rule in RULES)


def _markers(text: str) -> list[tuple[int, int]]:
    """Spans of the ``[REDACTED:<rule>]`` markers already in ``text``."""
    out: list[tuple[int, int]] = []
    pos = text.find(MARK)
    while pos != -1:
        end = text.find("]", pos + len(MARK))
        if end == -1:
            break
        out.append((pos, end + 1))
        pos = text.find(MARK, end + 1)
    return out


def _inside_marker(markers: list[tuple[int, int]], pos: int) -> bool:
    i = bisect_right(markers, (pos, sys.maxsize)) - 1  # the last marker starting at or before pos
    return i >= 0 and markers[i][0] <= pos < markers[i][1]


def redact(text: str, *, lower: str | None = None) -> Redaction:
    """Return ``text`` with every secret replaced by ``[REDACTED:<rule>]``.

    ``lower`` may be passed when the caller already has ``ascii_lower(text)``.
    """
    lowered = lower if lower is not None else ascii_lower(text)
    original, lowered_haystack = Haystack(text), Haystack(lowered)
    # Text already redacted stays as it is (idempotence), including a rule's match that would start
    # inside a marker (``://[REDACTED:x]@`` looks like ``user:password@``).
    markers = _markers(text)
    spans: list[_Span] = []
    for priority, (rule, (probe, on_lower)) in enumerate(zip(RULES, _GATES, strict=True)):
        if not (lowered_haystack if on_lower else original).may_contain(probe):
            continue
        for s, e in rule.find(text, lowered):
            if markers and _inside_marker(markers, s):
                continue
            spans.append(_Span(s, e, rule.name, priority))
    if not spans:
        return Redaction(text=text)
    merged = _merge(spans)
    parts: list[str] = []
    last = 0
    used: list[str] = []
    for span in merged:
        parts.append(text[last:span.start])
        parts.append(f"{MARK}{span.rule}]")
        last = span.end
        if span.rule not in used:
            used.append(span.rule)
    parts.append(text[last:])
    return Redaction(text="".join(parts), count=len(merged), rules=used)
