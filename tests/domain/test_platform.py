"""Platforms: parsed and normalised like containerd's platforms.Parse/Normalize, matched like its
exact matcher, and selected from an index's entries skipping attestation manifests."""

from __future__ import annotations

import pytest

from bot.domain.errors import InvalidPlatform
from bot.domain.models import IndexEntry, Platform
from bot.domain.reference import normalize_platform, parse_platform, platform_matches, select_platform

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.mark.parametrize(("text", "expected"), [
    ("linux/amd64", "linux/amd64"),
    ("linux/x86_64", "linux/amd64"),
    ("linux/x86-64", "linux/amd64"),
    ("linux/amd64/v1", "linux/amd64"),  # v1 is amd64's default
    ("linux/amd64/v3", "linux/amd64/v3"),
    ("linux/aarch64", "linux/arm64"),
    ("linux/arm64/v8", "linux/arm64"),  # v8 is arm64's default
    ("linux/arm64/8", "linux/arm64"),
    ("linux/arm64/v8.0", "linux/arm64"),
    ("linux/arm64/9", "linux/arm64/v9"),
    ("linux/armhf", "linux/arm/v7"),
    ("linux/armel", "linux/arm/v6"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/arm/7", "linux/arm/v7"),
    ("linux/arm/6", "linux/arm/v6"),
    ("linux/arm/v5", "linux/arm/v5"),
    ("linux/i386", "linux/386"),
    ("LINUX/AMD64", "linux/amd64"),
    ("macos/arm64", "darwin/arm64"),
    ("windows/amd64", "windows/amd64"),
    ("linux/ppc64le", "linux/ppc64le"),
    ("linux/s390x", "linux/s390x"),
    ("linux/riscv64", "linux/riscv64"),
    # `uname -m` output and Docker Hub's per-architecture namespaces
    ("linux/armv7l", "linux/arm/v7"),
    ("linux/armv6l", "linux/arm/v6"),
    ("linux/arm64v8", "linux/arm64"),
    ("linux/arm32v7", "linux/arm/v7"),
    ("linux/i686", "linux/386"),
    ("linux/ppc64el", "linux/ppc64le"),
    # a bare architecture means Linux
    ("arm64", "linux/arm64"),
    ("aarch64", "linux/arm64"),
    ("x86_64", "linux/amd64"),
    ("armhf", "linux/arm/v7"),
    (" 'linux/arm64' ", "linux/arm64"),
])
def test_parse_platform_normalises_like_containerd(text: str, expected: str) -> None:
    assert str(parse_platform(text)) == expected


def test_parse_platform_reads_a_windows_os_version() -> None:
    platform = parse_platform("windows(10.0.17763)/amd64")
    assert (platform.os, platform.architecture, platform.os_version) == ("windows", "amd64", "10.0.17763")


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("linux", "only an operating system"),
    ("windows", "only an operating system"),
    ("potato", "not a known operating system or architecture"),
    ("linux/arm64/v8/extra", "too many parts"),
    ("linux/*", "wildcards"),
    ("linux/", "not a valid platform component"),
    ("linux/amd 64", "not a valid platform component"),
    ("lin ux/amd64", "not a valid operating system"),
    ("/amd64", "not a valid operating system"),
])
def test_invalid_platforms_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidPlatform, match=message):
        parse_platform(text)


def test_normalize_platform_of_registry_data() -> None:
    # Index entries carry whatever the builder wrote; normalising them is what makes matching work.
    raw = Platform(os="Linux", architecture="aarch64", variant="v8")
    assert str(normalize_platform(raw)) == "linux/arm64"
    assert str(normalize_platform(Platform(os="linux", architecture="arm"))) == "linux/arm/v7"


def P(os: str, arch: str, variant: str | None = None, os_version: str | None = None) -> Platform:
    return Platform(os=os, architecture=arch, variant=variant, os_version=os_version)


@pytest.mark.parametrize(("wanted", "candidate", "matches"), [
    (P("linux", "amd64"), P("linux", "amd64"), True),
    (P("linux", "arm64"), P("linux", "arm64", "v8"), True),  # variant default
    (P("linux", "arm64", "v8"), P("linux", "arm64"), True),
    (P("linux", "arm64"), P("linux", "aarch64"), True),
    (P("linux", "arm"), P("linux", "arm", "v7"), True),
    (P("linux", "arm", "v7"), P("linux", "arm"), True),
    (P("linux", "arm", "v7"), P("linux", "arm", "v6"), False),
    (P("linux", "arm", "v6"), P("linux", "arm", "v7"), False),
    (P("linux", "arm64"), P("linux", "arm", "v7"), False),
    (P("linux", "amd64"), P("linux", "arm64"), False),
    (P("linux", "amd64"), P("windows", "amd64"), False),
    (P("linux", "amd64"), P("linux", "amd64", "v2"), False),
    (P("linux", "amd64"), P("linux", "x86_64"), True),
    (P("windows", "amd64", os_version="10.0.17763"), P("windows", "amd64", os_version="10.0.17763.5576"),
     True),
    (P("windows", "amd64", os_version="10.0.17763"), P("windows", "amd64", os_version="10.0.20348.2340"),
     False),
    (P("windows", "amd64"), P("windows", "amd64", os_version="10.0.20348.2340"), True),
])
def test_platform_matches(wanted: Platform, candidate: Platform, matches: bool) -> None:
    assert platform_matches(wanted, candidate) is matches


def entry(digest_char: str, platform: Platform | None, attestation: bool = False) -> IndexEntry:
    return IndexEntry(media_type=OCI_MANIFEST, digest="sha256:" + digest_char * 64, size=100,
                      platform=platform, attestation=attestation)


INDEX = [
    entry("1", P("linux", "amd64")),
    entry("2", P("unknown", "unknown")),  # buildkit attestation, marked only by its platform
    entry("3", P("linux", "arm64", "v8")),
    entry("4", P("linux", "arm", "v7")),
    entry("5", P("linux", "arm64"), attestation=True),
    entry("6", None),
]


@pytest.mark.parametrize(("wanted", "digest_char"), [
    ("linux/amd64", "1"),
    ("linux/arm64", "3"),
    ("linux/aarch64", "3"),
    ("linux/armhf", "4"),
    ("linux/arm/v6", None),
    ("linux/s390x", None),
    ("windows/amd64", None),
])
def test_select_platform(wanted: str, digest_char: str | None) -> None:
    chosen = select_platform(parse_platform(wanted), INDEX)
    assert (chosen.digest if chosen else None) == ("sha256:" + digest_char * 64 if digest_char else None)


def test_select_platform_never_returns_an_attestation() -> None:
    only_attestations = [entry("5", P("linux", "arm64"), attestation=True),
                         entry("2", P("unknown", "unknown"))]
    assert select_platform(parse_platform("linux/arm64"), only_attestations) is None
    assert select_platform(P("unknown", "unknown"), only_attestations) is None


def test_select_platform_takes_the_first_match() -> None:
    twice = [entry("7", P("linux", "amd64")), entry("8", P("linux", "amd64"))]
    chosen = select_platform(parse_platform("linux/amd64"), twice)
    assert chosen is not None
    assert chosen.digest == "sha256:" + "7" * 64
