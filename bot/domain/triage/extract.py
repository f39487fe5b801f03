"""Pull facts out of a (redacted) paste: image references, the wanted platform, the runtime that wrote
the text, the registry host, and the HTTP status and OCI error code when they are shown.

References are only taken from contexts that name an image (``image "x"``, ``failed to resolve
reference "x"``, ``docker pull x``, ``image: x``, ``FROM x``...), never from free text, so URLs, file
paths, bare digests and host names are not mistaken for references. Scans use literal-prefixed,
bounded regexes over the lowercased copy (same offsets), and slice the original for the value. Each
context is first probed (``probe.py``), so a context absent from the paste costs one automaton pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.domain.errors import ImagecheckError, InvalidPlatform
from bot.domain.models import ExtractedReference, ImageRef, canonical_registry
from bot.domain.reference import parse_platform, parse_reference
from bot.domain.triage.probe import Haystack, Probe
from bot.domain.triage.text import line_bounds

MAX_REFERENCES = 50
MAX_CANDIDATES = 5000  # matches examined per paste; bounds the work on pathological input
MAX_PARSED = 2 * MAX_REFERENCES  # distinct candidates parsed (parsing is the costly step)
_TRAILING = ".,;:)]}'\"`!?>"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Words that follow "docker pull" in prose ("Docker pull failed with exit code 1"), never images.
_STOPWORDS = frozenset({"failed", "error", "errors", "succeeded", "complete", "completed", "with", "from",
                        "the", "is", "was", "command", "request", "access", "image", "images", "policy",
                        "repository", "and", "to", "of", "in", "on", "for", "a", "an"})


@dataclass(frozen=True, slots=True)
class _Context:
    regex: re.Pattern[str]
    strong: bool  # error wording that always names an image: keep invalid candidates (with the error)
    qualified: bool = False  # the tool always prints a fully qualified name: require a "/"
    name_only: bool = False  # the tool prints the repository without its tag (Docker's FamiliarName)


# Matched on the lowercased text; group 1 is the candidate (sliced from the original to keep its case).
_CONTEXTS: tuple[_Context, ...] = (
    # kubelet/containerd/CRI-O: Pulling image "x", Failed to pull image "x", Back-off pulling image "x",
    # failed to pull and unpack image "x", image="x" (structured logs), JSON-escaped quotes too.
    _Context(re.compile(r'image[ =]\\?"([^"\\\s]{1,512})\\?"'), True),
    _Context(re.compile(r'reference \\?"([^"\\\s]{1,512})\\?"'), True),  # failed to resolve reference "x"
    # kubelet InspectFailed: Failed to apply default image tag "x": couldn't parse image name "x": ...
    _Context(re.compile(r'(?:image name|default image tag) \\?"([^"\\\s]{1,512})\\?"'), True),
    _Context(re.compile(r"pullimage \\?\"([^\"\\\s]{1,512})\\?\""), True),  # PullImage "x" from image service
    _Context(re.compile(r"manifest for ([^\s\"']{1,512}) not found"), True),
    _Context(re.compile(r"pull access denied for ([^\s,\"']{1,512})"), True, name_only=True),
    _Context(re.compile(r"unable to find image '([^'\s]{1,512})' locally"), True),
    _Context(re.compile(r"failed to resolve ref ([^\s\"']{1,512})"), True),  # ECS agent
    _Context(re.compile(r"error: image ([^\s\"']{1,512}) not found"), True),
    _Context(re.compile(r"trying to pull ([^\s\"']{1,512})"), False, qualified=True),  # podman; "x..." trimmed
    _Context(re.compile(r"docker://([^\s\"']{1,512})"), False),  # podman/skopeo/CRI-O transport
    _Context(re.compile(r"oci://([^\s\"']{1,512})"), False),  # Helm charts in OCI registries
    _Context(re.compile(r"load metadata for ([^\s\"']{1,512})"), False, qualified=True),  # buildkit
    _Context(re.compile(r"source metadata for ([^\s\"']{1,512})"), False, qualified=True),  # buildkit
    # buildkit's missing FROM tag: "failed to solve: nginx:1: docker.io/library/nginx:1: not found" and
    # "failed to create LLB definition: docker.io/library/nginx:1: not found" (the qualified name)
    _Context(re.compile(r"failed to solve: [^\s\"']{1,512}: ([^\s\"']{1,512}): not found"), True,
             qualified=True),
    _Context(re.compile(r"llb definition: ([^\s\"']{1,512}): not found"), True, qualified=True),
    _Context(re.compile(r"pulling docker image ([^\s\"']{1,512})"), False),  # GitLab runner
    _Context(re.compile(r"executor with image ([^\s\"']{1,512})"), False),  # GitLab runner
    _Context(re.compile(r"pulling [a-z0-9_.-]{1,128} \(([^\s)]{1,512})\)"), False),  # docker-compose v1
)

# ``FROM x`` is matched case-sensitively on the original: lowercase "from" is everyday English.
_FROM = re.compile(r"FROM (?:--platform=[^\s]{1,64} )?([^\s\"']{1,512})")
_READING_MANIFEST = re.compile(r"reading manifest ([^\s]{1,256}) in ([^\s]{1,512})")
_YAML_IMAGE = "image:"
_TOOLS = ("docker", "podman", "nerdctl", "crictl", "buildah", "ctr")
_PULL_CMD_PATTERN = (r"(docker|podman|nerdctl|crictl|buildah|ctr)((?: image| images| i| -n [^\s]{1,64}"
                     r"| --namespace[ =][^\s]{1,64}){0,2}) pull ")
_PULL_CMD_PROBE = Probe.loose(_PULL_CMD_PATTERN)
_PULL_CMD_ENDING = re.compile(_PULL_CMD_PATTERN + r"\Z")  # searched with endpos just after " pull "
_PULL_CMD_REACH = 6 + 2 * len(" --namespace=") + 2 * 64  # the longest match before its " pull "
_TOKEN = re.compile(r"\S+")  # what str.split() returns, one at a time
_VALUE_FLAGS = frozenset({"--platform", "--namespace", "-n", "--creds", "--user", "-u", "--authfile",
                          "--cert-dir", "--os", "--arch", "--variant", "--creds-file", "--pod-config",
                          "--snapshotter", "--hosts-dir", "--password", "-p"})


def _clean(candidate: str) -> str:
    value = candidate.strip().strip("`'\"")
    if value.endswith("..."):
        value = value[:-3]
    return value.rstrip(_TRAILING)


def _not_a_reference(value: str) -> bool:
    """Things that look like words, paths, URLs, digests or host names, never references."""
    if len(value) < 2 or "://" in value or value.startswith(("/", ".", "-", "$", "{", "<", "~", "@")):
        return True
    low = value.lower()
    if low.startswith("sha256:") or _HEX64.fullmatch(low):
        return True
    # A bare host name ("registry.example.com") names a registry, not an image.
    return "/" not in value and ":" not in value and "@" not in value and "." in value


def _pull_commands(lower: str) -> Iterator[re.Match[str]]:
    """``re.finditer(_PULL_CMD_PATTERN, lower)``, without running the tool-name alternation at every position.

    A match ends at a literal " pull " and stays on one line, so each " pull " is found with ``str.find``
    and the pattern is searched only in the window of the line before it.
    """
    done = 0  # matches never overlap: the next one starts after the previous one ends
    pos = lower.find(" pull ")
    while pos != -1:
        end = pos + len(" pull ")
        reach = max(0, done, pos - _PULL_CMD_REACH)
        newline = lower.rfind("\n", reach, pos)  # bounded: one huge line must not be rescanned per " pull "
        m = _PULL_CMD_ENDING.search(lower, newline + 1 if newline != -1 else reach, end)
        if m:
            done = m.end()
            yield m
        pos = lower.find(" pull ", pos + 1)


def _pull_command_candidates(text: str, lower: str) -> Iterator[tuple[int, str]]:
    for m in _pull_commands(lower):
        if m.start() > 0 and (lower[m.start() - 1].isalnum() or lower[m.start() - 1] in "_-."):
            continue
        # The image follows within 600 characters on the same line (a bounded look: one huge line holding
        # many commands must not be rescanned to its end for each of them).
        le = lower.find("\n", m.end(), m.end() + 600)
        skip_next = False
        offset = m.end()
        for token in _TOKEN.finditer(text, m.end(), le if le != -1 else m.end() + 600):  # lazily: the
            tok = token.group()  # image is usually the first token, and the window can hold dozens
            offset = text.find(tok, offset)
            if skip_next:
                skip_next = False
                continue
            if tok.startswith("-"):
                skip_next = "=" not in tok and tok in _VALUE_FLAGS
                continue
            yield offset, tok
            break


def _yaml_candidates(text: str, lower: str) -> Iterator[tuple[int, str]]:
    pos = lower.find(_YAML_IMAGE)
    while pos != -1:
        ls, le = line_bounds(lower, pos)
        lead = lower[ls:pos].strip(" \t-\"'")
        if lead == "":
            value = text[pos + len(_YAML_IMAGE):le].strip().split("#", 1)[0].strip()
            if value and " " not in value:
                yield pos + len(_YAML_IMAGE), value
        pos = lower.find(_YAML_IMAGE, le)


# Each context's own pattern as a probe (see ``probe.py``): a context absent from the paste costs one
# automaton pass instead of a Python regex scan.
_CONTEXT_PROBES: tuple[Probe, ...] = tuple(Probe.loose(ctx.regex.pattern) for ctx in _CONTEXTS)
_READING_MANIFEST_PROBE = Probe.loose(_READING_MANIFEST.pattern)
_FROM_PROBE = Probe.loose(_FROM.pattern)
_YAML_PROBE = Probe.any_of([_YAML_IMAGE])

_DEFAULT = _Context(re.compile(""), False)
_STRONG = _Context(re.compile(""), True)


def _candidates(text: str, lower: str) -> Iterator[tuple[int, str, _Context]]:
    budget = MAX_CANDIDATES
    original, lowered = Haystack(text), Haystack(lower)
    for ctx, probe in zip(_CONTEXTS, _CONTEXT_PROBES, strict=True):
        if not lowered.may_contain(probe):
            continue
        # Only the earliest references are reported, so each context stops after MAX_PARSED distinct
        # values: anything later in the text cannot displace them.
        distinct: set[str] = set()
        for m in ctx.regex.finditer(lower):
            value = lower[m.start(1):m.end(1)]
            if value in distinct:
                continue
            distinct.add(value)
            yield m.start(1), text[m.start(1):m.end(1)], ctx
            budget -= 1
            if budget <= 0:
                return
            if len(distinct) >= MAX_PARSED:
                break
    # The other sources are capped the same way (a build log can repeat one FROM line thousands of times).
    sources: list[tuple[Iterator[tuple[int, str]], _Context]] = []
    if lowered.may_contain(_READING_MANIFEST_PROBE):
        sources.append((_reading_manifest_candidates(text, lower), _STRONG))
    if original.may_contain(_FROM_PROBE):
        sources.append((((m.start(1), m.group(1)) for m in _FROM.finditer(text)), _DEFAULT))
    if lowered.may_contain(_PULL_CMD_PROBE):
        sources.append((_pull_command_candidates(text, lower), _DEFAULT))
    if lowered.may_contain(_YAML_PROBE):
        sources.append((_yaml_candidates(text, lower), _DEFAULT))
    for source, ctx in sources:
        for pos, value in _earliest_distinct(source):
            yield pos, value, ctx


def _reading_manifest_candidates(text: str, lower: str) -> Iterator[tuple[int, str]]:
    for m in _READING_MANIFEST.finditer(lower):
        ref_or_digest = _clean(text[m.start(1):m.end(1)])
        repo = _clean(text[m.start(2):m.end(2)])
        sep = "@" if ref_or_digest.lower().startswith("sha256:") else ":"
        yield m.start(2), f"{repo}{sep}{ref_or_digest}"


def _earliest_distinct(candidates: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """``candidates`` (in text order) up to the MAX_PARSED-th distinct value."""
    distinct: set[str] = set()
    for pos, value in candidates:
        if value in distinct:
            continue
        distinct.add(value)
        yield pos, value
        if len(distinct) >= MAX_PARSED:
            return


def extract_references(text: str, lower: str) -> list[ExtractedReference]:
    """Every image reference in order of first appearance, deduplicated by normalized form."""
    found = sorted(_candidates(text, lower), key=lambda c: c[0])
    parsed: list[tuple[str, _Context, ImageRef | None, str | None]] = []
    written: set[str] = set()
    for _, raw, ctx in found:
        value = _clean(raw)
        if value in written or _not_a_reference(value) or (not ctx.strong and value.lower() in _STOPWORDS):
            continue
        if ctx.qualified and "/" not in value:
            continue
        written.add(value)
        try:
            parsed.append((value, ctx, parse_reference(value), None))
        except ImagecheckError as exc:
            if ctx.strong:
                # the parser's "what you probably meant" is the answer on-call needs: keep it with the error
                suggestion = getattr(exc, "suggestion", None)
                parsed.append((value, ctx, None,
                               f"{exc.message} (did you mean {suggestion}?)" if suggestion else exc.message))
        if len(parsed) >= MAX_PARSED:
            break
    # Docker names only the repository in "pull access denied for x": when the full reference is in the
    # paste too, the repository alone is the same image, not another one pulled at :latest.
    full_names = {ref.name for _, ctx, ref, _ in parsed if ref is not None and not ctx.name_only}
    out: list[ExtractedReference] = []
    normalized: set[str] = set()
    for value, ctx, ref, error in parsed:
        if ref is None:
            out.append(ExtractedReference(as_written=value, normalized=None, valid=False, error=error))
        elif ref.normalized not in normalized and not (ctx.name_only and ref.name in full_names):
            normalized.add(ref.normalized)
            out.append(ExtractedReference(as_written=value, normalized=ref.normalized, valid=True))
        if len(out) >= MAX_REFERENCES:
            break
    if not normalized:
        out.extend(_manifest_url_references(text, lower, MAX_REFERENCES - len(out)))
    return out


# ``https://ghcr.io/v2/acme/tool/manifests/1.0``: the registry API's own spelling of a reference. Docker
# prints only this URL when a manifest request fails without a body ("...": denied), so it is the one
# place such a paste names the image.
# containerd asks a mirror with "?ns=<upstream registry>": the image the user pulled lives there.
_MANIFEST_URL = re.compile(r"https?://([a-z0-9.-]{1,253}(?::[0-9]{1,5})?)/v2/([^\s\"\\]{1,600})/manifests/"
                           r"([^\s\"\\?]{1,300})(?:\?ns=([a-z0-9.-]{1,253}(?::[0-9]{1,5})?))?")


def _manifest_url_references(text: str, lower: str, limit: int) -> list[ExtractedReference]:
    """References rebuilt from manifest URLs (``host/repo:tag`` or ``host/repo@digest``), each once.

    Only used when the paste names no image otherwise: a URL is what the runtime asked, after mirror
    rewriting, so a reference written out in the paste is the better name for what the user pulls.
    Invalid results are dropped (an upper-case ``MY_REPO`` is an anonymised placeholder, not an error).
    """
    if limit <= 0 or "/manifests/" not in lower:
        return []
    out: list[ExtractedReference] = []
    seen: set[str] = set()
    for i, m in enumerate(_MANIFEST_URL.finditer(lower)):
        if i >= MAX_PARSED or len(out) >= limit:
            break
        host = canonical_registry(m.group(4) or m.group(1))
        repo = text[m.start(2):m.end(2)]
        ref = _clean(text[m.start(3):m.end(3)])
        sep = "@" if ref.lower().startswith("sha256:") else ":"
        written = f"{host}/{repo}{sep}{ref}"
        if written in seen:
            continue
        seen.add(written)
        try:
            parsed = parse_reference(written)
        except ImagecheckError:
            continue
        if parsed.normalized not in {r.normalized for r in out}:
            out.append(ExtractedReference(as_written=written, normalized=parsed.normalized, valid=True))
    return out


# --- platform ------------------------------------------------------------------------------------

_PLAT = r"[a-z0-9_]{1,32}/[a-z0-9_]{1,32}(?:/[a-z0-9_.]{1,32})?"
_PLATFORM_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"no matching manifest for ({_PLAT}) in"),
    re.compile(rf"no match for current platform ({_PLAT}) in"),
    re.compile(rf"wanted:? ({_PLAT})"),
    re.compile(rf"detected host platform \(({_PLAT})\)"),
    re.compile(rf"--platform[= ]({_PLAT})"),
)
_PODMAN_PLATFORM = re.compile(r'for architecture \\?"?([a-z0-9_]{1,32})\\?"?, '
                              r'(?:variant \\?"?([a-z0-9_]{0,32})\\?"?, )?os \\?"?([a-z0-9_]{1,32})')


_ARCH_ALIASES = {"aarch64": "arm64", "x86_64": "amd64", "x86-64": "amd64", "armhf": "arm", "armel": "arm",
                 "i386": "386", "i686": "386"}


def _normalize_platform(raw: str) -> str:
    """``os/arch[/variant]`` with containerd's architecture aliases, keeping the variant as written
    (the log's ``linux/arm64/v8`` is what the user will search for)."""
    parts = [p for p in raw.strip().lower().split("/") if p]
    if len(parts) < 2:
        return raw
    parts[1] = _ARCH_ALIASES.get(parts[1], parts[1])
    try:
        parse_platform("/".join(parts))  # validates the shape
    except InvalidPlatform:
        return raw
    return "/".join(parts[:3])


def extract_platform(lower: str) -> str | None:
    """The platform the puller wanted, normalised (``linux/arm64/v8``)."""
    for rx in _PLATFORM_PATTERNS[:2]:
        m = rx.search(lower)
        if m:
            return _normalize_platform(m.group(1))
    pm = _PODMAN_PLATFORM.search(lower)
    if pm:
        arch, variant, os_ = pm.groups()
        return _normalize_platform("/".join(p for p in (os_, arch, variant) if p))
    for rx in _PLATFORM_PATTERNS[2:]:
        m = rx.search(lower)
        if m:
            return _normalize_platform(m.group(1))
    return None


# --- runtime -------------------------------------------------------------------------------------

# First match wins: the outermost system whose configuration the user would change comes first
# (kubelet wraps containerd's error; a GitLab runner wraps Docker's).
RUNTIME_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # "Preparation failed: failed to pull image "x" with specified policies [always]: Error response from
    # daemon: ..." is the runner's Docker executor; its "failed to pull image \"" must not read as kubelet.
    ("gitlab-ci", ("gitlab-runner", "running with gitlab", "using docker executor", "job failed: ",
                   "preparing the \"docker", "preparation failed: ", "with specified policies [")),
    ("kubelet", ("imagepullbackoff", "errimagepull", "back-off pulling image", "kubelet", "pullimage ",
                 "remote_image.go", "kuberuntime", "invalidimagename", "failed to pull image \"",
                 "failed to pull image \\\"", "failed to apply default image tag")),
    ("cri-o", ("cri-o", "crio")),
    ("ecs", ("cannotpullcontainererror",)),
    ("github-actions", ("##[error]", "##[group]", "docker/build-push-action", "buildx failed with",
                        "github_workspace", "actions/checkout", "pull down action image",
                        "docker pull failed with exit code")),
    ("helm", ("helm ", "helm.go:", "/helm:", "helm-charts", "installation failed", "upgrade failed")),
    ("buildkit", ("failed to solve", "load metadata for", "=> error", "docker buildx", "buildx failed",
                  "[internal] load", "building with ")),
    ("kaniko", ("kaniko", "error building image")),
    ("nerdctl", ("nerdctl",)),
    ("crictl", ("crictl", "pulling image: rpc error")),
    ("skopeo", ("skopeo", "error parsing image name \"docker://")),
    ("podman", ("podman", "trying to pull ", "error pulling image ref", "short-name", "buildah",
                "initializing source docker://")),
    ("docker", ("error response from daemon", "docker pull", "docker: ", "docker run", "docker.exe",
                "using default tag", "unable to find image", "docker-compose", "docker compose",
                "pulling fs layer", "error pulling image configuration", "docker login")),
    ("containerd", ("ctr:", "ctr ", "containerd", "failed to pull and unpack image",
                    "failed to resolve reference")),
)


