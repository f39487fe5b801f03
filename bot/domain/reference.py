"""Parse and normalise image references and platforms as Docker and containerd do.

References: the grammar and normalisation are Docker's own (distribution/reference
``ParseNormalizedNamed`` + ``ParseDockerRef``), delegated to the ``docker-image-py`` package so we never
maintain a second copy of its regexes. What this module adds is the human side: surrounding
whitespace and quotes from a copied log line are dropped, and every rejection says in plain words what
is wrong and, when we can tell, what was probably meant (``InvalidReference.suggestion``).

A few references that Docker accepts are still rejected here because they are almost always typing
mistakes (a tag written as a path segment ``app/1.2.3``, a bare ``host:5000``, ``sha256:<hex>`` with no
repository); ``allow_suspicious=True`` turns those checks off for the rare repository really named so.

Platforms: ``os/arch[/variant]`` normalised and matched like containerd's ``platforms`` package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar

from docker_image import digest as ddigest
from docker_image import reference as dref

from bot.domain.errors import InvalidPlatform, InvalidReference
from bot.domain.models import ImageRef, IndexEntry, Platform

__all__ = [
    "MAX_REFERENCE_LENGTH",
    "clean_reference_text",
    "is_valid_tag",
    "normalize_platform",
    "parse_platform",
    "parse_reference",
    "platform_matches",
    "select_platform",
]

# No valid reference comes near this (path <= 255, tag <= 128, digest <= 135, a DNS name <= 253); the
# cap also keeps the backtracking regex engine underneath linear-ish on hostile input.
MAX_REFERENCE_LENGTH = 1024

_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # distribution's tag grammar, ASCII \w
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
# Matched at the start only: a segment that begins like a version number (1.23-alpine, v2.0.1).
_VERSION_PREFIX_RE = re.compile(r"v?\d+\.\d+")
_DIGEST_SIZES = {"sha256": 64, "sha384": 96, "sha512": 128}
# Pairs of quotes a copied line may carry; typographic ones come from docs and chat clients.
_QUOTE_PAIRS = {'"': '"', "'": "'", "`": "`", "“": "”", "‘": "’", "«": "»"}
# Not whitespace to ``str.strip`` but invisible all the same (zero-width space, BOM, ...).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_PUNCTUATION = ",;:.!?)]}>"
# Typographic characters that word processors and chat clients substitute for ASCII ones.
_LOOKALIKES = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-", "∶": ":",
                             "／": "/", "＠": "@", "：": ":"})
_PULL_COMMANDS = (
    ("docker", "pull"), ("docker", "run"), ("docker", "image", "pull"), ("docker", "create"),
    ("podman", "pull"), ("podman", "run"), ("nerdctl", "pull"), ("nerdctl", "run"),
    ("crictl", "pull"), ("ctr", "image", "pull"), ("ctr", "images", "pull"), ("ctr", "pull"),
    ("skopeo", "inspect"), ("skopeo", "copy"), ("regctl", "image", "inspect"),
)
_URL_SCHEMES = ("https://", "http://", "oci://", "docker://", "docker-daemon:", "registry://")


# --- references ---------------------------------------------------------------------------------


def is_valid_tag(tag: str) -> bool:
    """Whether ``tag`` fits the distribution tag grammar ``[\\w][\\w.-]{0,127}`` (ASCII only)."""
    return _TAG_RE.fullmatch(tag) is not None


def clean_reference_text(text: str) -> str:
    """Drop what a copy from a log line or a chat message wraps around a reference.

    Surrounding whitespace (including invisible characters) and matching pairs of quotes or
    backticks go; nothing inside the reference is touched.
    """
    cleaned = _strip_blank(text)
    while len(cleaned) >= 2 and _QUOTE_PAIRS.get(cleaned[0]) == cleaned[-1]:
        cleaned = _strip_blank(cleaned[1:-1])
    return cleaned


def parse_reference(text: str, *, allow_suspicious: bool = False) -> ImageRef:
    """``nginx`` -> ``docker.io/library/nginx:latest``; raises ``InvalidReference`` with a hint.

    ``ImageRef.input`` is ``text`` exactly as given. ``tag`` is ``None`` when none was written (the
    normalised forms still say ``:latest``); with both a tag and a digest, both are kept.
    """
    cleaned = clean_reference_text(text)
    token = _EXPLAINING.set(_EXPLAINING.get() | {text, cleaned})
    try:
        return _parse(text, cleaned, allow_suspicious=allow_suspicious)
    finally:
        _EXPLAINING.reset(token)


def _parse(text: str, cleaned: str, *, allow_suspicious: bool) -> ImageRef:
    problem = _precheck(text, cleaned)
    if problem is not None:
        raise problem
    try:
        parsed = dref.Reference.parse_normalized_named(cleaned)
    except (dref.InvalidReference, ddigest.InvalidDigest) as exc:
        raise _explain(text, cleaned, exc) from None
    domain, path = _split_name(parsed["name"])
    ref = ImageRef(input=text, domain=domain, path=path, tag=parsed["tag"] or None,
                   digest=parsed["digest"] or None)
    if not allow_suspicious:
        suspicious = _suspicious(text, cleaned, ref)
        if suspicious is not None:
            raise suspicious
    return ref


def _strip_blank(text: str) -> str:
    return text.strip().strip(_INVISIBLE).strip()


def _split_name(name: str) -> tuple[str, str]:
    # parse_normalized_named always returns "domain/path" (the domain is filled in for Docker Hub).
    domain, _, path = name.partition("/")
    return domain, path


# Texts being explained right now (in this context): a suggestion must differ from all of them, which
# also bounds the recursion (explaining a candidate may try further candidates).
_EXPLAINING: ContextVar[frozenset[str]] = ContextVar("_EXPLAINING", default=frozenset())


def _try(candidate: str) -> str | None:
    """``candidate`` if it parses cleanly (by Docker's rules and ours), else ``None``."""
    active = _EXPLAINING.get()
    if not candidate or len(candidate) > MAX_REFERENCE_LENGTH or candidate in active or len(active) > 8:
        return None
    token = _EXPLAINING.set(active | {candidate})
    try:
        parse_reference(candidate)
    except InvalidReference:
        return None
    finally:
        _EXPLAINING.reset(token)
    return candidate


def _docker_accepts(candidate: str) -> bool:
    """Docker's grammar alone, without our checks (which may call back here)."""
    try:
        dref.Reference.parse_normalized_named(candidate)
    except (dref.InvalidReference, ddigest.InvalidDigest):
        return False
    return True


def _first_valid(candidates: Iterator[str]) -> str | None:
    for candidate in candidates:
        found = _try(candidate)
        if found is not None:
            return found
    return None


def _error(text: str, message: str, hint: str | None = None,
           suggestion: str | None = None) -> InvalidReference:
    return InvalidReference(message, input=text, hint=hint, suggestion=suggestion)


def _did_you_mean(suggestion: str | None, fallback: str) -> str:
    return f"Did you mean `{suggestion}`?" if suggestion else fallback


def _precheck(text: str, cleaned: str) -> InvalidReference | None:
    """What can be told before Docker's grammar runs: emptiness, size, pasted commands and URLs."""
    if not cleaned:
        return _error(text, "the reference is empty",
                      "Give an image reference such as `nginx:1.27` or `ghcr.io/org/app@sha256:…`.")
    if len(cleaned) > MAX_REFERENCE_LENGTH:
        return _error(text, f"the reference is {len(cleaned)} characters long; no valid image reference "
                            f"is longer than {MAX_REFERENCE_LENGTH}",
                      "Paste only the image reference, not the whole log line.")
    for check in (_pasted_command, _pasted_url, _slack_link, _wrapped):
        found = check(text, cleaned)
        if found is not None:
            return found
    if any(ch.isspace() for ch in cleaned):
        return _spaces(text, cleaned)
    if not cleaned.isascii() or not cleaned.isprintable():
        # Docker's grammar is printable ASCII only; a lookalike character is a copy-paste accident.
        plain = "".join(ch for ch in cleaned.translate(_LOOKALIKES) if ch.isascii() and ch.isprintable())
        suggestion = _try(plain) if plain != cleaned else None
        return _error(text, "invalid reference format: the reference contains a character that is not "
                            "printable ASCII (a lookalike dash, quote or invisible character?)",
                      _did_you_mean(suggestion, "Retype the reference by hand."), suggestion)
    return None


def _words(cleaned: str) -> list[str]:
    return cleaned.split()


def _pasted_command(text: str, cleaned: str) -> InvalidReference | None:
    words = _words(cleaned)
    if words and words[0] == "-":  # a YAML list item: "- image: nginx"
        words = words[1:]
    lowered = [w.lower() for w in words]
    for command in _PULL_COMMANDS:
        if tuple(lowered[: len(command)]) == command:
            rest = _operands(words[len(command):])
            suggestion = _first_valid(clean_reference_text(w) for w in rest)
            return _error(text, f"that is a `{' '.join(command)}` command, not an image reference",
                          _did_you_mean(suggestion, "Give only the image reference from the command."),
                          suggestion)
    # A line copied from a Dockerfile or a Kubernetes/Compose manifest.
    if lowered and lowered[0] in ("from", "image:", "-image:", "image=") and len(words) >= 2:
        suggestion = _try(clean_reference_text(words[1]))
        return _error(text, f"`{words[0]}` starts a Dockerfile or manifest line, not an image reference",
                      _did_you_mean(suggestion, "Give only the image reference."), suggestion)
    return None


# Flags of the commands above that take a separate value, which is never the image.
_VALUE_FLAGS = frozenset({
    "--platform", "--name", "-e", "--env", "-v", "--volume", "-p", "--publish", "--network", "--net",
    "--entrypoint", "--creds", "-u", "--user", "-w", "--workdir", "-n", "--namespace", "--format",
    "--authfile", "--cert-dir", "--os", "--arch", "--variant", "--label", "-l", "--mount", "--env-file",
})


def _operands(words: list[str]) -> list[str]:
    operands: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            skip = word in _VALUE_FLAGS
        else:
            operands.append(word)
    return operands


def _pasted_url(text: str, cleaned: str) -> InvalidReference | None:
    lowered = cleaned.lower()
    scheme = next((s for s in _URL_SCHEMES if lowered.startswith(s)), None)
    if scheme is None:
        return None
    rest = cleaned[len(scheme):].strip("/")
    suggestion = _try(_from_web_page(rest)) or _try(rest)
    return _error(text, f"image references have no URL scheme (`{scheme}`)",
                  _did_you_mean(suggestion, "Drop the scheme: write `registry.example.com/repo:tag`."),
                  suggestion)


def _from_web_page(rest: str) -> str:
    """Docker Hub's web pages name images differently: ``hub.docker.com/_/nginx``, ``/r/org/app``."""
    for prefix in ("hub.docker.com/_/", "hub.docker.com/r/", "registry.hub.docker.com/_/",
                   "registry.hub.docker.com/r/"):
        if rest.lower().startswith(prefix):
            return rest[len(prefix):].split("/tags")[0]
    return rest


def _slack_link(text: str, cleaned: str) -> InvalidReference | None:
    # Slack turns things that look like a host into ``<http://host/x|host/x>`` before we see them.
    if cleaned.startswith("<") and cleaned.endswith(">") and ("|" in cleaned or "://" in cleaned):
        shown = clean_reference_text(cleaned[1:-1].split("|", 1)[-1])
        if "://" in shown:
            shown = shown.split("://", 1)[1].strip("/")
        suggestion = _try(shown)
        return _error(text, "that is a chat link, not an image reference",
                      _did_you_mean(suggestion, "Give only the image reference."), suggestion)
    return None


def _wrapped(text: str, cleaned: str) -> InvalidReference | None:
    """Unbalanced quotes, brackets or trailing punctuation from a sentence or a log line."""
    if " " in cleaned:
        return None
    opening = "\"'`“‘«(<["
    closing = "\"'`”’»)>]"
    stripped = cleaned.lstrip(opening).rstrip(closing + _PUNCTUATION.replace(".", "").replace(":", ""))
    if stripped == cleaned:
        return None
    if _docker_accepts(cleaned):  # e.g. "[::1]:5000/x" is fine as it is
        return None
    suggestion = _try(stripped) or _try(stripped.rstrip(_PUNCTUATION))
    return _error(text, "invalid reference format: quotes, brackets or punctuation around the reference",
                  _did_you_mean(suggestion, "Give only the image reference."), suggestion)


def _spaces(text: str, cleaned: str) -> InvalidReference:
    words = _words(cleaned)
    candidates = []
    if len(words) == 2 and is_valid_tag(words[1]):
        candidates.append(f"{words[0]}:{words[1]}")  # "nginx 1.27" -> "nginx:1.27"
    candidates.append("".join(words))
    candidates.extend(clean_reference_text(w) for w in words)
    suggestion = _first_valid(iter(candidates))
    return _error(text, "invalid reference format: an image reference contains no spaces",
                  _did_you_mean(suggestion, "Give one image reference, without spaces."), suggestion)


# --- explaining Docker's rejections -------------------------------------------------------------


def _explain(text: str, cleaned: str, exc: Exception) -> InvalidReference:
    message = str(exc.args[0]) if exc.args else "invalid reference format"
    for explain in _EXPLAINERS:
        found = explain(text, cleaned, message)
        if found is not None:
            return found
    return _error(text, message, _generic_hint(cleaned))


def _lowercase(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if "must be lowercase" not in message:
        return None
    name, tail = _split_tail(cleaned)
    suggestion = _try(name.lower() + tail)  # tags may keep their case; repositories may not
    return _error(text, "repository name must be lowercase",
                  _did_you_mean(suggestion, "Write the repository in lowercase."), suggestion)


def _identifier(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if "64-byte hexadecimal" not in message:
        return None
    return _error(text, "invalid repository name: a 64-character hex string is an image ID or a digest, "
                        "not a repository",
                  "Name the repository and pin the digest: `repository@sha256:<that hex>`.")


def _too_long(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if "not be more than" not in message:
        return None
    return _error(text, f"repository name must not be more than {dref.NAME_TOTAL_LENGTH_MAX} characters",
                  "The repository path is over Docker's limit; check nothing else was pasted into it.")


def _bad_digest(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if "@" not in cleaned:
        return None
    name, _, digest = cleaned.rpartition("@")
    algorithm, colon, encoded = digest.partition(":")
    expected = _DIGEST_SIZES.get(algorithm.lower())
    if not colon:
        if len(digest) == 64 and _HEX_RE.fullmatch(digest):
            suggestion = _try(f"{name}@sha256:{digest.lower()}")
            return _error(text, "invalid digest format: the digest lacks its algorithm",
                          _did_you_mean(suggestion, "Write digests as `sha256:<64 hex characters>`."),
                          suggestion)
        if not digest:
            suggestion = _try(name)
            return _error(text, "invalid reference format: nothing after `@`",
                          _did_you_mean(suggestion, "Put a digest after `@`, as `sha256:<64 hex>`."),
                          suggestion)
        return _error(text, "invalid digest format", "Write digests as `sha256:<64 hex characters>`.")
    if expected is None:
        suggestion = None
        if len(encoded) == 64 and _HEX_RE.fullmatch(encoded):
            suggestion = _try(f"{name}@sha256:{encoded.lower()}")
        return _error(text, f"unsupported digest algorithm `{algorithm}`: registries use sha256 "
                            "(sha384 and sha512 are also accepted)",
                      _did_you_mean(suggestion, "Copy the digest again from `docker buildx imagetools "
                                                "inspect` or the registry."), suggestion)
    if _HEX_RE.fullmatch(encoded) is None:
        return _error(text, f"invalid digest format: a {algorithm} digest is hexadecimal (0-9, a-f)",
                      "Copy the digest again; part of it is not a hex digit.")
    if len(encoded) != expected:
        return _error(text, f"invalid checksum digest length: a {algorithm} digest has {expected} hex "
                            f"characters, this one has {len(encoded)}",
                      "The digest was cut or padded when copied; copy it again in full.")
    if encoded != encoded.lower() or algorithm != algorithm.lower():
        suggestion = _try(f"{name}@{algorithm.lower()}:{encoded.lower()}")
        return _error(text, "invalid digest format: digests are written in lowercase hex",
                      _did_you_mean(suggestion, "Write the digest in lowercase."), suggestion)
    return None


def _bad_tag(text: str, cleaned: str, message: str) -> InvalidReference | None:
    name, tail = _split_tail(cleaned)
    tag = tail[1:].split("@", 1)[0] if tail.startswith(":") else None
    if tag is None or _try(name) is None:
        return None
    if not tag:
        suggestion = _try(name + tail[1:])
        return _error(text, "invalid reference format: the tag after `:` is empty",
                      _did_you_mean(suggestion, "Put a tag after `:` or drop the `:`."), suggestion)
    if len(tag) > 128:
        return _error(text, f"invalid tag format: a tag has at most 128 characters, this one has {len(tag)}",
                      "Check that nothing else was pasted after the tag.")
    if tag[0] in ".-":
        suggestion = _try(f"{name}:{tag.lstrip('.-')}")
        return _error(text, "invalid tag format: a tag must start with a letter, digit or underscore",
                      _did_you_mean(suggestion, "Drop the leading `.` or `-` from the tag."), suggestion)
    trimmed = tag.rstrip(_PUNCTUATION)
    if trimmed != tag and is_valid_tag(trimmed):
        suggestion = _try(f"{name}:{trimmed}")
        return _error(text, "invalid reference format: punctuation after the tag",
                      _did_you_mean(suggestion, "Drop the trailing punctuation."), suggestion)
    if "+" in tag:
        # Semver build metadata: registries cannot store '+', so publishers write '_' instead.
        suggestion = _try(f"{name}:{tag.replace('+', '_')}")
        return _error(text, "invalid tag format: `+` is not allowed in a tag",
                      _did_you_mean(suggestion, "Tags use letters, digits, `_`, `.` and `-` only."),
                      suggestion)
    if ":" in tag:
        return _error(text, "invalid reference format: more than one `:` after the repository",
                      "A reference has one tag: `repository:tag`. A registry port goes before the first `/`.")
    return _error(text, "invalid tag format: tags use letters, digits, `_`, `.` and `-` only, up to 128 "
                        "characters", "Check the tag for stray characters.")


def _trailing_slash(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if not (cleaned.endswith("/") or cleaned.startswith("/") or "//" in cleaned):
        return None
    fixed = re.sub(r"/{2,}", "/", cleaned).strip("/")
    suggestion = _try(fixed)
    return _error(text, "invalid reference format: empty path segment (a stray `/`)",
                  _did_you_mean(suggestion, "Remove the extra `/`."), suggestion)


def _no_name(text: str, cleaned: str, message: str) -> InvalidReference | None:
    if not (cleaned.startswith(":") or cleaned.startswith("@")):
        return None
    return _error(text, "invalid reference format: the repository name is missing",
                  "Write the repository before the tag or digest: `nginx:1.27`.")


_EXPLAINERS: tuple[Callable[[str, str, str], InvalidReference | None], ...] = (
    _identifier, _lowercase, _too_long, _no_name, _trailing_slash, _bad_digest, _bad_tag,
)


def _generic_hint(cleaned: str) -> str:
    return ("Repository names are lowercase letters, digits and separators (`.`, `_`, `__`, `-`) "
            "between `/`, optionally after a registry host[:port]; then `:tag` and/or "
            "`@sha256:<digest>`.")


def _split_tail(cleaned: str) -> tuple[str, str]:
    """Split ``name`` from its ``:tag`` / ``@digest`` tail, as written (before any validation)."""
    at = cleaned.find("@")
    head, digest_part = (cleaned, "") if at < 0 else (cleaned[:at], cleaned[at:])
    slash = head.rfind("/")
    colon = head.find(":", slash + 1)
    if colon < 0:
        return head, digest_part
    return head[:colon], head[colon:] + digest_part


# --- accepted by Docker, yet almost certainly not what was meant --------------------------------


def _suspicious(text: str, cleaned: str, ref: ImageRef) -> InvalidReference | None:
    name, _ = _split_tail(cleaned)
    segments = name.split("/")
    last = segments[-1]
    if ref.tag is None and ref.digest is None and len(segments) >= 2 and _VERSION_PREFIX_RE.match(last):
        suggestion = _try("/".join(segments[:-1]) + ":" + last)
        if suggestion is None or parse_reference(suggestion).domain != ref.domain:
            return None  # "host/1.0": no repository would be left to carry the tag
        return _error(text, f"`{last}` looks like a tag written as a path segment",
                      _did_you_mean(suggestion, "A tag follows `:`, not `/`.")
                      + " (For a repository really named so, parse with allow_suspicious.)", suggestion)
    if len(segments) == 1 and ref.tag is not None and ref.tag.isdigit() and (
            "." in name or name == "localhost"):
        return _error(text, f"`{cleaned}` looks like a registry address (host:port) without a repository",
                      f"Add the repository after the registry: `{cleaned}/<repository>:<tag>`.")
    if len(segments) == 1 and name in _DIGEST_SIZES and ref.tag is not None and \
            len(ref.tag) == _DIGEST_SIZES[name] and _HEX_RE.fullmatch(ref.tag):
        return _error(text, "a digest on its own is not an image reference",
                      f"Name the repository too: `<repository>@{cleaned}`.")
    return None


# --- platforms ----------------------------------------------------------------------------------

_KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl",
    "netbsd", "openbsd", "plan9", "solaris", "windows", "zos", "wasip1",
})
_KNOWN_ARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips",
    "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x",
    "sparc", "sparc64", "wasm",
})
# What people type besides containerd's own spellings: `uname -m` output and Docker Hub's
# per-architecture namespaces (arm64v8/nginx). Each maps to containerd's (arch, variant).
_ARCH_ALIASES: dict[str, tuple[str, str]] = {
    "armv7l": ("arm", "v7"), "armv7": ("arm", "v7"), "armv6l": ("arm", "v6"), "armv6": ("arm", "v6"),
    "armv5l": ("arm", "v5"), "armv5tel": ("arm", "v5"), "arm32v7": ("arm", "v7"), "arm32v6": ("arm", "v6"),
    "arm32v5": ("arm", "v5"), "arm64v8": ("arm64", ""), "i686": ("386", ""), "i586": ("386", ""),
    "x86": ("386", ""), "x64": ("amd64", ""), "ppc64el": ("ppc64le", ""),
}
_COMPONENT_RE = re.compile(r"[A-Za-z0-9_.-]+")
_OS_RE = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)\))?")


