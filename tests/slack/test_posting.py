"""Posting pace: about one message per second per channel, after a short burst (fake clock, no sleeping)."""

from __future__ import annotations

from bot.slack.posting import Poster, make_client
from bot.slack.render import render_notice
from tests.fixtures.slack_emulator import SlackEmulator


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_burst_then_one_per_second_per_channel(slack_emulator: SlackEmulator) -> None:
    fake = FakeTime()
    poster = Poster(make_client("xoxb-test", slack_emulator.api_url), per_channel_interval_s=1.0, burst=3,
                    clock=fake.clock, sleep=fake.sleep)
    for i in range(5):
        await poster.post("CBUSY001", render_notice(f"message {i}"))
    assert fake.slept == [1.0, 1.0]  # the first three go at once, then one a second
    await poster.post("COTHER01", render_notice("elsewhere"))
    assert fake.slept == [1.0, 1.0]  # another channel has its own budget
    fake.now += 10
    await poster.post("CBUSY001", render_notice("later"))
    assert fake.slept == [1.0, 1.0]  # a quiet channel refills
    assert [c.args["channel"] for c in slack_emulator.posts()] == ["CBUSY001"] * 5 + ["COTHER01", "CBUSY001"]


async def test_posts_switch_off_unfurls_and_link_names(slack_emulator: SlackEmulator) -> None:
    poster = Poster(make_client("xoxb-test", slack_emulator.api_url), per_channel_interval_s=0)
    await poster.post("C1", render_notice("see https://example.com @channel"), thread_ts="1.2")
    call = slack_emulator.posts()[0]
    assert call.args["thread_ts"] == "1.2"
    assert {call.args["unfurl_links"], call.args["unfurl_media"], call.args["link_names"]} <= {"0", "false",
                                                                                                 False}
