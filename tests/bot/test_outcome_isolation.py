"""Probe of issue 30: one outcome that cannot be recorded must not stop the others.

Slack answers a post refused with an error holding a NUL character; PostgreSQL refuses to store
that text, so the batch of outcomes holding it failed, was retried every second forever, and no
other row of the batch (a digest delivered meanwhile) was ever marked sent. Now the batch is
recorded row by row and the bad row is finished plainly (dead, the error replaced).
"""

from __future__ import annotations

from bot.delivery.worker import DEAD, SENT, OutboxWorker, enqueue
from bot.settings import Settings
from bot.store.store import Store
from digests.message import Message
from tests.bot.test_maybe_delivered import row, until
from tests.fakes.slack import FakeSlack


class _NoCommands:
    async def on_command(self, incoming: object) -> None:
        return None

    async def on_upload(self, upload: object) -> Message:
        raise AssertionError("no uploads here")


async def test_an_outcome_that_cannot_be_recorded_is_set_aside(store: Store) -> None:
    from channels.slack.adapter import SlackChannel

    async with FakeSlack() as fake:
        channel = SlackChannel(fake.bot_token, signing_secret="s", api_url=fake.api_url)
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        settings = Settings(slack_channel_interval=0, console=False, admins="slack:U1")
        worker = OutboxWorker(store.engine, [channel], settings, poll_seconds=0.02)
        try:
            fake.fail_next("chat.postMessage", "weird\x00error")
            with store.engine.begin() as conn:
                ids = [
                    enqueue(conn, platform="slack", chat_id=c, message=Message.text(c))
                    for c in ("C1", "C2", "C3")
                ]
            await worker.start()  # the three go in one batch
            await until(lambda: all(row(store, i).status != "pending" for i in ids), within=20)
            bad, *good = (row(store, i) for i in ids)
            assert bad.status == DEAD
            if store.engine.dialect.name == "postgresql":  # SQLite keeps the NUL as it is
                assert "could not be recorded" in bad.last_error
            assert [r.status for r in good] == [SENT, SENT]
            # And delivery goes on.
            with store.engine.begin() as conn:
                later = enqueue(conn, platform="slack", chat_id="C4", message=Message.text("4"))
            worker.wake()
            await until(lambda: row(store, later).status == SENT)
            assert worker.alive
        finally:
            await worker.stop()
            await channel.stop()