_RUNTIME_PROBES: tuple[tuple[str, tuple[str, ...], Probe], ...] = tuple(
    (name, markers, Probe.any_of(markers)) for name, markers in RUNTIME_MARKERS)


def detect_runtime(lower: str) -> str | None:
    haystack = Haystack(lower)
    for name, markers, probe in _RUNTIME_PROBES:
        # One pass per runtime; ``in`` decides only when the probe cannot (see ``Haystack.exact``).
        if haystack.may_contain(probe) and (haystack.exact or any(m in lower for m in markers)):
            return name
    return None


# --- HTTP status, OCI error code, registry host ---------------------------------------------------

_STATUS_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"([1-5][0-9]{2}) (?:unauthorized|forbidden|not found|too many requests|internal server error"
               r"|bad gateway|service unavailable|gateway timeout|proxy authentication required|bad request)"),
    re.compile(r"status(?: code)?[:= ]{1,3}\(?([1-5][0-9]{2})(?![0-9])"),
    re.compile(r"http ([1-5][0-9]{2}) response"),
    re.compile(r"statuscode=([1-5][0-9]{2})"),
    re.compile(r"registry ([1-5][0-9]{2}) \("),
    re.compile(r"error ([1-5][0-9]{2}) \("),
)

# Docker prints OCI error codes lowercased with spaces ("manifest unknown: ..."); registries' JSON and
# some tools print the code itself.
_ERROR_CODES: tuple[tuple[str, str], ...] = (
    ("manifest_blob_unknown", "MANIFEST_BLOB_UNKNOWN"), ("manifest blob unknown", "MANIFEST_BLOB_UNKNOWN"),
    ("manifest_unknown", "MANIFEST_UNKNOWN"), ("manifest unknown", "MANIFEST_UNKNOWN"),
    ("name_unknown", "NAME_UNKNOWN"), ("name unknown", "NAME_UNKNOWN"),
    ("blob_unknown", "BLOB_UNKNOWN"), ("blob unknown", "BLOB_UNKNOWN"),
    ("toomanyrequests", "TOOMANYREQUESTS"),
    ("manifest_invalid", "MANIFEST_INVALID"), ("manifest invalid", "MANIFEST_INVALID"),
    ("name_invalid", "NAME_INVALID"), ("tag_invalid", "TAG_INVALID"),
    ("unauthorized:", "UNAUTHORIZED"), ("\"unauthorized\"", "UNAUTHORIZED"),
    ("denied:", "DENIED"), ("\"denied\"", "DENIED"),
    # A body-less 401/403 (a HEAD): Docker prints the code's own message after the URL, and nothing else.
    ("\": unauthorized", "UNAUTHORIZED"), ("\": denied", "DENIED"),
    ("unsupported:", "UNSUPPORTED"),
)

