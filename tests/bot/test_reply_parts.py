"""Every part of a multi-part message waits for its own turn, and a reply is a few messages.

Against the fake Bot API, which records when it accepted each message: the parts of a reply and
of an outbox send to a Telegram group arrive spaced by the chat interval, and a card with a
100 KB cell is answered in at most :data:`channels.base.MAX_PARTS` messages, the rest behind
"More".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import re
import sys
from collections.abc import AsyncIterator

import pytest

from bot.commands.buttons import PAGE_CHARS
from bot.commands.core import CommandSet, Request, command
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.delivery.ratelimit import INTERACTIVE, RateLimiter
from bot.gateway import Gateway
from bot.settings import load_settings
from bot.store.outbox import enqueue
from bot.store.store import Store
from channels.base import MAX_PARTS, BuildContext
from channels.telegram import SPEC
from digests import parse_report
from digests.message import Divider, Message, Paragraph, Span
from tests.conftest import SAMPLES
from tests.fakes import wait_for
from tests.fakes.telegram import FakeTelegram, Sent, buttons_of

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)

#: Seconds between two messages to one chat (``DIGESTBOT_TELEGRAM_CHAT_INTERVAL``).
SPACING = 0.5


@command("long", usage="/long", example="/long", description="a reply of three parts")
def long_reply(request: Request) -> Message:
    """Three paragraphs of 3,500 characters: three Telegram messages."""
    blocks = []
    for n in range(3):
        blocks += [Paragraph((Span(f"part {n} " + "word " * 700),)), Divider()]
    return Message(tuple(blocks))


def gaps(sent: list[Sent]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(sent)]


def telegram_env(tg: FakeTelegram, db_url: str) -> dict[str, str]:
    return {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
        "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
        "DIGESTBOT_TELEGRAM_CHAT_INTERVAL": str(SPACING),
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
    }


async def test_each_part_of_a_reply_to_a_group_waits_for_its_turn(sqlite_url: str) -> None:
    async with FakeTelegram(max_poll_wait=0.2) as tg:
        settings = load_settings(env=telegram_env(tg, sqlite_url))
        limiter = RateLimiter.from_settings(settings)

        async def pace(platform: str, chat_id: str, kind: str) -> None:
            await limiter.acquire(platform, chat_id, kind, INTERACTIVE)

        store = Store.open(sqlite_url)
        dispatcher = Dispatcher(
            Services(store=store),
            CommandSet.collect(sys.modules[__name__]),
            Dispatcher.standard_middleware(limiter=limiter),
        )
        channel = SPEC.build(settings, BuildContext(pace=pace))
        await channel.start(dispatcher)
        try:
            tg.user_message(-100777, 5, "/long", chat_type="supergroup")
            await wait_for(lambda: len(tg.sent) == 3, within=15)
        finally:
            await channel.stop()
            store.close()
    assert [s.plain.split()[0:2] for s in tg.sent] == [["part", "0"], ["part", "1"], ["part", "2"]]
    assert all(gap >= SPACING - 0.05 for gap in gaps(tg.sent)), gaps(tg.sent)


@contextlib.asynccontextmanager
async def running(
    sqlite_url: str, commands: CommandSet | None = None
) -> AsyncIterator[tuple[Gateway, FakeTelegram]]:
    """A gateway on the fake Bot API, started and, at the end, stopped."""
    async with FakeTelegram(max_poll_wait=0.2) as tg:
        settings = load_settings(env=telegram_env(tg, sqlite_url))
        gateway = Gateway(settings, stdout=io.StringIO(), commands=commands)
        task = asyncio.create_task(gateway.run())
        # The menu is set before the outbox worker starts: wait for both.
        await wait_for(lambda: tg.commands and gateway.outbox is not None, within=30)
        yield gateway, tg
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.fixture
async def gateway(sqlite_url: str) -> AsyncIterator[tuple[Gateway, FakeTelegram]]:
    store = Store.open(sqlite_url)
    store.ingest(parse_report(BIG_REPORT, "2026-02.md"), BIG_REPORT, uploaded_by="test")
    store.close()
    async with running(sqlite_url) as started:
        yield started


@pytest.fixture
async def long_gateway(sqlite_url: str) -> AsyncIterator[tuple[Gateway, FakeTelegram]]:
    """A gateway whose one command, ``/long``, answers in three parts."""
    async with running(sqlite_url, CommandSet.collect(sys.modules[__name__])) as started:
        yield started


async def test_each_part_of_an_outbox_send_to_a_group_waits_for_its_turn(
    gateway: tuple[Gateway, FakeTelegram], sqlite_url: str
) -> None:
    bot, tg = gateway
    assert bot.outbox is not None
    store = Store.open(sqlite_url)
    try:
        with store.engine.begin() as conn:
            enqueue(
                conn,
                platform="telegram",
                chat_id="-100888",
                chat_kind="supergroup",
                message=long_reply(None),  # type: ignore[arg-type]
            )
    finally:
        store.close()
    bot.outbox.wake()
    await wait_for(lambda: len(tg.sent) == 3, within=45)  # generous: a loaded machine
    assert all(gap >= SPACING - 0.05 for gap in gaps(tg.sent)), gaps(tg.sent)


def _big_report() -> str:
    """The February sample with GLM-4.7's mechanism cell grown to 100 KB of sentences."""
    text = (SAMPLES / "2026-02.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| [GLM-4.7]"))
    cells = row.split(" | ")
    sentence = "交错思考在工具调用之间穿插推理，保留思考让多轮对话复用上一轮推理。"
    # numbered, so a page's place in the cell can be read off it
    count = 100_000 // len(sentence.encode()) + 1
    cells[1] = "**[Train] 长文**：<br> " + "".join(f"#{n:05d}{sentence}" for n in range(count))
    return text.replace(row, " | ".join(cells))


