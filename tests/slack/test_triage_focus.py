"""A pasted kubectl events block in Slack: the failing image is checked (deeply, for a missing blob) even
when healthy sidecars are listed first. The real app, engine and store against the real local registry;
only Slack is the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.settings import RegistrySettings, Settings
from bot.store.memory_store import MemoryStore
from bot.web import services_from_runtime
from bot.wiring import build_runtime
from tests.fixtures.slack_emulator import SlackEmulator
from tests.slack.harness import Harness
from tests.support.local_registry import LocalRegistry

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def live(slack_emulator: SlackEmulator, registry_open: LocalRegistry) -> AsyncIterator[Harness]:
    settings = Settings(registries={registry_open.host: RegistrySettings(insecure=True)})
    async with build_runtime(settings, store=MemoryStore()) as runtime:
        h = await Harness(slack_emulator, services_from_runtime(runtime)).start()
        try:
            yield h
        finally:
            await h.close()


async def test_missing_blob_behind_six_healthy_sidecars_is_checked_deeply(live: Harness,
                                                                         registry_open: LocalRegistry) -> None:
    s = registry_open.scenarios
    healthy = [registry_open.ref(i.repository, "1.0") for i in
               (s.single_oci, s.single_docker, s.multi_oci, s.multi_docker, s.amd64_only, s.dangling)]
    broken = registry_open.ref(s.missing_blob.repository, "1.0")
    paste = "".join(f'Normal  Pulled  2m  kubelet  Container image "{h}" already present on machine\n'
                    for h in healthy)
    paste += (f'Warning  Failed  1m  kubelet  Failed to pull image "{broken}": rpc error: code = NotFound desc = '
              f'failed to pull and unpack image "{broken}": failed to copy: httpReadSeeker: failed open: '
              "unexpected status code: 404 Not Found - Server message: blob unknown: blob unknown to registry")
    event = {"type": "message", "channel": "CCHAN001", "user": "UALICE01", "text": paste,
             "ts": "1700000600.000100", "channel_type": "channel"}
    await live.event(event)
    await live.emulator.wait_for("chat.postMessage", 6, timeout=30)  # the triage, then five diagnoses
    await live.emulator.settle(0.5)
    triage_post, *diagnoses = live.emulator.posts()
    assert len(diagnoses) == 5
    triage_text = triage_post.all_text()
    assert "blob" in triage_text.lower()
    assert f"{s.missing_blob.repository}:1.0: confirmed" in triage_text
    assert "node's side" not in triage_text
    assert triage_text.count("does not tie this image to the failure") == 4
    # The deep check found the layer the registry lost; a shallow one would have said the image is fine.
    broken_replies = [p.all_text() for p in diagnoses if s.missing_blob.repository in p.all_text()]
    assert len(broken_replies) == 1
    assert s.missing_blob_digest[:19] in broken_replies[0]
    incident = await live.services.store.get_incident("CCHAN001:1700000600.000100")
    assert incident is not None
