"""Channel benchmark: Lark and Discord against Slack, through the real SDKs and the local fakes.

Run: ``python -m tests.bench.channels [--sends 200]``. Measures, in one process and one run:
rendering the seed report's digests (Slack Block Kit is the baseline, then Lark cards and Discord
embeds), and sequential ``send()`` calls of a one-part digest through slack_sdk, lark-oapi and
discord.py to their fakes (Slack is the baseline). The fakes answer at once, so the send figures
are the client libraries' own cost per message. While sending, a task measures how late the loop
wakes it (the worst lag): that is what the other channels on the loop feel. ``lark-async-sdk`` is
the SDK's own async client called directly (a new ``httpx.AsyncClient``, with its TLS context, per
request), which the adapter avoids by calling the synchronous client in a worker thread.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tests.bench.common import interleaved, seed_text


def digests() -> list[object]:
    from digests import parse_report
    from digests.cards import model_card

    report = parse_report(seed_text(), "seed.md")
    return [model_card(item) for item in report.items if item.kind == "model"]


class LagMonitor:
    """The worst delay of a 1 ms sleep on the loop while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - started - 0.001)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def sends(n: int) -> tuple[dict[str, float], dict[str, float]]:
    from channels.discord.adapter import DiscordChannel
    from channels.lark.adapter import LarkChannel
    from channels.slack.adapter import SlackChannel
    from digests.message import Message
    from tests.fakes import EchoHandler
    from tests.fakes.discord import TOKEN, FakeDiscord
    from tests.fakes.lark import APP_ID, APP_SECRET, FakeLark
    from tests.fakes.slack import FakeSlack

    message = Message.text("weekly digest: " + "蒸馏 " * 40)
    results: dict[str, float] = {}
    lags: dict[str, float] = {}
    async with FakeSlack() as slack_fake, FakeLark() as lark_fake, FakeDiscord() as discord_fake:
        slack = SlackChannel(slack_fake.bot_token, signing_secret="x", api_url=slack_fake.api_url)
        lark = LarkChannel(APP_ID, APP_SECRET, verification_token="t", api_url=lark_fake.url)
        discord = DiscordChannel(
            TOKEN,
            api_url=discord_fake.api_url,
            gateway_url=discord_fake.gateway_url,
            guild_ready_timeout=0.05,
        )
        channels = {"slack": (slack, "C1"), "lark": (lark, "oc_1"), "discord": (discord, "800")}
        for channel, _ in channels.values():
            await channel.start(EchoHandler())
        try:
            for name, (channel, chat) in channels.items():
                await channel.send(chat, message)  # warm up connections and tokens
                with LagMonitor() as lag:
                    started = time.perf_counter()
                    for i in range(n):
                        # A distinct message each time: Lark drops repeats of the same uuid.
                        await channel.send(chat, Message.text(f"digest {i}: " + "蒸馏 " * 40))
                    results[name] = n / (time.perf_counter() - started)
                    await asyncio.sleep(0.005)
                lags[name] = lag.worst
            results["lark-async-sdk"], lags["lark-async-sdk"] = await _lark_async(lark, n)
        finally:
            for channel, _ in channels.values():
                await channel.stop()
    return results, lags


async def _lark_async(lark: object, n: int) -> tuple[float, float]:
    from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

    client = lark._client  # type: ignore[attr-defined]
    with LagMonitor() as lag:
        started = time.perf_counter()
        for i in range(n):
            body = (
                CreateMessageRequestBody.builder()
                .receive_id("oc_1")
                .msg_type("interactive")
                .content(json.dumps({"elements": [{"tag": "markdown", "content": f"{i}"}]}))
                .build()
            )
            request = (
                CreateMessageRequest.builder().receive_id_type("chat_id").request_body(body).build()
            )
            response = await client.im.v1.message.acreate(request)
            assert response.success(), response.msg
        rate = n / (time.perf_counter() - started)
        await asyncio.sleep(0.005)
    return rate, lag.worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    from channels.discord.render import render_discord
    from channels.lark.render import render_lark
    from channels.slack.render import render_slack

    cards = digests()
    render = interleaved(
        {
            "slack": lambda: [render_slack(c) for c in cards],  # type: ignore[arg-type]
            "lark": lambda: [render_lark(c) for c in cards],  # type: ignore[arg-type]
            "discord": lambda: [render_discord(c) for c in cards],  # type: ignore[arg-type]
        },
        args.rounds,
    )
    per_card = {k: v / len(cards) * 1000 for k, v in render.items()}
    for name, ms in per_card.items():
        print(f"render {name:8} {ms:7.2f} ms/card  ×{ms / per_card['slack']:.2f} of Slack")
    rates, lags = asyncio.run(sends(args.sends))
    for name, rate in rates.items():
        print(
            f"send   {name:14} {rate:7.1f} msg/s ×{rate / rates['slack']:.2f} of Slack,"
            f" worst loop lag {lags[name] * 1000:6.1f} ms"
        )
    print(
        json.dumps(
            {
                "cards": len(cards),
                "render_ms_per_card": {k: round(v, 3) for k, v in per_card.items()},
                "render_ratio_to_slack": {
                    k: round(v / per_card["slack"], 2) for k, v in per_card.items()
                },
                "sends": args.sends,
                "send_per_second": {k: round(v, 1) for k, v in rates.items()},
                "send_ratio_to_slack": {k: round(v / rates["slack"], 2) for k, v in rates.items()},
                "worst_loop_lag_ms": {k: round(v * 1000, 1) for k, v in lags.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
