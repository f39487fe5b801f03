"""A credential helper is asked with the server URL spelled as ``docker login`` stored it.

Found in review: after ``docker login registry.corp:443`` (or ``[::ffff:10.0.0.5]:5000``) with a
``credsStore``, ``has()`` said yes (the store's ``list`` keys are normalised) but ``get()`` asked the
helper for ``registry.corp`` / ``10.0.0.5:5000``, which it does not know: the check ran anonymously while
imagecheck believed it had credentials. The helpers here are small shell scripts standing in for
docker-credential-* programs (no real keychain helper runs headless); the registry is a real one.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bot.registry import RegistryClient, RegistryClientConfig, RegistryEndpoint
from bot.registry.credentials import CredentialStore
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.timeout(60)

HELPER_SECRET = "s3cret-pw"  # a throwaway test password


@pytest.fixture
def helper_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bin_dir


def _helper(bin_dir: Path, name: str, *, knows: str, user: str = "ci", secret: str = HELPER_SECRET,
            lists: bool = True) -> Path:
    """A helper holding one login, filed under exactly ``knows``, as real helpers do (they match the
    ServerURL they are asked byte for byte). Every call is logged as ``<verb> <server url>``."""
    log = bin_dir.parent / f"{name}.log"
    answer = json.dumps({"ServerURL": knows, "Username": user, "Secret": secret})
    listing = json.dumps({knows: user}) if lists else ""
    script = f"""#!/bin/sh
if [ "$1" = "list" ]; then
  echo "list" >> '{log}'
  {"echo '" + listing + "'; exit 0" if lists else "exit 1"}
fi
read server
echo "$1 $server" >> '{log}'
if [ "$server" = '{knows}' ]; then echo '{answer}'; exit 0; fi
echo "credentials not found in native keychain"; exit 1
"""
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return log


def _config(directory: Path, content: dict[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(content))
    return directory


def _gets(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("get ")]


@pytest.mark.parametrize(("stored", "asked_as"), [
    ("registry.corp:443", "registry.corp"),
    ("[::ffff:10.0.0.5]:5000", "10.0.0.5:5000"),
    ("https://registry.corp:443", "registry.corp"),
])
async def test_a_store_is_asked_with_the_spelling_its_list_gave(
        tmp_path: Path, helper_bin: Path, stored: str, asked_as: str) -> None:
    log = _helper(helper_bin, "store", knows=stored)
    store = CredentialStore({}, docker_config_dir=_config(tmp_path / "docker", {"credsStore": "store"}))
    await store.prewarm()
    assert store.has(asked_as)
    creds = await store.get(asked_as)
    assert creds is not None
    assert (creds.username, creds.password) == ("ci", HELPER_SECRET)
    assert _gets(log) == [f"get {stored}"]  # the known spelling at once, not a guess first


async def test_get_lists_the_store_itself_when_nobody_prewarmed_it(tmp_path: Path, helper_bin: Path) -> None:
    log = _helper(helper_bin, "store", knows="registry.corp:443")
    store = CredentialStore({}, docker_config_dir=_config(tmp_path / "docker", {"credsStore": "store"}))
    creds = await store.get("registry.corp")
    assert creds is not None
    assert log.read_text().splitlines() == ["list", "get registry.corp:443"]


async def test_the_auths_key_docker_login_left_is_a_spelling_too(tmp_path: Path, helper_bin: Path) -> None:
    # a store without `list` support: the empty `auths` entry `docker login` writes names the spelling
    log = _helper(helper_bin, "store", knows="registry.corp:443", lists=False)
    cfg = _config(tmp_path / "docker", {"credsStore": "store", "auths": {"registry.corp:443": {}}})
    creds = await CredentialStore({}, docker_config_dir=cfg).get("registry.corp")
    assert creds is not None
    assert _gets(log) == ["get registry.corp:443"]


async def test_a_cred_helpers_key_is_the_spelling_its_helper_is_asked_with(
        tmp_path: Path, helper_bin: Path) -> None:
    log = _helper(helper_bin, "corp", knows="[::ffff:10.0.0.5]:5000")
    cfg = _config(tmp_path / "docker", {"credHelpers": {"[::ffff:10.0.0.5]:5000": "corp"}})
    creds = await CredentialStore({}, docker_config_dir=cfg).get("10.0.0.5:5000")
    assert creds is not None
    assert _gets(log) == ["get [::ffff:10.0.0.5]:5000"]


async def test_the_canonical_spelling_is_the_fallback(tmp_path: Path, helper_bin: Path) -> None:
    # the config says registry.corp:443, but the helper filed the login under the canonical name
    log = _helper(helper_bin, "corp", knows="registry.corp")
    cfg = _config(tmp_path / "docker", {"credHelpers": {"registry.corp:443": "corp"}})
    store = CredentialStore({}, docker_config_dir=cfg)
    creds = await store.get("registry.corp")
    assert creds is not None
    assert _gets(log) == ["get registry.corp:443", "get registry.corp"]
    assert await store.get("registry.corp") is creds  # cached: no helper run the second time
    assert len(_gets(log)) == 2


async def test_a_check_uses_a_login_filed_under_another_spelling(
        tmp_path: Path, helper_bin: Path, registry_basic: LocalRegistry) -> None:
    # What a user notices: the registry wants a password; the store has it under the IPv4-mapped
    # spelling of the registry's address. Before the fix the check went out anonymously and failed.
    reader = registry_basic.reader
    assert reader is not None
    port = registry_basic.host.rsplit(":", 1)[1]
    stored = f"[::ffff:127.0.0.1]:{port}"
    log = _helper(helper_bin, "store", knows=stored, user=reader.username, secret=reader.password)
    cfg = _config(tmp_path / "docker", {"credsStore": "store"})
    image = registry_basic.scenarios.single_oci
    config = RegistryClientConfig(
        endpoints={registry_basic.host: RegistryEndpoint(registry_basic.host, insecure=True)},
        docker_config_dir=cfg, use_docker_config=True)
    async with RegistryClient(config) as client:
        session = client.session()
        head = await session.head_manifest(registry_basic.host, image.repository, "1.0")
        assert session.has_credentials(registry_basic.host)
    assert head.digest == image.digest
    assert head.meta.authenticated
    assert _gets(log) == [f"get {stored}"]
