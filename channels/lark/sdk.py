"""``import lark_oapi``, without the event loop that its ``ws`` module leaves behind, and with its
log going only where ours goes.

``lark_oapi.ws.client`` calls ``asyncio.get_event_loop()`` at import time. Inside the gateway's
running loop that returns the running loop, and nothing is left over; imported outside one (a test
module, a script), it creates a loop, sets it as current and never closes it, which Python
reports as an unclosed event loop when it is collected. We never use that loop
(:mod:`channels.lark.socket` points the module at the running loop before connecting), so a loop
made that way is closed at once and unset.

``lark_oapi.core.log`` gives the SDK's logger (``Lark``) a handler of its own, printing to stdout,
which also propagates to the root logger: every SDK line came out twice, once unredacted on the
stdout that belongs to the console channel. That handler is removed; the SDK's lines go through
the root logger's (:mod:`bot.logs`) only.
"""

from __future__ import annotations

import asyncio

import lark_oapi
import lark_oapi.core.log as sdk_log
import lark_oapi.ws.client as ws_client


def _release_import_loop() -> None:
    loop = ws_client.loop
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_running():
        if not loop.is_closed():
            loop.close()
        asyncio.set_event_loop(None)


_release_import_loop()
sdk_log.logger.removeHandler(sdk_log.handler)

lark = lark_oapi

__all__ = ["lark", "sdk_log", "ws_client"]
