"""Triage throughput on synthetic pastes of 10 KiB, 1 MiB and 10 MiB, offline.

The pastes look like what people paste during an incident: kubectl events, kubelet/containerd, Docker,
podman and buildkit lines covering every category, with varying timestamps, pod names, tags and digests
so that no two lines are the same (no cache or dedup can flatter the numbers), and a few secrets to
redact. Each size is triaged with a paste cap above its size, so the whole text is processed, and the
table shows whether time grows linearly with size. Target: >= 20 MiB/s (a 1 MiB paste in < 50 ms).

A second table triages hostile 1 MiB pastes, each built against one redaction scan (a scan restarted
from every overlapping match used to take 14 to 25 s on some of them; the Slack listeners then held a
worker thread that long). Target: each in < 250 ms (>= 4 MiB/s). Pastes made only of secrets (one
``docker login -p x`` per 12 bytes) cost more, a few hundred ms, since each secret is a redaction.

    python -m bench.triage_throughput
"""

from __future__ import annotations

import random
import time

from bot.domain.triage import triage

SIZES: tuple[tuple[str, int], ...] = (("10 KiB", 10 * 1024), ("1 MiB", 1024 * 1024), ("10 MiB", 10 * 1024 * 1024))
TARGET_MIB_PER_S = 20.0
HOSTILE_TARGET_S = 0.25

_MIB = 1024 * 1024
_JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb2JvdCIsImV4cCI6MTcwMDAwMDAwMH0."
        "c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU")


