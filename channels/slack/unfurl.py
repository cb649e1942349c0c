"""Slack unfurls: a link to an item of the reports pasted in a conversation gets its short card.

Slack sends ``link_shared`` for links to the domains the app declares (``unfurl_domains`` in
the manifest, scopes ``links:read`` and ``links:write``). The gateway finds the item each link
leads to (an arXiv abs or pdf link, a model's page as the report links it) and its short card;
``chat.unfurl`` shows the cards under the message. Links to nothing are left alone, so Slack's
own preview stays. An event Slack sends again unfurls again: ``chat.unfurl`` replaces, it never
adds a second card.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from channels.base import Handler
from channels.slack.home import Surfaces
from channels.slack.render import render_slack

log = logging.getLogger(__name__)

#: Blocks of one unfurl: the short card, never the long one.
UNFURL_BLOCKS = 12


async def on_link_shared(channel: Surfaces, event: dict[str, Any], context: dict[str, Any]) -> None:
    """A ``link_shared`` event: unfurl the links that lead to items."""
    urls = [str(link.get("url") or "") for link in event.get("links") or []]
    urls = [u for u in urls if u]
    slack_channel = str(event.get("channel") or "")
    conversation = channel.address(context, slack_channel)
    if not urls:
        return

    async def work(handler: Handler) -> None:
        kind = "im" if slack_channel.startswith("D") else "channel"
        found = await handler.on_links("slack", conversation, urls, kind)
        unfurls: dict[str, dict[str, Any]] = {}
        for url, card in found.items():
            payloads = render_slack(card, images=False)
            if payloads:
                unfurls[url] = {"blocks": payloads[0]["blocks"][:UNFURL_BLOCKS]}
        if not unfurls:
            return
        # Links in a message being written (the composer) are unfurled by their unfurl_id.
        where: dict[str, Any]
        if event.get("unfurl_id") and event.get("source"):
            where = {"unfurl_id": event["unfurl_id"], "source": event["source"]}
        else:
            where = {"channel": slack_channel, "ts": str(event.get("message_ts") or "")}
        client, _ = await channel.client_for(conversation)
        try:
            await client.chat_unfurl(unfurls=unfurls, **where)
        except SlackApiError as exc:  # an unfurl is a courtesy: one line, never a traceback
            log.warning("slack: chat.unfurl failed: %s", exc.response.get("error"))
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: chat.unfurl failed: %s", type(exc).__name__)

    await channel.inflight.run(work)
