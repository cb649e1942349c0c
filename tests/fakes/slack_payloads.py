"""What Slack sends to a bot and what it accepts from one: signed requests, bodies, blocks.

Signatures are made with ``slack_sdk.signature.SignatureVerifier.generate_signature``, as
slack-bolt's own tests make them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from slack_sdk.signature import SignatureVerifier

JSON = dict[str, Any]

BOT_TOKEN = "xoxb-fake-slack-token"
TEAM_ID = "T0FAKE"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150


def signed_headers(
    signing_secret: str, body: str, timestamp: int | None = None, content_type: str | None = None
) -> dict[str, str]:
    """Headers Slack would send with ``body``: timestamp, ``v0=`` signature, content type."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    if content_type is None:
        content_type = (
            "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
        )
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
        "Content-Type": content_type,
    }


def slash_command_body(
    command: str,
    text: str,
    *,
    response_url: str,
    channel_id: str = "C0CHAN",
    user_id: str = "U0USER",
    channel_name: str = "general",
    team_id: str = TEAM_ID,
) -> str:
    """The form body of a slash command invocation (in workspace ``team_id``)."""
    return urllib.parse.urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": f"user-{user_id}",
            "command": command,
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def event_body(event: JSON, event_id: str = "Ev0001", team_id: str = TEAM_ID) -> str:
    """The JSON body of an Events API ``event_callback`` (from workspace ``team_id``)."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True}],
        }
    )


def mention_event(text: str, *, channel: str = "C0CHAN", user: str = "U0USER") -> JSON:
    """An ``app_mention`` event: ``text`` follows the bot's mention."""
    ts = f"{time.time():.6f}"
    return {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER_ID}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }


def dm_event(text: str, *, channel: str = "D0DM", user: str = "U0USER", **extra: Any) -> JSON:
    """A ``message`` event in a direct message."""
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    } | extra


def block_actions_body(
    value: str,
    *,
    response_url: str | None,
    channel: str = "C0CHAN",
    user: str = "U0USER",
    message_ts: str = "1.000001",
    thread_ts: str | None = None,
    in_home_tab: bool = False,
    action_id: str = "digestbot-0",
    team_id: str = TEAM_ID,
) -> str:
    """The form body of a ``block_actions`` payload: ``user`` pressed a button of ours.

    ``in_home_tab`` makes it a press in the app's Home tab (no channel, no response_url).
    """
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": "b1",
        "value": value,
        "text": {"type": "plain_text", "text": "button"},
        "action_ts": f"{time.time():.6f}",
    }
    payload: JSON = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user, "username": f"user-{user}", "team_id": team_id},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "trigger_id": "1.2.3",
        "actions": [action],
    }
    if in_home_tab:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "blocks": []}
    else:
        message: JSON = {"type": "message", "ts": message_ts, "user": BOT_USER_ID, "text": "x"}
        if thread_ts:
            message["thread_ts"] = thread_ts
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": channel.lower()}
        payload["message"] = message
        payload["response_url"] = response_url
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def link_shared_event(
    *urls: str,
    channel: str = "C0CHAN",
    user: str = "U0USER",
    message_ts: str = "1.000002",
    composer: bool = False,
) -> JSON:
    """A ``link_shared`` event: a message with ``urls`` (to declared domains) was posted, or is
    being written (``composer``: Slack then names it by ``unfurl_id`` and ``source``)."""
    event: JSON = {
        "type": "link_shared",
        "channel": "COMPOSER" if composer else channel,
        "user": user,
        "message_ts": "" if composer else message_ts,
        "links": [{"domain": urllib.parse.urlsplit(u).hostname or "", "url": u} for u in urls],
        "event_ts": f"{time.time():.6f}",
        "source": "composer" if composer else "conversations_history",
    }
    if composer:
        event["unfurl_id"] = "C0CHAN.UNFURL1"
    return event


def home_opened_event(user: str = "U0USER", tab: str = "home") -> JSON:
    """An ``app_home_opened`` event: ``user`` opened the app's Home (or Messages) tab."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def app_uninstalled_event() -> JSON:
    """``app_uninstalled``: the workspace removed the app (its tokens are revoked already)."""
    return {"type": "app_uninstalled", "event_ts": f"{time.time():.6f}"}


def tokens_revoked_event(
    *, bot: tuple[str, ...] = (BOT_USER_ID,), oauth: tuple[str, ...] = ()
) -> JSON:
    """``tokens_revoked``: the bot's (``bot``) or users' (``oauth``) tokens were revoked."""
    return {
        "type": "tokens_revoked",
        "tokens": {"oauth": list(oauth), "bot": list(bot)},
        "event_ts": f"{time.time():.6f}",
    }


def check_blocks(
    blocks: list[JSON],
    max_chars: int | None = None,
    unreachable_images: frozenset[str] = frozenset(),
) -> str | None:
    """Slack's complaint about ``blocks`` (``invalid_blocks: …``), or None when they pass."""
    if len(blocks) > MAX_BLOCKS:
        return f"invalid_blocks: must be less than {MAX_BLOCKS + 1} items [json-pointer:/blocks]"
    for i, block in enumerate(blocks):
        kind, text = block.get("type"), (block.get("text") or {}).get("text", "")
        limit = {"section": MAX_SECTION_TEXT, "header": MAX_HEADER_TEXT}.get(str(kind))
        if limit and len(text) > limit:
            return (
                f"invalid_blocks: must be less than {limit + 1} characters "
                f"[json-pointer:/blocks/{i}/text/text]"
            )
        if kind == "section" and not text and not block.get("fields"):
            return f"invalid_blocks: must provide text or fields [json-pointer:/blocks/{i}]"
        fields = block.get("fields") or []
        if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
            return f"invalid_blocks: fields too long [json-pointer:/blocks/{i}/fields]"
        if kind == "context" and len(block.get("elements") or []) > 10:
            return f"invalid_blocks: must be less than 11 items [json-pointer:/blocks/{i}/elements]"
        if kind == "image":
            url, alt = str(block.get("image_url") or ""), str(block.get("alt_text") or "")
            if not url.startswith(("https://", "http://")) or not alt or len(alt) > 2000:
                return f"invalid_blocks: invalid image block [json-pointer:/blocks/{i}]"
            if url in unreachable_images:
                return f"invalid_blocks: downloading image failed [json-pointer:/blocks/{i}]"
    if max_chars is not None and len(json.dumps(blocks, ensure_ascii=False)) > max_chars:
        return "msg_blocks_too_long"
    return None