_URL_HOST = re.compile(r"https?://([a-z0-9.-]{1,253}(?::[0-9]{1,5})?)/v[12]/")
_LOOKUP_HOST = re.compile(r"lookup ([a-z0-9.-]{1,253})(?: on |: )")


def _first_in(lower: str, regions: list[tuple[int, int]], rx: re.Pattern[str]) -> re.Match[str] | None:
    for start, end in regions:
        m = rx.search(lower, start, end)
        if m:
            return m
    return None


def extract_http_status(lower: str, regions: list[tuple[int, int]]) -> int | None:
    """The HTTP status shown on the evidence lines, else the first one in the paste."""
    for where in (regions, [(0, len(lower))]):
        best: re.Match[str] | None = None
        for rx in _STATUS_PATTERNS:
            m = _first_in(lower, where, rx)
            if m and (best is None or m.start() < best.start()):
                best = m
        if best:
            return int(best.group(1))
    return None


def extract_error_code(lower: str, regions: list[tuple[int, int]]) -> str | None:
    for where in (regions, [(0, len(lower))]):
        best_pos, best_code = -1, None
        for needle, code in _ERROR_CODES:
            for start, end in where:
                pos = lower.find(needle, start, end)
                if pos != -1 and (best_pos == -1 or pos < best_pos):
                    best_pos, best_code = pos, code
                    break
        if best_code:
            return best_code
    return None


