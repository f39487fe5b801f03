"""Counting the HTTP requests a registry (or the token server) received, exactly.

distribution 2.8 writes one Apache "combined" line per request to stdout, which the fixture sends
to a file. A line is written just after the response, so a client can see its answer before the
line exists. To make counts exact without sleeping, ``mark()`` and ``requests_since()`` each send a
*sentinel* request to a path no client uses and wait until the sentinel's own line shows up: every
request that finished before the sentinel was sent is logged by then. Sentinel lines are never
counted.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

SENTINEL_PREFIX = "/v2/__imagecheck_sentinel__/"

# 127.0.0.1 - - [29/Nov/2026:23:20:41 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
_COMBINED = re.compile(
    r"^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) (?P<proto>[^"]+)" (?P<status>\d{3}) (?P<size>\S+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as a server logged it."""

    method: str
    path: str
    query: str
    status: int
    user_agent: str = ""

    @property
    def is_sentinel(self) -> bool:
        return self.path.startswith(SENTINEL_PREFIX)


@dataclass(frozen=True)
class LogMark:
    """A point in a request log; ``requests_since(mark)`` returns what came after it."""

    index: int


def parse_combined_line(line: str) -> LoggedRequest | None:
    """Parse one combined-log line; ``None`` for lines that aren't request lines."""
    match = _COMBINED.match(line.strip())
    if not match:
        return None
    target = urlsplit(match["target"])
    return LoggedRequest(
        method=match["method"],
        path=target.path,
        query=target.query,
        status=int(match["status"]),
        user_agent=match["agent"],
    )


def count_by(requests: Sequence[LoggedRequest]) -> Counter[tuple[str, str]]:
    """``Counter`` of ``(method, path)`` pairs, e.g. ``{("HEAD", "/v2/a/manifests/1"): 1}``."""
    return Counter((r.method, r.path) for r in requests)


class RequestLog(Protocol):
    """What both the registry log and the token server offer."""

    def mark(self) -> LogMark: ...

    def requests_since(self, mark: LogMark) -> list[LoggedRequest]: ...


def matching(
    requests: Sequence[LoggedRequest], *, method: str | None = None, path_prefix: str | None = None
) -> list[LoggedRequest]:
    return [
        r
        for r in requests
        if (method is None or r.method == method) and (path_prefix is None or r.path.startswith(path_prefix))
    ]


class RegistryAccessLog:
    """The access log of one registry process (a file that the process appends to)."""

    def __init__(self, path: Path, base_url: str, *, timeout: float = 5.0) -> None:
        self.path = path
        self.base_url = base_url
        self.timeout = timeout
        self._offset = 0
        self._lock = threading.Lock()
        self._lines: list[LoggedRequest] = []
        self._client: httpx.Client | None = None  # one client: a new one costs ~40 ms (SSL context)

    def all_lines(self) -> list[LoggedRequest]:
        """Every request line so far, sentinels included, in log order."""
        with self._lock:
            return self._read_new()

    def _read_new(self) -> list[LoggedRequest]:
        if self.path.exists():
            # Read only what was appended since last time (benchmarks make logs long).
            with self.path.open("rb") as log:
                log.seek(self._offset)
                new = log.read()
            # A line still being written has no newline yet: leave it for the next read.
            complete = new[: new.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                parsed = parse_combined_line(line)
                if parsed is not None:
                    self._lines.append(parsed)
        return list(self._lines)

    def _sentinel(self) -> int:
        """Send a sentinel and return the index of its line once it is logged."""
        path = f"{SENTINEL_PREFIX}{uuid.uuid4().hex}/tags/list"
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        self._client.get(self.base_url + path)
        deadline = time.monotonic() + self.timeout
        while True:
            lines = self.all_lines()
            for index in range(len(lines) - 1, -1, -1):
                if lines[index].path == path:
                    return index
            if time.monotonic() > deadline:
                raise TimeoutError(f"sentinel {path} never reached {self.path}")
            time.sleep(0.002)

    def mark(self) -> LogMark:
        return LogMark(self._sentinel())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def requests_since(self, mark: LogMark) -> list[LoggedRequest]:
        """Requests logged after ``mark`` and finished before this call; sentinels excluded."""
        end = self._sentinel()
        return [r for r in self.all_lines()[mark.index + 1 : end] if not r.is_sentinel]

    def count_since(self, mark: LogMark, *, method: str | None = None, path_prefix: str | None = None) -> int:
        return len(matching(self.requests_since(mark), method=method, path_prefix=path_prefix))


class InProcessLog:
    """A request log kept in memory by a server in this process (token server, fault servers).

    The server records a request *before* it answers, so no sentinel is needed.
    """

    def __init__(self) -> None:
        self._requests: list[LoggedRequest] = []

    def record(self, request: LoggedRequest) -> None:
        self._requests.append(request)  # list.append is atomic under the GIL

    @property
    def requests(self) -> list[LoggedRequest]:
        return list(self._requests)

    def mark(self) -> LogMark:
        return LogMark(len(self._requests) - 1)

    def requests_since(self, mark: LogMark) -> list[LoggedRequest]:
        return list(self._requests[mark.index + 1 :])

    def count_since(self, mark: LogMark, *, method: str | None = None, path_prefix: str | None = None) -> int:
        return len(matching(self.requests_since(mark), method=method, path_prefix=path_prefix))
