"""What ``REDIS_URL`` names: one server, a primary watched by Sentinel, or a Cluster. Pure parsing.

The forms (the Sentinel one is the convention of the ``redis+sentinel`` URL used by several Redis
clients and tools; Cluster follows it)::

    redis://[[user]:password@]host[:port][/db][?option=value...]        one server; rediss:// for TLS
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?option=value...]
    redis+cluster://[[user]:password@]host[:port][,host[:port]...][/0][?option=value...]

``rediss+sentinel://`` and ``rediss+cluster://`` use TLS to every node (and to the sentinels). The
hosts of a Sentinel URL are sentinels (default port 26379) and ``service`` is the name they monitor
the primary under; the hosts of a Cluster URL are any nodes to learn the cluster from (default port
6379). The user and password are the data nodes'; sentinels that need their own are given
``?sentinel_username=...&sentinel_password=...``. Every other option (``ssl_ca_certs``,
``socket_timeout``...) is redis-py's URL option, applied to the data-node connections. IPv6 hosts
go in brackets: ``[::1]:26379``.

A single-server URL (``redis://``, ``rediss://``) is handed to redis-py unchanged once it reads as
host, port and db: redis-py's own complaint about a password holding an unescaped ``/``, ``?`` or ``#``
quotes the start of that password ("Port could not be cast to integer value as 'Sup3r'"). ``ssl_*``
options need a TLS scheme (redis-py passes them to a plain connection, which fails with a TypeError).
Other schemes (``unix://``) are handed to redis-py as they are.

Nothing here imports redis-py: the URL is checked, and redacted for logs, even where it isn't installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

SENTINEL_PORT = 26379
REDIS_PORT = 6379

# Options addressed to the sentinels themselves; never passed to the data nodes.
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")


class Topology(StrEnum):
    single = "single"
    sentinel = "sentinel"
    cluster = "cluster"


_SCHEMES: dict[str, tuple[Topology, bool]] = {
    "redis+sentinel": (Topology.sentinel, False),
    "rediss+sentinel": (Topology.sentinel, True),
    "redis+cluster": (Topology.cluster, False),
    "rediss+cluster": (Topology.cluster, True),
}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed ``REDIS_URL``.

    ``node_url`` is a plain ``redis://`` / ``rediss://`` URL carrying the data nodes' credentials, db and
    options (the whole URL for a single server), for redis-py's own option parsing; ``nodes`` are the
    sentinels or the cluster's seed nodes (empty for a single server).
    """

    topology: Topology
    node_url: str = field(repr=False)  # holds the password: kept out of any repr that reaches a log
    tls: bool = False
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    sentinel_options: dict[str, str] = field(default_factory=dict, repr=False)


def parse_redis_url(url: str) -> RedisTarget:
    """Parse ``REDIS_URL``. Raises ``ValueError`` with a message that never contains the password."""
    scheme, sep, rest = url.partition("://")
    known = _SCHEMES.get(scheme.lower()) if sep else None
    if known is None:
        if sep and scheme.lower() in ("redis", "rediss"):
            _check_single_server(url, tls=scheme.lower() == "rediss")
        return RedisTarget(Topology.single, node_url=url)
    topology, tls = known
    authority, path, query = _split(rest)
    userinfo, at, hostlist = authority.rpartition("@")
    default_port = SENTINEL_PORT if topology is Topology.sentinel else REDIS_PORT
    where = redacted_url(url)
    nodes = tuple(_host_port(item, default_port, where) for item in hostlist.split(","))
    segments = [unquote(s) for s in path.split("/") if s]
    options = parse_qsl(query, keep_blank_values=True)
    _check_tls_options(options, tls, where)
    sentinel_options = {k: v for k, v in options if k in SENTINEL_OPTIONS}
    node_query = urlencode([(k, v) for k, v in options if k not in SENTINEL_OPTIONS])

    service = ""
    if topology is Topology.sentinel:
        if not segments or len(segments) > 2:
            raise ValueError(f"REDIS_URL {where}: a Sentinel URL ends in /<service name>[/<db>]")
        service, segments = segments[0], segments[1:]
    elif sentinel_options:
        raise ValueError(f"REDIS_URL {where}: sentinel_* options belong to a redis+sentinel:// URL")
    db = _db(segments, where)
    if topology is Topology.cluster and db != 0:
        raise ValueError(f"REDIS_URL {where}: Redis Cluster has only database 0")

    first_host, first_port = nodes[0]
    host = f"[{first_host}]" if ":" in first_host else first_host
    node_url = (f"{'rediss' if tls else 'redis'}://{userinfo}{at}{host}:{first_port}/{db}"
                + (f"?{node_query}" if node_query else ""))
    return RedisTarget(topology, node_url=node_url, tls=tls, nodes=nodes, service=service,
                       sentinel_options=sentinel_options)