BIG_REPORT = _big_report()


def labels(sent: Sent) -> list[str]:
    return [b["text"] for b in buttons_of(sent)]


async def _settled(tg: FakeTelegram, chat_id: int) -> list[Sent]:
    """What was sent to ``chat_id`` once nothing more came for a second."""
    count = -1
    while count != len([s for s in tg.sent if s.chat_id == chat_id]):
        count = len([s for s in tg.sent if s.chat_id == chat_id])
        await asyncio.sleep(1.0)
    return [s for s in tg.sent if s.chat_id == chat_id]


async def test_a_100kb_cell_is_a_few_messages_with_the_rest_behind_more(
    gateway: tuple[Gateway, FakeTelegram],
) -> None:
    _, tg = gateway
    assert len(BIG_REPORT.encode()) > 100_000
    tg.user_message(901, 901, "/model GLM-4.7")
    await wait_for(lambda: any(s.chat_id == 901 for s in tg.sent), within=15)
    card = await _settled(tg, 901)
    assert 1 <= len(card) <= MAX_PARTS
    assert "More" in labels(card[-1])
    # More: the card whole, a page at a time; the first page replaces the folded card.
    tg.press(card[-1], 901, label="More")
    await wait_for(lambda: tg.edits, within=15)
    first_page = [tg.edits[-1], *(await _settled(tg, 901))[len(card) :]]
    assert len(first_page) <= MAX_PARTS
    assert "More" in labels(first_page[-1])
    shown = sum(len(s.plain) for s in first_page)
    assert shown < PAGE_CHARS * 2
    # The next page follows as new messages, again a few, again with "More".
    before = len(await _settled(tg, 901))
    tg.press(first_page[-1], 901, label="More")
    await wait_for(lambda: len([s for s in tg.sent if s.chat_id == 901]) > before, within=15)
    second_page = (await _settled(tg, 901))[before:]
    assert 1 <= len(second_page) <= MAX_PARTS
    assert "More" in labels(second_page[-1])
    # The second page goes on where the first stopped: no sentence lost, none repeated.
    first_numbers = [int(n) for n in re.findall(r"#(\d{5})", first_page[-1].plain)]
    second_numbers = [int(n) for n in re.findall(r"#(\d{5})", second_page[0].plain)]
    assert first_numbers[0] == 0
    assert second_numbers[0] in (first_numbers[-1], first_numbers[-1] + 1)


def replied_to(sent: Sent) -> int | None:
    """The message a part answers (the command, for a reply's first part in a group)."""
    parameters = sent.options.get("reply_parameters") or {}
    return parameters.get("message_id")


async def test_each_part_of_a_gateway_reply_takes_its_own_turn(
    long_gateway: tuple[Gateway, FakeTelegram],
) -> None:
    # Gateway._pace_reply through BuildContext.pace: the parts after the first are paced too.
    _, tg = long_gateway
    tg.user_message(-100901, 5, "/long", chat_type="supergroup")
    await wait_for(lambda: len(tg.sent) == 3, within=30)
    # Unpaced parts follow one another within milliseconds, paced ones SPACING apart; half of
    # it is the bound, so a slow first request on a loaded machine cannot fail the test.
    assert all(gap >= SPACING / 2 for gap in gaps(tg.sent)), gaps(tg.sent)
    assert tg.sent[-1].at - tg.sent[0].at >= 1.5 * SPACING


async def test_two_replies_to_one_chat_do_not_interleave_their_parts(
    long_gateway: tuple[Gateway, FakeTelegram],
) -> None:
    _, tg = long_gateway
    chat = -100902
    # The first reply's first part is slow to be accepted; the second command arrives meanwhile.
    tg.fail_next("sendMessage", None, delay=1.0)
    first = tg.user_message(chat, 5, "/long", chat_type="supergroup")
    await wait_for(lambda: any(method == "sendMessage" for method, _ in tg.calls), within=30)
    second = tg.user_message(chat, 6, "/long", chat_type="supergroup")
    await wait_for(lambda: len(tg.sent) == 6, within=45)
    # A1 A2 A3 B1 B2 B3: the first reply whole, then the second, each first part answering its
    # own command.
    assert [s.plain.split()[1] for s in tg.sent] == ["0", "1", "2", "0", "1", "2"]
    assert [replied_to(s) for s in tg.sent] == [
        first["message"]["message_id"],
        None,
        None,
        second["message"]["message_id"],
        None,
        None,
    ]
