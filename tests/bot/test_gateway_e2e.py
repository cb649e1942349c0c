"""The real gateway, end to end, against local fakes of the Telegram Bot API and Slack Web API.

python-telegram-bot and slack_sdk are pointed at the fakes through the same settings a user sets
(DIGESTBOT_TELEGRAM_API_URL, DIGESTBOT_SLACK_API_URL); Slack requests are signed as Slack signs
them and posted to the gateway's own HTTP server.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.gateway import Gateway
from bot.settings import load_settings
from bot.store.store import Store
from tests.fakes import wait_for
from tests.fakes.slack import (
    FakeSlack,
    event_body,
    mention_event,
    signed_headers,
    slash_command_body,
)
from tests.fakes.telegram import FakeTelegram
from tests.stored import ingest_samples

SECRET = "e2e-signing-secret"
ADMIN_TG = 1001
ADMIN_SLACK = "UADMIN"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    gateway: Gateway
    telegram: FakeTelegram
    slack: FakeSlack
    http: aiohttp.ClientSession
    base: str
    db_url: str

    async def post_slack(self, body: str, *, signed: bool = True, **headers: str) -> int:
        sign = (
            signed_headers(SECRET, body)
            if signed
            else {"Content-Type": "application/x-www-form-urlencoded"}
        )
        async with self.http.post(
            f"{self.base}/slack/events", data=body, headers=sign | headers
        ) as resp:
            return resp.status

    def tg_texts(self, chat_id: int) -> list[str]:
        return [s.plain for s in self.telegram.sent if str(s.chat_id) == str(chat_id)]


def _env(tg: FakeTelegram, sl: FakeSlack, db_url: str) -> dict[str, str]:
    return {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
        "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
        "DIGESTBOT_SLACK_BOT_TOKEN": sl.bot_token,
        "DIGESTBOT_SLACK_SIGNING_SECRET": SECRET,
        "DIGESTBOT_SLACK_API_URL": sl.api_url,
        "DIGESTBOT_ADMINS": f"telegram:{ADMIN_TG},slack:{ADMIN_SLACK}",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
    }


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[Running]:
    async with FakeTelegram(max_poll_wait=0.2) as tg, FakeSlack() as sl:
        settings = load_settings(env=_env(tg, sl, sqlite_url))
        store = Store.open(sqlite_url)
        ingest_samples(store)  # the reports an admin would have uploaded
        store.close()
        gateway = Gateway(settings, stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(
            lambda: (
                gateway.http is not None
                and gateway.http.port != 0
                and any(c.name == "telegram" for c in gateway.channels)
            ),
            within=30,
        )
        await wait_for(lambda: tg.commands, within=30)
        # Channels start one after the other: wait for the last one too (Slack answers 503 before).
        await wait_for(lambda: all(c.connected() for c in gateway.channels), within=30)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Running(
                gateway, tg, sl, http, f"http://127.0.0.1:{gateway.http.port}", sqlite_url
            )
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_telegram_private_and_group_commands(running: Running) -> None:
    tg = running.telegram
    tg.user_message(555, 555, "/model glm4.7")
    await wait_for(lambda: running.tg_texts(555), within=15)
    assert running.tg_texts(555)[0].startswith("GLM-4.7")
    username = tg.bot_user["username"]
    tg.user_message(-300, 7, f"/model@{username} glm", chat_type="group")
    tg.user_message(-300, 7, "/model@some_other_bot GLM-4.7", chat_type="group")
    tg.user_message(-300, 7, "/themes", chat_type="supergroup")
    await wait_for(lambda: len(running.tg_texts(-300)) >= 2, within=15)
    await asyncio.sleep(0.5)
    texts = sorted(running.tg_texts(-300))
    assert len(texts) == 2
    assert "Which one?" in texts[0]
    assert "GLM-4.6" in texts[0]
    assert "clay" in texts[1]
    sent = [s for s in tg.sent if str(s.chat_id) == "-300"]
    assert all(s.parse_mode == "HTML" for s in sent)


async def test_command_menu_is_registered(running: Running) -> None:
    names = {c["command"] for c in running.telegram.commands}
    assert {"model", "paper", "search", "themes", "help"} <= names
    # The same menu in Chinese, for Telegram users whose language is Chinese.
    await wait_for(lambda: "zh" in running.telegram.localized_commands, within=15)
    chinese = {c["command"]: c["description"] for c in running.telegram.localized_commands["zh"]}
    assert set(chinese) == names
    assert chinese["lang"] == "我在这里回复所用的语言：中文、English 或 auto"


async def test_slack_signed_slash_command_unsigned_and_stale(running: Running) -> None:
    sl = running.slack
    body = slash_command_body("/model", "kimi k2 thinking", response_url=sl.response_url())
    assert await running.post_slack(body) == 200
    await wait_for(lambda: sl.responses, within=15)
    assert "Kimi-K2-Thinking" in str(sl.responses[0].payload["blocks"])
    assert await running.post_slack(body, signed=False) == 401
    stale = signed_headers(SECRET, body, timestamp=1_000_000)
    async with running.http.post(f"{running.base}/slack/events", data=body, headers=stale) as r:
        assert r.status == 401
    await asyncio.sleep(0.3)
    assert len(sl.responses) == 1


async def test_slack_mention_and_retried_event_answered_once(running: Running) -> None:
    sl = running.slack
    body = event_body(mention_event("<@UBOT> model GLM-4.7", channel="C0TEAM"), event_id="EvOnce")
    assert await running.post_slack(body) == 200
    assert (
        await running.post_slack(
            body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        )
        == 200
    )
    await wait_for(lambda: sl.sent, within=15)
    await asyncio.sleep(0.5)
    replies = [p for p in sl.sent if p.channel == "C0TEAM"]
    assert len(replies) == 1
    assert "GLM-4.7" in str(replies[0].blocks)


@pytest.fixture
def seed_bytes(seed_path: Path) -> bytes:
    return seed_path.read_bytes()


async def test_admin_upload_is_ingested_and_non_admin_is_refused(
    running: Running, seed_bytes: bytes
) -> None:
    tg = running.telegram
    content = seed_bytes
    tg.document_message(ADMIN_TG, ADMIN_TG, "2026-01.md", content)
    await wait_for(lambda: running.tg_texts(ADMIN_TG), within=15)
    assert (
        "2026-01 new month: added 2 insights, 8 models, 23 papers, 1 radar, 7 topics"
        in running.tg_texts(ADMIN_TG)[0]
    )
    # renamed and relinked: another model (renamed under its own link it would be the same one)
    edited = content.replace(
        b"[GLM-4.7](https://z.ai/blog/glm-4.7)", b"[GLM-4.8](https://z.ai/blog/glm-4.8)", 1
    )
    assert edited != content
    tg.document_message(ADMIN_TG, ADMIN_TG, "2026-01.md", edited)
    await wait_for(lambda: len(running.tg_texts(ADMIN_TG)) >= 2, within=15)
    reply = running.tg_texts(ADMIN_TG)[1]
    assert "2026-01 new version" in reply
    assert "added 1 model" in reply
    assert "removed 1 model" in reply

    tg.document_message(77, 77, "evil.md", b"---\nperiod: 2026-09\n---\n")
    await wait_for(lambda: running.tg_texts(77), within=15)
    assert "Only bot admins" in running.tg_texts(77)[0]
    store = Store.open(running.db_url)
    try:
        assert "2026-09" not in [r.period for r in store.reports()]
    finally:
        store.close()

    downloads = sum(1 for method, _ in tg.calls if method == "getFile")
    tg.document_message(ADMIN_TG, ADMIN_TG, "huge.md", b"x", file_size=50 * 1024 * 1024)
    await wait_for(lambda: len(running.tg_texts(ADMIN_TG)) >= 3, within=15)
    assert "over the" in running.tg_texts(ADMIN_TG)[2]
    assert sum(1 for method, _ in tg.calls if method == "getFile") == downloads

    sl = running.slack
    body = event_body(sl.file_share_event("2026-01.md", content, user=ADMIN_SLACK), "EvUp1")
    assert await running.post_slack(body) == 200
    await wait_for(lambda: sl.sent, within=15)
    assert "2026-01" in str(sl.sent[0].blocks)


async def test_platform_errors_on_a_reply(running: Running) -> None:
    tg = running.telegram
    tg.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    tg.user_message(808, 808, "/themes")
    await wait_for(lambda: running.tg_texts(808), within=15)
    assert "clay" in running.tg_texts(808)[0]

    tg.chat_gone(-909)
    tg.user_message(-909, 5, "/themes", chat_type="group")
    tg.user_message(810, 810, "/latest")
    await wait_for(lambda: running.tg_texts(810), within=15)
    assert running.tg_texts(-909) == []


async def test_a_reply_outlasts_three_429s_in_a_row(running: Running) -> None:
    """Each retry waits out the 429 and takes its turn with the limiter again; three in a row
    (a platform at its limit) do not lose the reply."""
    tg = running.telegram
    tg.fail_next(
        "sendMessage",
        429,
        "Too Many Requests: retry after 1",
        parameters={"retry_after": 1},
        times=3,
    )
    tg.user_message(812, 812, "/themes")
    await wait_for(lambda: running.tg_texts(812), within=30)
    assert "clay" in running.tg_texts(812)[0]
    attempts = [p for method, p in tg.calls if method == "sendMessage" and p.get("chat_id") == 812]
    assert len(attempts) == 4


@pytest.mark.slow
def test_sigterm_stops_the_gateway_cleanly(tmp_path: Path) -> None:
    async def scenario() -> tuple[int | None, str]:
        async with FakeTelegram(max_poll_wait=0.2) as tg, FakeSlack() as sl:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
                **_env(tg, sl, f"sqlite:///{tmp_path / 'term.db'}"),
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                await wait_for(lambda: tg.commands, within=60)
                tg.user_message(4, 4, "/help")
                await wait_for(lambda: tg.sent, within=30)
                proc.send_signal(signal.SIGTERM)
                _out, err = await asyncio.wait_for(proc.communicate(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return proc.returncode, err.decode()

    code, err = asyncio.run(scenario())
    assert code == 0, err
    assert "Traceback" not in err
    assert "fake-telegram-token" not in err


def _long_report(notes: int) -> bytes:
    """A report of one long list of notes and no item: seconds to parse, then refused (so no
    store work follows the parse)."""
    head = "---\nperiod: 2026-03\n---\n\n# Log 2026-03\n\n## Notes\n"
    return (head + "".join(f"\n* note {n} 注释" for n in range(notes))).encode("utf-8")


async def test_a_big_upload_is_parsed_off_the_event_loop(running: Running) -> None:
    """While an admin's report of megabytes is parsed, another chat's /help is answered first:
    the parse runs in a worker thread, not on the loop every chat shares (issue 30)."""
    tg = running.telegram
    big = _long_report(25_000)
    tg.document_message(ADMIN_TG, ADMIN_TG, "2026-03.md", big)
    # Once the file is handed out, the gateway has it and parses it.
    await wait_for(lambda: tg.downloads, within=15)
    tg.user_message(4242, 4242, "/help")
    await wait_for(lambda: running.tg_texts(ADMIN_TG), within=120)
    order = [str(s.chat_id) for s in tg.sent if str(s.chat_id) in {str(ADMIN_TG), "4242"}]
    assert order[0] == "4242", order
    assert "Rejected" in running.tg_texts(ADMIN_TG)[0]
