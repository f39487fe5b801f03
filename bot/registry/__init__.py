"""The registry adapter: an OCI distribution client behind ``bot.domain.ports.RegistryPort``."""

from bot.registry.client import RegistryClient, RegistrySession
from bot.registry.config import RegistryClientConfig, RegistryEndpoint

__all__ = ["RegistryClient", "RegistryClientConfig", "RegistryEndpoint", "RegistrySession"]
