"""Probes of issue 30: ``/healthz`` must say when delivery or a channel stopped.

The outbox worker stayed "alive" while its flush loop retried one batch forever (nothing was
recorded and rows were due), and Discord said ``connected`` after an event discord.py could not
parse had ended its gateway task (slash commands went unanswered).
"""

from __future__ import annotations

import asyncio

from bot.delivery.worker import OutboxWorker, enqueue
from bot.settings import Settings
from bot.store.store import Store
from digests.message import Message
from tests.bot.test_delivery_probes import _telegram
from tests.bot.test_maybe_delivered import until


async def test_a_worker_that_records_nothing_while_rows_wait_is_stalled(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    async with _telegram() as (fake, channel, _method, _copies):
        settings = Settings(telegram_chat_interval=0, console=False)
        worker = OutboxWorker(
            store.engine,
            [channel],
            settings,
            poll_seconds=0.02,
            stall_seconds=0.5,
            send_timeout=60.0,
        )
        await worker.start()
        try:
            await asyncio.sleep(0.8)
            assert not await worker.stalled()  # idle: nothing due is no stall
            # The platform takes the request and never answers: nothing is recorded.
            fake.fail_next("sendMessage", None, delay=30.0)  # type: ignore[attr-defined]
            with store.engine.begin() as conn:
                enqueue(conn, platform="telegram", chat_id="41", message=Message.text("a"))
            worker.wake()
            await asyncio.sleep(0.1)
            assert worker.alive
            await until(worker_stalled(worker), within=5)
        finally:
            await worker.stop(grace=0.1)
    store.close()


def worker_stalled(worker: OutboxWorker) -> object:
    loop = asyncio.get_running_loop()

    def check() -> bool:  # run in a thread by until(): ask the loop
        return asyncio.run_coroutine_threadsafe(worker.stalled(), loop).result(5)

    return check
