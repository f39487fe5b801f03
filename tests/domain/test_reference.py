"""parse_reference: Docker's own test tables (distribution/reference normalize_test.go and
reference_test.go, adapted to ParseNormalizedNamed + ParseDockerRef), then our hints and suggestions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import InvalidReference
from bot.domain.models import ImageRef
from bot.domain.reference import MAX_REFERENCE_LENGTH, clean_reference_text, is_valid_tag, parse_reference

D = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
F = "sha256:" + "f" * 64
HEX = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


# --- Docker's normalisation (ParseDockerRef): input -> normalized, domain, path ---------------------

DOCKER_REF_CASES = [
    # TestParseDockerRef
    ("busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("busybox:latest", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("busybox@" + D, "docker.io/library/busybox@" + D, "docker.io", "library/busybox"),
    ("library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("library/busybox:latest", "docker.io/library/busybox:latest", "docker.io", "library/busybox"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest", "gcr.io", "library/busybox"),
    ("gcr.io/library/busybox:latest@" + D, "gcr.io/library/busybox@" + D, "gcr.io", "library/busybox"),
    # TestParseAnyReference (named forms)
    ("redis", "docker.io/library/redis:latest", "docker.io", "library/redis"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp:latest", "docker.io", "dmcgowan/myapp"),
    ("dmcgowan/myapp@" + D, "docker.io/dmcgowan/myapp@" + D, "docker.io", "dmcgowan/myapp"),
    ("dbcc1", "docker.io/library/dbcc1:latest", "docker.io", "library/dbcc1"),
    (HEX[:63], f"docker.io/library/{HEX[:63]}:latest", "docker.io", f"library/{HEX[:63]}"),
    # TestNormalizedSplitHostname
    ("test.com/foo", "test.com/foo:latest", "test.com", "foo"),
    ("test_com/foo", "docker.io/test_com/foo:latest", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io/docker/migrator:latest", "docker.io", "docker/migrator"),
    ("test.com:8080/foo", "test.com:8080/foo:latest", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080/foo:latest", "test-com:8080", "foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo:latest", "xn--n3h.com:18080", "foo"),
    ("docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "docker.io", "library/foo/bar"),
    # TestParseRepositoryInfo
    ("localhost/fooo/bar", "localhost/fooo/bar:latest", "localhost", "fooo/bar"),
    ("LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo:latest", "LOCALDOMAIN", "fooo"),
    ("index.docker.io/fooo/bar", "docker.io/fooo/bar:latest", "docker.io", "fooo/bar"),
    ("index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest",
     "docker.io", "library/ubuntu-12.04-base"),
    ("docker.io/foo", "docker.io/library/foo:latest", "docker.io", "library/foo"),
    ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest", "127.0.0.1:8000",
     "private/moonbase"),
    ("example.com:8000/privatebasee", "example.com:8000/privatebasee:latest", "example.com:8000",
     "privatebasee"),
    ("store/foo/bar", "docker.io/store/foo/bar:latest", "docker.io", "store/foo/bar"),
    ("Foo/bar", "Foo/bar:latest", "Foo", "bar"),
    # TestReferenceParse cases that are valid named references
    ("test:5000/repo:tag", "test:5000/repo:tag", "test:5000", "repo"),
    ("test:5000/repo@" + F, "test:5000/repo@" + F, "test:5000", "repo"),
    ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "library/lowercase"),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
     "sub-dom1.foo.com", "bar/baz/quux"),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com",
     "b.gcr.io", "test.example.com/my-app"),
    ("xn--7o8h.com/myimage:xn--7o8h.com@" + F, "xn--7o8h.com/myimage@" + F, "xn--7o8h.com", "myimage"),
    ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com"),
    ("192.168.1.1", "docker.io/library/192.168.1.1:latest", "docker.io", "library/192.168.1.1"),
    ("192.168.1.1/repo", "192.168.1.1/repo:latest", "192.168.1.1", "repo"),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo"),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", "[2001:db8::1]", "repo"),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo"),
    ("[2001:db8::1]:5000/repo:tag@" + F, "[2001:db8::1]:5000/repo@" + F, "[2001:db8::1]:5000", "repo"),
    ("[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000", "repo"),
    ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker:latest", "[fc00::1]:5000",
     "docker/docker"),
    ("docker.io/" + HEX, f"docker.io/library/{HEX}:latest", "docker.io", f"library/{HEX}"),
    ("example.com/" + "a" * 255 + ":tag", "example.com/" + "a" * 255 + ":tag", "example.com", "a" * 255),
    ("dock__er/docker", "docker.io/dock__er/docker:latest", "docker.io", "dock__er/docker"),
    ("docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker.io", "docker---rules/docker"),
    ("d/docker", "docker.io/d/docker:latest", "docker.io", "d/docker"),
    ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000", "x"),
]


@pytest.mark.parametrize(("text", "normalized", "domain", "path"), DOCKER_REF_CASES)
def test_normalizes_like_docker(text: str, normalized: str, domain: str, path: str) -> None:
    ref = parse_reference(text)
    assert (ref.normalized, ref.domain, ref.path) == (normalized, domain, path)
    assert ref.input == text


@pytest.mark.parametrize(("text", "familiar"), [
    ("docker.io/library/ubuntu", "ubuntu:latest"),
    ("index.docker.io/library/foo", "foo:latest"),
    ("docker.io/fooo/bar", "fooo/bar:latest"),
    ("docker.io/library/foo/bar", "library/foo/bar:latest"),
    ("localhost/fooo", "localhost/fooo:latest"),
    ("example.com:8000/private/moonbase", "example.com:8000/private/moonbase:latest"),
    ("busybox:latest@" + D, "busybox@" + D),
])
def test_familiar_form_matches_docker(text: str, familiar: str) -> None:
    assert parse_reference(text).familiar == familiar


def test_tag_and_digest_are_both_kept_but_digest_wins() -> None:
    ref = parse_reference("busybox:1.36@" + D)
    assert ref.tag == "1.36"
    assert ref.digest == D
    assert ref.reference == D  # what the registry is asked for
    assert ref.normalized == "docker.io/library/busybox@" + D


def test_no_tag_written_means_latest_but_is_not_invented() -> None:
    ref = parse_reference("nginx")
    assert ref.tag is None
    assert ref.effective_tag == "latest"
    assert ref.reference == "latest"


@pytest.mark.parametrize("digest", ["sha384:" + "a" * 96, "sha512:" + "b" * 128])
def test_longer_digest_algorithms_are_accepted(digest: str) -> None:
    assert parse_reference("repo@" + digest).digest == digest


# --- Docker's rejections --------------------------------------------------------------------------

DOCKER_INVALID = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker",
    "-docker.io/docker/docker", "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker",
    "[fc00::1]", "[fc00::1]:5000", "fc00::1:5000/debian", "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian", HEX, "docker-/docker", "-docker-/docker", "____/____",
    "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
    "", ":justtag", "@" + F, "repo@sha256:" + "f" * 34, "validname@invaliddigest:" + "f" * 64,
    "Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "domain/" + "a" * 256 + ":tag",
    "aa/asdf$$^/aa", "[2001:db8::1]", "[2001:db8::1]:5000", "[2001:db8::1]:tag",
    "[fe80::1%@invalidzone]:5000/repo",
]


@pytest.mark.parametrize("text", DOCKER_INVALID)
def test_rejects_what_docker_rejects(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text, allow_suspicious=True)
    assert info.value.input == text
    assert info.value.message


@pytest.mark.parametrize(("text", "message"), [
    ("Uppercase:tag", "repository name must be lowercase"),
    ("domain/" + "a" * 256 + ":tag", "repository name must not be more than 255 characters"),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length"),
    ("validname@invaliddigest:" + "f" * 64, "unsupported digest algorithm"),
    (HEX, "64-character hex string is an image ID"),
    ("", "the reference is empty"),
])
def test_rejection_names_dockers_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(text)


def test_the_255_limit_is_on_the_path_not_the_whole_name() -> None:
    # From reference_test.go: a long domain plus a 255-character path is fine; 256 is not.
    assert len(parse_reference("example.com/" + "a" * 255).path) == 255
    long_path = "a/" * 127 + "a:tag-puts-this-over-max"  # 255-character path, tag on top
    assert parse_reference("example.com/" + long_path).tag == "tag-puts-this-over-max"
    with pytest.raises(InvalidReference):
        parse_reference("example.com/" + "a" * 256)


# --- what a person pastes: stripped silently -------------------------------------------------------

@pytest.mark.parametrize("text", [
    "  nginx:1.25  ", "\tnginx:1.25\n", '"nginx:1.25"', "'nginx:1.25'", "`nginx:1.25`", " `nginx:1.25` ",
    "“nginx:1.25”", "\u200bnginx:1.25\u200b", "\xa0nginx:1.25", '" nginx:1.25 "',
])
def test_surrounding_whitespace_and_matching_quotes_are_dropped(text: str) -> None:
    ref = parse_reference(text)
    assert ref.normalized == "docker.io/library/nginx:1.25"
    assert ref.input == text  # exactly what was typed


def test_clean_reference_text_keeps_the_inside_untouched() -> None:
    assert clean_reference_text(" 'a b' ") == "a b"
    assert clean_reference_text("'nginx\"") == "'nginx\""  # not a matching pair


# --- hints: what was probably meant ---------------------------------------------------------------

HINT_CASES = [
    # uppercase: the repository is lowercased, the tag keeps its case
    ("Nginx:1.25", "lowercase", "nginx:1.25"),
    ("docker.io/MyOrg/App:Release-1", "lowercase", "docker.io/myorg/app:Release-1"),
    ("docker/Docker", "lowercase", "docker/docker"),
    # a tag written as a path segment
    ("nginx/1.23-alpine", "tag written as a path segment", "nginx:1.23-alpine"),
    ("ghcr.io/org/app/v2.3.1", "tag written as a path segment", "ghcr.io/org/app:v2.3.1"),
    ("registry.k8s.io/pause/3.9", "tag written as a path segment", "registry.k8s.io/pause:3.9"),
    # URLs and web pages
    ("https://ghcr.io/org/app:1.0", "no URL scheme", "ghcr.io/org/app:1.0"),
    ("http://localhost:5000/team/app:dev", "no URL scheme", "localhost:5000/team/app:dev"),
    ("docker://quay.io/org/app:2", "no URL scheme", "quay.io/org/app:2"),
    ("https://hub.docker.com/_/nginx", "no URL scheme", "nginx"),
    ("https://hub.docker.com/r/grafana/grafana/tags", "no URL scheme", "grafana/grafana"),
    # stray slashes
    ("nginx/", "stray `/`", "nginx"),
    ("ghcr.io/org/app/", "stray `/`", "ghcr.io/org/app"),
    ("ghcr.io//org/app:1", "stray `/`", "ghcr.io/org/app:1"),
    # commands and manifest lines
    ("docker pull nginx:1.25", "`docker pull` command", "nginx:1.25"),
    ("docker pull --platform linux/arm64 nginx:1.25", "`docker pull` command", "nginx:1.25"),
    ("docker run --rm -e A=1 redis:7 redis-server", "`docker run` command", "redis:7"),
    ("crictl pull registry.k8s.io/pause:3.9", "`crictl pull` command", "registry.k8s.io/pause:3.9"),
    ("ctr image pull docker.io/library/nginx:1.25", "`ctr image pull` command",
     "docker.io/library/nginx:1.25"),
    ("podman pull 'quay.io/org/app:1'", "`podman pull` command", "quay.io/org/app:1"),
    ("FROM golang:1.22 AS build", "Dockerfile or manifest line", "golang:1.22"),
    ("image: nginx:1.25", "Dockerfile or manifest line", "nginx:1.25"),
    ("- image: \"nginx:1.25\"", "Dockerfile or manifest line", "nginx:1.25"),
    # digests
    ("nginx@" + "a" * 64, "lacks its algorithm", "nginx@sha256:" + "a" * 64),
    ("nginx@sha265:" + "a" * 64, "unsupported digest algorithm `sha265`", "nginx@sha256:" + "a" * 64),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm `md5`", None),
    ("nginx@sha256:" + "a" * 63, "has 64 hex characters, this one has 63", None),
    ("nginx@sha256:" + "a" * 65, "this one has 65", None),
    ("nginx@sha256:" + "A" * 64, "lowercase hex", "nginx@sha256:" + "a" * 64),
    ("nginx@sha256:" + "g" * 64, "hexadecimal", None),
    ("nginx@", "nothing after `@`", "nginx"),
    # whitespace, quotes and punctuation from a copied line
    ("nginx 1.25", "contains no spaces", "nginx:1.25"),
    ("ghcr.io/org/ app:1", "contains no spaces", "ghcr.io/org/app:1"),
    ("nginx:1.25,", "punctuation", "nginx:1.25"),
    ("(nginx:1.25)", "punctuation", "nginx:1.25"),
    ('"nginx:1.25', "quotes", "nginx:1.25"),
    ("nginx:1.25;", "punctuation", "nginx:1.25"),
    ("nginx:1.25:", "punctuation after the tag", "nginx:1.25"),
    ("nginx–alpine", "not printable ASCII", "nginx-alpine"),
    ("<http://ghcr.io/org/app:1|ghcr.io/org/app:1>", "chat link", "ghcr.io/org/app:1"),
    # tags
    ("nginx:", "tag after `:` is empty", "nginx"),
    ("app:1.2.3+build.7", "`+` is not allowed", "app:1.2.3_build.7"),
    ("nginx:-rc", "must start with a letter, digit or underscore", "nginx:rc"),
    ("nginx:" + "a" * 129, "at most 128 characters", None),
    ("nginx:1.25:alpine", "more than one `:`", None),
    # missing pieces
    (":1.25", "repository name is missing", None),
    ("localhost:5000", "registry address (host:port) without a repository", None),
    ("registry.example.com:443", "registry address (host:port) without a repository", None),
    ("sha256:" + "a" * 64, "digest on its own", None),
    (HEX, "image ID", None),
    ("   ", "empty", None),
    ("x" * (MAX_REFERENCE_LENGTH + 1), "characters long", None),
]


@pytest.mark.parametrize(("text", "message", "suggestion"), HINT_CASES)
def test_invalid_reference_says_what_was_probably_meant(text: str, message: str,
                                                        suggestion: str | None) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    err = info.value
    assert message in err.message
    assert err.input == text
    assert err.hint  # every rejection tells the user what to do
    assert err.suggestion == suggestion
    if suggestion is not None:
        assert suggestion in err.hint
        parse_reference(suggestion)  # a suggestion is always itself valid


@pytest.mark.parametrize("text", ["nginx/1.23-alpine", "localhost:5000", "sha256:" + "a" * 64,
                                  "test.com:5000", "192.168.0.1:80"])
def test_allow_suspicious_gives_dockers_own_answer(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_reference(text)
    assert parse_reference(text, allow_suspicious=True).domain == "docker.io"


@pytest.mark.parametrize("text", ["myorg/app/v2", "nginx/stable", "nginx:1.25.", "org/app:1.2.3",
                                  "quay.io/org/app:5000", "192.168.0.1",
                                  "192.168.0.1/2.0", "localhost:5000/1.0"])
def test_ordinary_references_are_not_called_suspicious(text: str) -> None:
    parse_reference(text)


# --- tags -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("tag", "valid"), [
    ("latest", True), ("1.25.3-alpine", True), ("_x", True), ("A" * 128, True), ("v1.0_build.7", True),
    ("", False), ("-x", False), (".x", False), ("A" * 129, False), ("1.0+b", False), ("a b", False),
    ("é", False), ("x\n", False), ("<!here>", False), ("a/b", False),
])
def test_is_valid_tag(tag: str, valid: bool) -> None:
    assert is_valid_tag(tag) is valid


# --- robustness -----------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_invalid_reference(text: str) -> None:
    outcome: ImageRef | InvalidReference
    try:
        outcome = parse_reference(text)
    except InvalidReference as exc:
        outcome = exc
    assert outcome.input == text
    if isinstance(outcome, InvalidReference):
        if outcome.suggestion is not None:
            parse_reference(outcome.suggestion)
    else:
        assert parse_reference(outcome.normalized).normalized == outcome.normalized  # a fixed point


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abc019.-_/:@[]ABsha256 \"'", max_size=400))
def test_reference_like_text_raises_only_invalid_reference(text: str) -> None:
    with contextlib.suppress(InvalidReference):
        ref = parse_reference(text)
        assert parse_reference(ref.normalized).normalized == ref.normalized


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="a.-_/:1", min_size=MAX_REFERENCE_LENGTH + 1, max_size=20_000))
def test_long_input_is_refused_before_the_regex_runs(text: str) -> None:
    # The regex engine underneath backtracks (100,000 x "a." took seconds); the length cap is what
    # keeps long input fast, so check the cap answers rather than timing it.
    with pytest.raises(InvalidReference, match="characters long"):
        parse_reference("x" + text)


@pytest.mark.timeout(30)  # a hang guard, not a speed target
@pytest.mark.parametrize("unit", ["a.", "a-", "a_", "a__", "1.", "a.b:", "a/", "[a:"])
def test_hostile_input_at_the_length_cap_is_answered(unit: str) -> None:
    text = unit * (MAX_REFERENCE_LENGTH // len(unit))
    with contextlib.suppress(InvalidReference):
        parse_reference(text)
