"""Settings, read once in the composition root and handed to adapters as plain values.

Sources, highest first: environment variables, then the YAML file named by ``IMAGECHECK_CONFIG``.
Secrets are ``SecretStr`` so that a stray ``repr`` or log line never prints them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.domain.models import canonical_registry


def _require_brackets_around_ipv6(name: str) -> None:
    """``fd00::5:5000`` could be a host and a port or a whole address; Docker requires brackets, and
    without them the canonical spelling (and so the lookup of channels and credentials) is a guess."""
    host = name.split("://", 1)[-1].split("/", 1)[0]
    if host.count(":") >= 2 and not host.startswith("["):
        raise ValueError(f"{name}: write an IPv6 registry in brackets, as in a reference: "
                         f"[{host}] (or [address]:port)")


class RegistrySettings(BaseModel):
    """One entry under ``registries:``; naming a registry there also allows its exact host:port."""

    insecure: bool = False  # plain HTTP (and, for a private address, allowed by the egress policy)
    mirrors: list[str] = Field(default_factory=list)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    token_realms: list[str] = Field(default_factory=list)  # extra realm hosts credentials may go to
    ca_file: Path | None = None
    channels: list[str] = Field(default_factory=list)  # when set, only these Slack channels may check it
    upstream: str | None = None  # for a mirror entry: the registry it mirrors

    def resolved_password(self) -> SecretStr | None:
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            return SecretStr(self.password_file.read_text(encoding="utf-8").strip())
        return None


class HttpSettings(BaseModel):
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    request_deadline_s: float = 20.0  # a trickling server can't hold one request longer
    diagnosis_deadline_s: float = 45.0
    max_connections: int = 64
    per_registry_concurrency: int = 8
    max_manifest_bytes: int = 4 * 1024 * 1024
    max_small_body_bytes: int = 64 * 1024
    max_redirects: int = 5


class CacheSettings(BaseModel):
    tag_ttl_s: float = 60.0
    digest_ttl_s: float = 6 * 3600.0
    negative_ttl_s: float = 15.0
    incident_ttl_days: int = 30
    tag_history_per_tag: int = 20


class SlackSettings(BaseModel):
    triage_threshold: float = 0.6
    channels_include: list[str] = Field(default_factory=list)  # empty: every channel the app is in
    channels_exclude: list[str] = Field(default_factory=list)
    user_checks_per_minute: int = 20
    channel_checks_per_minute: int = 60
    pin_allowed_users: list[str] = Field(default_factory=list)  # empty: anyone in the channel
    pin_allowed_usergroup: str | None = None
    pin_requires_channel_member: bool = False  # members of the clicked channel may pin/resolve
    max_slash_chars: int = 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGECHECK_", env_nested_delimiter="__", extra="ignore")

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"))
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"))
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"))
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url"))
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))
    key_prefix: str = "imagecheck:"
    port: int = Field(default=3000, validation_alias=AliasChoices("PORT", "IMAGECHECK_PORT", "port"))
    log_level: str = "INFO"
    log_json: bool = True

    registries: dict[str, RegistrySettings] = Field(default_factory=dict)
    platforms: list[str] = Field(default_factory=list)
    allow_private_hosts: list[str] = Field(default_factory=list)
    docker_config: Path | None = Field(
        default=None, validation_alias=AliasChoices("DOCKER_CONFIG", "docker_config"))

    http: HttpSettings = Field(default_factory=HttpSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)

    @field_validator("registries", mode="before")
    @classmethod
    def _lowercase_hosts(cls, value: Any) -> Any:
        # Hosts compare exactly (credential scoping), so normalise case once here.
        if isinstance(value, dict):
            lowered: dict[str, Any] = {}
            for key, entry in value.items():
                host = str(key).strip().lower()
                if host in lowered:  # else the later entry would silently replace the earlier one
                    raise ValueError(f"two entries for {host} (host names ignore case); merge them into one")
                lowered[host] = entry
            return lowered
        return value

    @field_validator("registries", mode="after")
    @classmethod
    def _one_entry_per_registry(cls, value: dict[str, RegistrySettings]) -> dict[str, RegistrySettings]:
        # Settings are looked up by the registry's canonical spelling (case, :443, Docker Hub's names,
        # IP spellings). Two keys for one registry would each hold part of its settings, and which one a
        # lookup finds is an accident: a `channels:` limit on one spelling could silently not apply.
        seen: dict[str, str] = {}
        for host, entry in value.items():
            for name in (host, *entry.mirrors, *entry.token_realms):
                _require_brackets_around_ipv6(name)
            canonical = canonical_registry(host)
            if canonical in seen:
                raise ValueError(f"{seen[canonical]} and {host} name the same registry ({canonical}); "
                                 "merge their settings into one entry")
            seen[canonical] = host
        return value

    @field_validator("registries", mode="after")
    @classmethod
    def _restricted_mirrors_stay_restricted(cls, value: dict[str, RegistrySettings]) -> dict[str, RegistrySettings]:
        # Checking a registry also asks its mirrors (the mirror comparison), and the per-channel gate
        # sees only the registry that was typed. A mirror limited to some channels, used by a registry
        # that other channels may check, would show them its answers: refuse to start with that.
        by_host = {canonical_registry(host): entry for host, entry in value.items()}
        for host, entry in value.items():
            for mirror in entry.mirrors:
                limited = by_host.get(canonical_registry(mirror.split("://", 1)[-1].rstrip("/")))
                if limited is None or not limited.channels:
                    continue
                extra = sorted(set(entry.channels) - set(limited.channels))
                if not entry.channels or extra:
                    who = "from any channel" if not entry.channels else "from " + ", ".join(extra)
                    raise ValueError(
                        f"{host} uses the mirror {mirror}, which is limited to channels "
                        f"{', '.join(limited.channels)}, but {host} may be checked {who}: its checks would "
                        f"show the mirror's answers there. Give {host} the mirror's channels (or fewer), or "
                        "lift the mirror's limit")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("IMAGECHECK_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    def mirrors_by_registry(self) -> dict[str, list[str]]:
        return {host: entry.mirrors for host, entry in self.registries.items() if entry.mirrors}