def _normalize_os(os_name: str) -> str:
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch, plus the aliases above."""
    arch, variant = arch.lower(), variant.lower()
    if arch in _ARCH_ALIASES and not variant:
        return _ARCH_ALIASES[arch]
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
        return "arm", variant
    return arch, variant


def normalize_platform(platform: Platform) -> Platform:
    """containerd's ``Normalize``: ``aarch64`` -> ``arm64``, ``arm`` -> ``arm/v7``, ``arm64/v8`` -> ``arm64``.
    """
    arch, variant = _normalize_arch(platform.architecture, platform.variant or "")
    return Platform(os=_normalize_os(platform.os), architecture=arch, variant=variant or None,
                    os_version=platform.os_version)


def parse_platform(text: str) -> Platform:
    """Parse ``os/arch[/variant]`` (or ``os(version)/arch``), normalised like containerd.

    A bare architecture (``arm64``, ``aarch64``) means Linux, what a Kubernetes fleet runs; a bare
    OS is refused because the architecture is the whole point of asking.
    """
    spec = clean_reference_text(text)
    if not spec:
        raise InvalidPlatform("the platform is empty; write it as os/arch[/variant], e.g. linux/arm64")
    if "*" in spec:
        raise InvalidPlatform(f"{spec!r}: wildcards are not supported; name one platform, e.g. linux/amd64")
    parts = spec.split("/")
    if len(parts) > 3:
        raise InvalidPlatform(f"{spec!r} has too many parts; write it as os/arch[/variant], "
                              "e.g. linux/arm/v7")
    os_match = _OS_RE.fullmatch(parts[0])
    if os_match is None:
        raise InvalidPlatform(f"{parts[0]!r} is not a valid operating system in {spec!r}; "
                              "write the platform as os/arch[/variant], e.g. linux/amd64")
    for part in parts[1:]:
        if not _COMPONENT_RE.fullmatch(part):
            raise InvalidPlatform(f"{part!r} is not a valid platform component in {spec!r} "
                                  "(letters, digits, `_`, `.` and `-` only)")
    os_version = os_match.group(2) or None
    if len(parts) == 1:
        word = parts[0].lower()
        if _normalize_os(word) in _KNOWN_OS:
            raise InvalidPlatform(f"{spec!r} names only an operating system; add the architecture, "
                                  f"e.g. {_normalize_os(word)}/amd64 or {_normalize_os(word)}/arm64")
        arch, variant = _normalize_arch(word, "")
        if arch not in _KNOWN_ARCH:
            raise InvalidPlatform(f"{spec!r} is not a known operating system or architecture; "
                                  "write the platform as os/arch[/variant], e.g. linux/arm64")
        return Platform(os="linux", architecture=arch, variant=variant or None)
    arch, variant = _normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
    return Platform(os=_normalize_os(os_match.group(1)), architecture=arch, variant=variant or None,
                    os_version=os_version)


def _build(os_version: str | None) -> tuple[str, ...]:
    return tuple((os_version or "").split(".")[:3])


def platform_matches(wanted: Platform, candidate: Platform) -> bool:
    """containerd's exact matcher: OS, architecture and variant equal once both are normalised.

    Variant defaults count as written (``arm64`` is ``arm64/v8``, ``arm`` is ``arm/v7``), but one
    variant never stands in for another (``arm/v7`` wanted, ``arm/v6`` offered: no match). A wanted
    OS version (Windows builds) must agree on major.minor.build.
    """
    want, have = normalize_platform(wanted), normalize_platform(candidate)
    if (want.os, want.architecture, want.variant) != (have.os, have.architecture, have.variant):
        return False
    return not want.os_version or _build(want.os_version) == _build(have.os_version)


def _is_attestation(entry: IndexEntry) -> bool:
    platform = entry.platform
    return entry.attestation or (platform is not None and platform.os == "unknown"
                                 and platform.architecture == "unknown")


def select_platform(wanted: Platform, entries: Sequence[IndexEntry]) -> IndexEntry | None:
    """The first index entry for ``wanted``, skipping attestation manifests and unplatformed entries."""
    for entry in entries:
        if entry.platform is None or _is_attestation(entry):
            continue
        if platform_matches(wanted, entry.platform):
            return entry
    return None