def hostile_pastes() -> list[tuple[str, str]]:
    """About 1 MiB each; the name says which scan the paste is aimed at."""
    return [
        ("eyJ x 333333 + a JWT", "eyJ" * 333333 + f"\nAuthorization token {_JWT} expired"),
        ("password= x 111111", "password=" * 111111),
        ("BEGIN PRIVATE KEY x 37037", "-----BEGIN PRIVATE KEY-----" * 37037),
        ("eyJ parts (eyJaaaaaaaaa.)", "eyJaaaaaaaaa." * (_MIB // 13)),
        ("ctr lines without flags", "ctr images ls\n" * (_MIB // 14)),
        ("value: lines", "value: x\n" * (_MIB // 9)),
        ("backslash-newlines", "\\\n" * (_MIB // 2)),
        ("://:@ x 209715", "://:@" * (_MIB // 5)),
        ("http:// x 149796 + token=", "http://" * (_MIB // 7) + " token="),
        ("curl x 209715", "curl " * (_MIB // 5)),
        ("http://a? x 116508 + sig=", "http://a?" * (_MIB // 9) + " sig="),
        ("ctr -u lines", "ctr -u\n" * (_MIB // 7)),
    ]

_TEMPLATES: tuple[str, ...] = (
    '  Normal   Pulling    {age}s (x{n} over {m}m)  kubelet  Pulling image "ghcr.io/team/svc-{i}:1.{n}.{i}"',
    '  Warning  Failed     {age}s (x{n} over {m}m)  kubelet  Failed to pull image "ghcr.io/team/svc-{i}:1.{n}.{i}": '
    'rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/team/svc-{i}:1.{n}.{i}": failed to '
    'resolve reference "ghcr.io/team/svc-{i}:1.{n}.{i}": ghcr.io/team/svc-{i}:1.{n}.{i}: not found',
    "  Warning  Failed     {age}s (x{n} over {m}m)  kubelet  Error: ErrImagePull",
    '  Normal   BackOff    {age}s (x{n} over {m}m)  kubelet  Back-off pulling image "ghcr.io/team/svc-{i}:1.{n}.{i}"',
    "Error response from daemon: pull access denied for acme/private-{i}, repository does not exist or may "
    "require 'docker login': denied: requested access to the resource is denied",
    "Error response from daemon: Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io on "
    "10.{n}.{m}.2:53: no such host",
    "E1019 08:{m}:{n}.241019  1123{i} remote_image.go:242] \"PullImage from image service failed\" err=\"rpc error: "
    "code = Unknown desc = failed to pull and unpack image \\\"docker.io/library/busybox:1.{i}\\\": failed to copy: "
    "httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/busybox/manifests/"
    "sha256:{digest}: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit\"",
    "no matching manifest for linux/arm64/v8 in the manifest list entries (pod web-{i}-{n})",
    "Error: initializing source docker://quay.io/org/tool-{i}:v{n}: reading manifest v{n} in quay.io/org/tool-{i}: "
    "unauthorized: access to the requested resource is not authorized",
    " => ERROR [internal] load metadata for docker.io/library/node:{n}-alpine                         {m}.{n}s",
    "ERROR: failed to solve: node:{n}-alpine: failed to resolve source metadata for docker.io/library/node:{n}-alpine: "
    "failed to do request: Head \"https://registry-1.docker.io/v2/library/node/manifests/{n}-alpine\": net/http: TLS "
    "handshake timeout",
    "Get https://registry.internal:{port}/v2/: x509: certificate signed by unknown authority",
    "time=\"2024-0{n}-1{m}T10:00:{n}Z\" level=info msg=\"pulling layer sha256:{digest} ({i} bytes)\"",
    "docker login -u ci-bot -p s3cr3t-{digest} registry.acme.io",
    "failed to register layer: write /var/lib/docker/overlay2/{digest}/diff/usr/lib/libx.so.{i}: no space left on "
    "device",
)


def synthetic_paste(size: int, seed: int = 0) -> str:
    """A paste of at least ``size`` bytes whose lines never repeat (deterministic for a seed)."""
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    i = 0
    while total < size:
        template = _TEMPLATES[i % len(_TEMPLATES)]
        line = template.format(age=rng.randrange(1, 3600), n=rng.randrange(1, 30), m=rng.randrange(1, 59), i=i,
                               port=rng.randrange(5000, 6000), digest=f"{rng.getrandbits(256):064x}")
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines)


def _time_one(text: str, max_bytes: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        triage(text, max_bytes=max_bytes)
        best = min(best, time.perf_counter() - start)
    return best


def run() -> list[dict[str, object]]:
    """One row per size: bytes, best-of-N seconds, MiB/s, and growth vs the previous size."""
    rows: list[dict[str, object]] = []
    previous: tuple[int, float] | None = None
    for label, size in SIZES:
        text = synthetic_paste(size)
        nbytes = len(text.encode())
        repeats = 5 if size <= 1024 * 1024 else 2
        triage(text, max_bytes=nbytes + 1)  # warm-up: regex compilation, imports
        seconds = _time_one(text, nbytes + 1, repeats)
        mib_s = nbytes / (1024 * 1024) / seconds
        row: dict[str, object] = {"size": label, "bytes": nbytes, "seconds": round(seconds, 5),
                                  "mib_per_s": round(mib_s, 1), "meets_target": mib_s >= TARGET_MIB_PER_S}
        if previous is not None:
            size_ratio = nbytes / previous[0]
            time_ratio = seconds / previous[1]
            row["size_ratio"] = round(size_ratio, 1)
            row["time_ratio"] = round(time_ratio, 1)
            row["growth"] = round(time_ratio / size_ratio, 2)  # ~1.0 means linear
        rows.append(row)
        previous = (nbytes, seconds)
    return rows


def run_hostile() -> list[dict[str, object]]:
    """One row per hostile paste: bytes, best-of-3 seconds and whether it meets ``HOSTILE_TARGET_S``."""
    rows: list[dict[str, object]] = []
    for label, text in hostile_pastes():
        nbytes = len(text.encode())
        seconds = _time_one(text, nbytes + 1, 3)
        rows.append({"paste": label, "bytes": nbytes, "seconds": round(seconds, 5),
                     "meets_target": seconds < HOSTILE_TARGET_S})
    return rows


def main() -> None:
    rows = run()
    print(f"{'size':>8} {'bytes':>10} {'time':>10} {'MiB/s':>8} {'x size':>7} {'x time':>7} {'growth':>7}  target")
    for r in rows:
        print(f"{r['size']!s:>8} {r['bytes']!s:>10} {float(str(r['seconds'])) * 1000:>8.1f}ms "
              f"{r['mib_per_s']!s:>8} {r.get('size_ratio', '-')!s:>7} {r.get('time_ratio', '-')!s:>7} "
              f"{r.get('growth', '-')!s:>7}  {'ok' if r['meets_target'] else 'below'} "
              f"(>= {TARGET_MIB_PER_S:.0f} MiB/s)")
    print()
    print(f"{'hostile paste':>28} {'bytes':>10} {'time':>10}  target")
    for r in run_hostile():
        print(f"{r['paste']!s:>28} {r['bytes']!s:>10} {float(str(r['seconds'])) * 1000:>8.1f}ms  "
              f"{'ok' if r['meets_target'] else 'below'} (< {HOSTILE_TARGET_S * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
