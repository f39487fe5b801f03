"""Credentials from settings and Docker's config.json, with real helper programs on a temporary PATH."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from pathlib import Path

import pytest

from bot.registry import RegistryClient, RegistryClientConfig
from bot.registry.config import RegistryEndpoint
from bot.registry.credentials import CredentialStore
from tests.registry.conftest import StartServer
from tests.registry.fakes import TokenRegistry


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _write_config(directory: Path, content: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(content))
    return directory


def _write_helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def helper_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


async def test_auths_match_exact_host_and_port_only(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path / "docker", {"auths": {
        "reg.example.com:5000": {"auth": _b64("alice:pw1")},
        "https://other.example/": {"username": "bob", "password": "pw2"},
    }})
    store = CredentialStore({}, docker_config_dir=cfg)
    creds = await store.get("reg.example.com:5000")
    assert creds is not None
    assert (creds.username, creds.password) == ("alice", "pw1")
    assert await store.get("reg.example.com") is None
    assert await store.get("reg.example.com:5001") is None
    assert await store.get("evil-reg.example.com:5000") is None
    assert await store.get("reg.example.com:5000.evil.test") is None
    other = await store.get("OTHER.example")
    assert other is not None
    assert other.username == "bob"
    assert store.has("reg.example.com:5000")
    assert not store.has("reg.example.com")


async def test_docker_hub_aliases_share_one_entry(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path / "docker",
                        {"auths": {"https://index.docker.io/v1/": {"auth": _b64("hub:pw")}}})
    store = CredentialStore({}, docker_config_dir=cfg)
    for name in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        creds = await store.get(name)
        assert creds is not None, name
        assert creds.username == "hub"


async def test_settings_win_over_docker_config(tmp_path: Path) -> None:
    cfg = _write_config(tmp_path / "docker", {"auths": {"r.example": {"auth": _b64("docker:pw")}}})
    store = CredentialStore({"r.example": RegistryEndpoint("r.example", username="ci", password="set")},
                            docker_config_dir=cfg)
    creds = await store.get("r.example")
    assert creds is not None
    assert (creds.username, creds.source) == ("ci", "settings")


async def test_dollar_docker_config_is_read_when_no_directory_given(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _write_config(tmp_path / "env-docker", {"auths": {"r.example": {"auth": _b64("envuser:pw")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    creds = await CredentialStore({}).get("r.example")
    assert creds is not None
    assert creds.username == "envuser"


async def test_cred_helper_is_run_with_the_server_url_on_stdin(tmp_path: Path, helper_path: Path) -> None:
    log = tmp_path / "helper.log"
    _write_helper(helper_path, "test", f"""
read server
echo "$1 $server" >> {log}
if [ "$server" = "https://index.docker.io/v1/" ] || [ "$server" = "reg.example:5000" ]; then
  printf '{{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
""")
    cfg = _write_config(tmp_path / "docker",
                        {"credHelpers": {"reg.example:5000": "test", "docker.io": "test"}})
    store = CredentialStore({}, docker_config_dir=cfg)
    assert store.has("reg.example:5000")
    creds = await store.get("reg.example:5000")
    assert creds is not None
    assert (creds.username, creds.password) == ("helper-user", "helper-secret")
    assert creds.source == "helper:test"
    hub = await store.get("index.docker.io")
    assert hub is not None
    assert hub.username == "helper-user"
    await store.get("reg.example:5000")  # cached: the helper is not run again
    assert log.read_text().splitlines() == ["get reg.example:5000", "get https://index.docker.io/v1/"]
    assert await store.get("reg.example:5001") is None  # no helper configured for that port


async def test_creds_store_answers_not_found_and_lists_hosts(tmp_path: Path, helper_path: Path) -> None:
    _write_helper(helper_path, "store", """
