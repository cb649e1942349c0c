"""What the fake Telegram Bot API speaks: its JSON objects and the HTML parse mode.

:func:`parse_html` accepts what Telegram's HTML parse mode accepts (core.telegram.org/bots/api
#formatting-options) and rejects the rest with Telegram's "can't parse entities" wording, so
renderer bugs (``<br>``, unbalanced tags) fail in tests as they would in production.
"""

from __future__ import annotations

import json
import re
from typing import Any

JSON = dict[str, Any]

BOT_USER: JSON = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Digest Bot",
    "username": "digest_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": True,
}

MAX_TEXT = 4096
_ADMIN_RIGHTS = [
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
]

# --- Telegram's HTML parse mode, strictly enough to catch what the real server rejects ---------

_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
_TAGS |= {"blockquote", "tg-spoiler", "span", "tg-emoji"}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*(/?)>")
_ENTITY_RE = re.compile(r"&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityError(ValueError):
    """The text is not valid Telegram HTML; the message mirrors the real server's."""


def parse_html(text: str) -> str:
    """The visible text of a Telegram-HTML message, or :class:`EntityError`."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0

    def offset(i: int) -> int:
        return len(text[:i].encode())

    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            m = _TAG_RE.match(text, pos)
            if m is None:
                raise EntityError(f"Unexpected end of name token at byte offset {offset(pos)}")
            closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
            if name not in _TAGS or m.group(4):
                kind = "end" if closing else "start"
                raise EntityError(f'Unsupported {kind} tag "{name}" at byte offset {offset(pos)}')
            if closing:
                if not stack or stack[-1] != name:
                    raise EntityError(f"Unexpected end tag at byte offset {offset(pos)}")
                stack.pop()
            else:
                if name == "span" and "tg-spoiler" not in attrs:
                    raise EntityError(f'Unsupported start tag "span" at byte offset {offset(pos)}')
                stack.append(name)
            pos = m.end()
        elif ch == "&" and (e := _ENTITY_RE.match(text, pos)):
            ref = e.group(1)
            out.append(_NAMED.get(ref) or chr(int(ref[2:], 16) if ref[1] == "x" else int(ref[1:])))
            pos = e.end()
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def user_json(user_id: int) -> JSON:
    return {"id": user_id, "is_bot": user_id == BOT_USER["id"], "first_name": f"User {user_id}"}


def member_json(user_id: int, status: str) -> JSON:
    """A ChatMember: ``creator``, ``administrator``, ``member``, ``left`` or ``kicked``."""
    member: JSON = {"status": status, "user": user_json(user_id)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member |= dict.fromkeys(_ADMIN_RIGHTS, False) | {"can_manage_chat": True}
    elif status == "kicked":
        member["until_date"] = 0
    return member


def default_chat(chat_id: Any) -> JSON:
    """A Chat for an id never seen in an update: positive private, ``-100…`` supergroup."""
    if isinstance(chat_id, int) and chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id if isinstance(chat_id, int) else -1, "type": kind, "title": str(chat_id)}


def full_chat_json(chat: JSON) -> JSON:
    """A ChatFullInfo (getChat) with the fields PTB 22 requires."""
    gifts = dict.fromkeys(
        ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription"), False
    )
    return chat | {
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": gifts | {"gifts_from_channels": False},
    }


def decode_param(name: str, value: Any) -> Any:
    """PTB posts form fields; objects and lists arrive as JSON strings."""
    if not isinstance(value, str) or name in ("text", "caption", "description"):
        return value
    numeric = ("chat_id", "user_id", "offset", "limit", "message_id", "message_thread_id")
    if name in numeric and re.fullmatch(r"-?\d+", value):
        return int(value)
    if value[:1] in "[{" or value in ("true", "false"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