# A long evidence line is searched for references only this far (a one-line paste can be a megabyte).
_NAMED_SCAN = 64 * 1024


def _named_on_regions(lower: str, regions: list[tuple[int, int]]) -> set[str]:
    """Normalized references (lowercased) named on the evidence lines: the references
    ``focus.refs_to_check`` puts first."""
    named: set[str] = set()
    for start, end in regions:
        line = lower[start:min(end, start + _NAMED_SCAN)]
        named.update(r.normalized for r in extract_references(line, line) if r.valid and r.normalized)
    return named


def extract_registry_host(lower: str, regions: list[tuple[int, int]],
                          references: list[ExtractedReference]) -> str | None:
    """The registry the failing pull talked to, Docker Hub's host names spelled ``docker.io``.

    Where the failure is decides, not what the paste happens to name first (a healthy sidecar's image
    often comes before the one that failed). In order: a registry URL (``https://host/v2/...``) on the
    failure's evidence lines; the domain of the first reference named on those lines; the domain of the
    first reference in the paste; a DNS lookup host on the evidence lines; a registry URL, then a lookup
    host, anywhere in the paste.
    """
    m = _first_in(lower, regions, _URL_HOST)
    if m:
        return canonical_registry(m.group(1))
    valid = [ref.normalized for ref in references if ref.valid and ref.normalized]
    if valid:
        named = _named_on_regions(lower, regions)
        first = next((name for name in valid if name.lower() in named), valid[0])
        return first.split("/", 1)[0]
    m = _first_in(lower, regions, _LOOKUP_HOST)
    if m:
        return m.group(1)
    m = _URL_HOST.search(lower)
    if m:
        return canonical_registry(m.group(1))
    m = _LOOKUP_HOST.search(lower)
    return m.group(1) if m else None