if [ "$1" = "list" ]; then echo '{"known.example":"u"}'; exit 0; fi
read server
if [ "$server" = "known.example" ]; then echo '{"Username":"u","Secret":"s"}'; exit 0; fi
echo "credentials not found in native keychain"; exit 1
""")
    cfg = _write_config(tmp_path / "docker", {"credsStore": "store"})
    store = CredentialStore({}, docker_config_dir=cfg)
    await store.prewarm()  # inside an event loop, has() only answers from what prewarm() listed
    assert store.has("known.example")
    assert not store.has("unknown.example")
    assert await store.get("unknown.example") is None
    creds = await store.get("known.example")
    assert creds is not None
    assert creds.password == "s"


async def test_garbage_and_empty_identity_tokens_are_not_used(tmp_path: Path, helper_path: Path) -> None:
    # (identity tokens themselves are read and used: tests/registry/test_identity_token.py)
    _write_helper(helper_path, "tok", 'read s; echo \'{"Username":"<token>","Secret":""}\'\n')
    _write_helper(helper_path, "junk", "read s; echo not-json\n")
    cfg = _write_config(tmp_path / "docker", {"credHelpers": {"a.example": "tok", "b.example": "junk"},
                                              "auths": {"c.example": {"identitytoken": ""}}})
    store = CredentialStore({}, docker_config_dir=cfg)
    assert await store.get("a.example") is None
    assert await store.get("b.example") is None
    assert await store.get("c.example") is None


async def test_hanging_helper_times_out(tmp_path: Path, helper_path: Path) -> None:
    _write_helper(helper_path, "slow", "exec sleep 30\n")
    cfg = _write_config(tmp_path / "docker", {"credHelpers": {"s.example": "slow"}})
    store = CredentialStore({}, docker_config_dir=cfg, helper_timeout_s=0.3)
    assert await store.get("s.example") is None


async def test_missing_helper_and_unsafe_helper_names(tmp_path: Path, helper_path: Path) -> None:
    cfg = _write_config(tmp_path / "docker", {"credHelpers": {"m.example": "absent",
                                                              "p.example": "../../bin/sh"}})
    store = CredentialStore({}, docker_config_dir=cfg)
    assert await store.get("m.example") is None
    assert not store.has("p.example")  # a name with a path is ignored, never run


async def test_unreadable_config_is_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text("{not json")
    assert await CredentialStore({}, docker_config_dir=directory).get("r.example") is None


# A `list` that announces it started, then waits (at most 10 s) for the test to let it answer. Run
# on the event loop's thread, it would wait out its whole deadline: the test could not release it.
_GATED_LIST = """
if [ "$1" = "list" ]; then
  echo list >> "{log}"
  touch "{started}"
  i=0
  while [ ! -e "{release}" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  echo '{{"known.example":"u"}}'; exit 0
fi
echo "credentials not found in native keychain"; exit 1
"""


async def _until_exists(path: Path) -> None:
    while not path.exists():
        await asyncio.sleep(0.01)


async def test_slow_store_list_runs_off_the_event_loop(tmp_path: Path, helper_path: Path) -> None:
    log, started, release = tmp_path / "calls", tmp_path / "started", tmp_path / "release"
    _write_helper(helper_path, "gated", _GATED_LIST.format(log=log, started=started, release=release))
    cfg = _write_config(tmp_path / "docker", {"credsStore": "gated"})
    store = CredentialStore({}, docker_config_dir=cfg, helper_timeout_s=30)
    listing = asyncio.create_task(store.prewarm())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    await asyncio.wait_for(_until_exists(started), timeout=10)
    # The helper is running and has not answered: the loop still runs other work meanwhile ...
    before = ticks
    await asyncio.sleep(0.05)
    assert ticks > before
    # ... and has() answers at once without starting another helper (not listed yet: no)
    assert not store.has("known.example")
    release.touch()
    await asyncio.wait_for(listing, timeout=10)
    ticking.cancel()
    assert store.has("known.example")
    assert not store.has("unknown.example")
    await store.prewarm()  # listed once for the store's life
    assert log.read_text().splitlines() == ["list"]


def test_has_outside_an_event_loop_may_list_synchronously(tmp_path: Path, helper_path: Path) -> None:
    _write_helper(helper_path, "store", """
if [ "$1" = "list" ]; then echo '{"known.example":"u"}'; exit 0; fi
exit 1
""")
    store = CredentialStore({}, docker_config_dir=_write_config(tmp_path / "docker", {"credsStore": "store"}))
    assert store.has("known.example")  # no loop to stall (a CLI before asyncio.run)
    assert not store.has("unknown.example")


async def test_client_lists_the_store_before_its_first_request(tmp_path: Path, helper_path: Path,
                                                               start_server: StartServer) -> None:
    _write_helper(helper_path, "store", """
if [ "$1" = "list" ]; then echo '{"known.example":"u"}'; exit 0; fi
exit 1
""")
    cfg = _write_config(tmp_path / "docker", {"credsStore": "store"})
    server = await start_server(TokenRegistry())
    config = RegistryClientConfig(endpoints={server.host: RegistryEndpoint(server.host, insecure=True)},
                                  docker_config_dir=cfg)
    async with RegistryClient(config) as client:
        session = client.session()
        await session.head_manifest(server.host, "public/app", "1.0")
        assert session.has_credentials("known.example")
        assert not session.has_credentials(server.host)
