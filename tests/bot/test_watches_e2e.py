"""A watch end to end: set in Telegram, matched when an admin uploads a report, delivered by the
gateway's outbox worker to the fake Telegram with its buttons, and never twice."""

from __future__ import annotations

import asyncio

from tests.bot.test_gateway_e2e import ADMIN_TG, Running, running  # noqa: F401 (the fixture)
from tests.conftest import SAMPLES
from tests.fakes import wait_for
from tests.fakes.telegram import buttons_of


async def test_a_watch_is_told_about_an_uploaded_report(running: Running) -> None:  # noqa: F811
    tg = running.telegram
    tg.user_message(555, 555, "/watch Olmo")
    await wait_for(lambda: running.tg_texts(555), within=15)
    assert "Watching “Olmo”" in running.tg_texts(555)[0]
    # February again, with Olmo 3 renamed: one new item the watch matches.
    report = (SAMPLES / "2026-02.md").read_bytes().replace(b"[Olmo 3](", b"[Olmo 4](", 1)
    tg.document_message(ADMIN_TG, ADMIN_TG, "2026-02.md", report)
    await wait_for(lambda: len(running.tg_texts(555)) >= 2, within=30)
    told = [s for s in tg.sent if str(s.chat_id) == "555"][1]
    assert told.plain.startswith("Watch “Olmo”")
    assert "Olmo 4" in told.plain
    assert "Olmo 3" not in told.plain
    labels = [b["text"] for b in buttons_of(told)]
    assert labels == ["Details: Olmo 4", "👍", "👎"]
    tg.press(told, 555, label="Details: Olmo 4")
    await wait_for(lambda: len(running.tg_texts(555)) >= 3, within=15)
    assert running.tg_texts(555)[2].startswith("Olmo 4")
    # The same report again tells no one anything.
    tg.document_message(ADMIN_TG, ADMIN_TG, "2026-02.md", report)
    await wait_for(lambda: len(running.tg_texts(ADMIN_TG)) >= 2, within=15)
    assert "unchanged" in running.tg_texts(ADMIN_TG)[1]
    await asyncio.sleep(1.0)
    assert len(running.tg_texts(555)) == 3