def _check_single_server(url: str, *, tls: bool) -> None:
    """Read a ``redis://`` URL the way redis-py will, so that its errors come from here, without the
    password. The original error is dropped (``from None``): its text may quote the password."""
    where = redacted_url(url)
    unreadable = (f"REDIS_URL {where}: cannot read the host and port (in a password, percent-encode"
                  " / ? # and @)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number from 0 to 65535
        host = parts.hostname
    except ValueError:
        raise ValueError(unreadable) from None
    if not host or parts.fragment:  # a "#" or an empty host: the password's tail was read as the rest
        raise ValueError(unreadable)
    _db([unquote(s) for s in parts.path.split("/") if s], where)
    _check_tls_options(parse_qsl(parts.query, keep_blank_values=True), tls, where)


_TLS_OPTION = re.compile(r"ssl(?:_[a-z_]+)?")


def _check_tls_options(options: list[tuple[str, str]], tls: bool, where: str) -> None:
    """``ssl_*`` options on a plain URL: redis-py hands them to a non-TLS connection, which fails at
    the first command with a TypeError; say so at start-up instead. Only a name that reads as an
    option is shown (the query of a malformed URL may be a piece of the password)."""
    if tls:
        return
    for name, _ in options:
        if _TLS_OPTION.fullmatch(name):
            raise ValueError(f"REDIS_URL {where}: option {name} needs TLS: use rediss://, "
                             "rediss+sentinel:// or rediss+cluster://")


def redacted_url(url: str) -> str:
    """The URL without credentials and options (where a sentinel's password may sit), fit for a log line.

    Never raises, and never shows a piece of a password even when one holds an unescaped ``/``, ``?``
    or ``#`` and the URL no longer parses: a part that does not read as hosts, or as a service name
    and db, is shown as ``<hidden>``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not _SAFE_SCHEME.fullmatch(scheme):
        return "<redis url without a scheme>"
    before_query = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" in before_query:
        rest = rest[before_query.rindex("@") + 1:]
    authority, path, _ = _split(rest)
    if not all(_SAFE_HOST.fullmatch(h) for h in authority.split(",")):
        return f"{scheme}://<hidden>"  # unreadable hosts: what follows may be a password's tail too
    shown_path = path if _SAFE_PATH.fullmatch(path) else "/<hidden>"
    return f"{scheme}://{authority}{shown_path}"


_SAFE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SAFE_HOST = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SAFE_PATH = re.compile(r"(?:/[A-Za-z0-9._-]*)*")


def _split(rest: str) -> tuple[str, str, str]:
    """``host...`` / ``/path`` / ``query`` of what follows ``scheme://`` (the fragment is dropped)."""
    rest = rest.split("#", 1)[0]
    rest, _, query = rest.partition("?")
    slash = rest.find("/")
    if slash < 0:
        return rest, "", query
    return rest[:slash], rest[slash:], query


def _host_port(item: str, default_port: int, where: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, bracket, tail = item[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ValueError(f"REDIS_URL {where}: cannot read a bracketed (IPv6) host")
        port_text = tail[1:]
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError(f"REDIS_URL {where}: a host is empty")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        # The text itself is not echoed: in a malformed URL it may be a piece of the password.
        raise ValueError(f"REDIS_URL {where}: a port is not a number from 1 to 65535 (in a password,"
                         " percent-encode / ? # and @)")
    return host, int(port_text)


def _db(segments: list[str], where: str) -> int:
    if not segments:
        return 0
    if len(segments) > 1 or not segments[0].isdigit():
        raise ValueError(f"REDIS_URL {where}: the database must be a number, as in /0")
    return int(segments[0])
