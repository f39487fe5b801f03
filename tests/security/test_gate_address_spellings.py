"""The per-channel limit on a registry holds for every spelling of its address.

The egress policy reads ``[::ffff:7f00:1]``, ``2130706433`` or ``0x7f.1`` as 127.0.0.1 and treats the
request as one to the configured registry (it may use its private address, even its CA). The channel
gate has to read them the same way, or typing the address differently reaches a registry the settings
keep to other channels. Found in review: the gate compared names only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.models import canonical_registry
from bot.settings import RegistrySettings, Settings
from bot.store.memory_store import MemoryStore
from bot.web import services_from_runtime
from bot.wiring import build_runtime
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness
from tests.support.fault_servers import TlsServer


@pytest.mark.parametrize("spelling", ["[::ffff:7f00:1]", "2130706433", "0x7f.1", "127.1",
                                      "0177.0.0.1"])
async def test_a_respelled_address_of_a_limited_registry_is_still_limited(
        spelling: str, tls_good_server: TlsServer, tmp_path: Path, slack_emulator: SlackEmulator) -> None:
    host = tls_good_server.host  # 127.0.0.1:PORT, limited to CPRIV001
    port = host.rpartition(":")[2]
    (tmp_path / "docker").mkdir()
    settings = Settings(registries={host: RegistrySettings(channels=["CPRIV001"], ca_file=tls_good_server.ca_pem_path)},
                        docker_config=tmp_path / "docker")
    before = len(tls_good_server.log.requests)
    async with build_runtime(settings, store=MemoryStore()) as runtime:
        h = await Harness(slack_emulator, services_from_runtime(runtime)).start()
        try:
            await h.slash(f"{spelling}:{port}/secret/app:1", channel="CCHAN001")
            await h.emulator.settle(1.0)
        finally:
            await h.close()
    answers = [c.all_text() for c in h.emulator.calls if c.method in ("chat.postMessage", "response_url")]
    assert any("limited to certain channels" in a for a in answers), answers
    assert tls_good_server.log.requests[before:] == []  # the limited registry was never asked


@pytest.mark.parametrize(("written", "meant"), [
    ("[::ffff:a00:5]:5000", "10.0.0.5:5000"), ("0xa.0.0.5:5000", "10.0.0.5:5000"), ("167772165", "10.0.0.5"),
    ("[::ffff:a00:5]:443", "10.0.0.5"), ("[2001:DB8::1]:5000", "[2001:db8::1]:5000"),
    ("registry.corp.", "registry.corp"), ("999.1.1.1:5000", "999.1.1.1:5000"),  # not an address: unchanged
])
def test_settings_lookups_spell_an_address_as_the_egress_policy_does(written: str, meant: str) -> None:
    assert canonical_registry(written) == meant
