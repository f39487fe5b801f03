"""RegistryClientConfig built from Settings, and what it allows and where it sends requests."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.registry.config import RegistryClientConfig, normalize_registry
from bot.settings import HttpSettings, RegistrySettings, Settings


def test_from_settings(tmp_path: Path) -> None:
    secret = tmp_path / "reg-password"
    secret.write_text("from-a-file\n")
    settings = Settings(
        registries={
            "127.0.0.1:5001": RegistrySettings(insecure=True),
            "Registry.Corp.Local": RegistrySettings(username="ci", password_file=secret,
                                                    mirrors=["mirror.corp.local"],
                                                    token_realms=["auth.corp.local"]),
            "docker.io": RegistrySettings(username="hub", password=SecretStr("hub-pw")),
        },
        allow_private_hosts=["10.0.0.5"],
        http=HttpSettings(request_deadline_s=7.0, max_manifest_bytes=1024),
    )
    config = RegistryClientConfig.from_settings(settings)
    corp = config.endpoint("registry.corp.local")
    assert (corp.username, corp.password) == ("ci", "from-a-file")
    assert corp.token_realms == ("auth.corp.local",)
    assert "from-a-file" not in repr(corp)
    assert config.endpoint("127.0.0.1:5001").base_url == "http://127.0.0.1:5001"
    assert config.endpoint("index.docker.io").base_url == "https://registry-1.docker.io"
    assert config.endpoint("docker.io").password == "hub-pw"
    unnamed = config.endpoint("ghcr.io")
    assert (unnamed.base_url, unnamed.username) == ("https://ghcr.io", None)
    assert config.allowed_hosts() >= {"127.0.0.1:5001", "registry.corp.local", "mirror.corp.local",
                                      "auth.corp.local"}
    assert config.insecure_hosts() == {"127.0.0.1:5001"}
    assert config.allow_private_hosts == ("10.0.0.5",)
    assert (config.request_deadline_s, config.max_manifest_bytes) == (7.0, 1024)


def test_normalize_registry() -> None:
    assert normalize_registry("https://index.docker.io/v1/") == "docker.io"
    assert normalize_registry("REGISTRY-1.docker.io") == "docker.io"
    assert normalize_registry("Localhost:5000") == "localhost:5000"
    assert normalize_registry("http://r.example:8080/path") == "r.example:8080"
