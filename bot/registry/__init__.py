"""The registry adapter: an OCI distribution client behind ``bot.domain.ports.RegistryPort``.

Build one ``RegistryClient(RegistryClientConfig.from_settings(settings))`` per process and call
``client.session()`` per diagnosis; every request passes the egress policy (``bot.registry.egress``).
"""

from bot.registry.client import RegistryClient, RegistrySession
from bot.registry.config import RegistryClientConfig, RegistryEndpoint

__all__ = ["RegistryClient", "RegistryClientConfig", "RegistryEndpoint", "RegistrySession"]
