"""Slack's HTTP-mode requests, checked before anything parses them.

In order: the body is read, at most :data:`MAX_BODY_BYTES` (413 past it); the ``v0`` signature
over the raw bytes, with a timestamp within :data:`TOLERANCE_SECONDS` (401 otherwise, also for a
missing or non-numeric timestamp); then the body must be UTF-8 and either a JSON object at most
:data:`MAX_DEPTH` levels deep or a form with a ``command`` or a JSON-object ``payload``, whose
fields that Bolt and the listeners read have the types they expect (:data:`_BODY`); else 400.
Each kind of refusal is logged at most once a minute (:class:`channels.refusals.RefusalLog`), so
a flood cannot fill the log. The parsed object is what Bolt routes: it never parses the body itself.

Slack never retries a slash command, so the same signed request twice is a replay:
:func:`request_delivery_id` names it for the gateway's dedup. Events are named by their
``event_id``, or by their envelope when it has none (:func:`event_delivery_id`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from channels.jsonbody import MAX_DEPTH, json_object
from channels.refusals import Refusal

log = logging.getLogger(__name__)

#: Slack's own payloads are far smaller; the cap stops a signed but huge body early.
MAX_BODY_BYTES = 1024 * 1024
MAX_FORM_FIELDS = 200
TOLERANCE_SECONDS = 300
#: The key of :func:`request_delivery_id` in Bolt's context, for the listeners.
DELIVERY_KEY = "digestbot_delivery_id"


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | Refusal:
    """The raw body, or a 413 refusal as soon as it is known to pass ``limit`` bytes."""
    too_large = Refusal(413, f"a body over {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        return too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return too_large
    return bytes(body)


def check_signature(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> Refusal | None:
    """None when ``X-Slack-Signature`` is ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``
    and ``X-Slack-Request-Timestamp`` is within five minutes of ``now``."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not secret:
        return Refusal(401, "no signing secret set (DIGESTBOT_SLACK_SIGNING_SECRET)")
    if not signature:
        return Refusal(401, "no signature")
    # isdigit alone takes "²" and other digits int() refuses; Slack sends plain seconds.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return Refusal(401, "a missing or non-numeric timestamp")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return Refusal(401, "a stale timestamp")
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    expected = b"v0=" + digest.hexdigest().encode()
    # Header values may hold undecodable bytes (aiohttp keeps them as surrogates).
    if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
        return Refusal(401, "a bad signature")
    return None


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any] | Refusal:
    """The object Bolt routes, or a 400 refusal: a JSON object, a form's JSON ``payload``, or a
    form's fields (a slash command).

    JSON when the content type says so or the body starts with ``{``, as Bolt decides.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "a body that is not UTF-8")
    if (content_type or "").split(";")[0] == "application/json" or text.startswith("{"):
        return _json_object(text)
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
    except ValueError:
        return Refusal(400, f"a form of over {MAX_FORM_FIELDS} fields")
    if "payload" in fields:
        payload = _json_object(fields["payload"])
        if isinstance(payload, Refusal):
            return Refusal(400, f"{payload.kind} in a form payload")
        return payload
    if not (fields.get("command") or fields.get("ssl_check")):
        return Refusal(400, "a form without command or payload")
    if not _is_url(fields.get("response_url")):
        return Refusal(400, "a form whose response_url is not an http(s) URL")
    return fields


def _is_url(value: Any) -> bool:
    """Absent, or a URL the SDK can post an answer to."""
    return value is None or (isinstance(value, str) and value.startswith(("https://", "http://")))


def _json_object(text: str) -> dict[str, Any] | Refusal:
    try:
        value = json_object(text, MAX_DEPTH)
    except ValueError as exc:
        return Refusal(400, str(exc))
    if value.get("type") == "block_actions" and not _first_action_id(value.get("actions")):
        return Refusal(400, "block_actions without an action_id")  # Bolt reads actions[0]
    misshapen = _misshapen(value, _BODY, "")
    return value if misshapen is None else Refusal(400, f"a misshapen field {misshapen}")


def _first_action_id(actions: Any) -> bool:
    first = actions[0] if isinstance(actions, list) and actions else None
    return isinstance(first, dict) and isinstance(first.get("action_id"), str)


class _Id:
    """A string, or an object whose ``id`` is one (``user``, ``channel``, ``team``)."""


class _Url:
    """An ``http(s)://`` URL (the bot posts answers to it, or downloads from it)."""


#: The fields Bolt's routing and our listeners read, and their JSON types: ``str``, :class:`_Id`,
#: :class:`_Url`, an object (a dict of its fields) or a list of such objects (a one-element
#: list). Null stands for absent, but in :data:`_NOT_NULL`; other fields may hold anything.
_Shape = type | dict[str, Any] | list[dict[str, Any]]
_PLACE: dict[str, _Shape] = {
    "user": _Id,
    "channel": _Id,
    "team": _Id,
    "enterprise": _Id,
    "ts": str,
    "thread_ts": str,
}
_EVENT: dict[str, _Shape] = _PLACE | {
    "type": str,
    "subtype": str,
    "text": str,
    "event_ts": str,
    "channel_type": str,
    "bot_id": str,
    "user_team": str,
    "files": [{"id": str, "name": str, "url_private_download": _Url}],
    "message": _PLACE,
    "previous_message": _PLACE,
    "item": _PLACE,
    "assistant_thread": _PLACE,
    "function": {"callback_id": str},
}
_BODY: dict[str, _Shape] = _PLACE | {
    "type": str,
    "action_id": str,
    "event": _EVENT,
    "event_id": str,
    "team_id": str,
    "challenge": str,
    "callback_id": str,
    "response_url": _Url,
    "authorizations": [{"team_id": str, "enterprise_id": str, "user_id": str}],
    "actions": [{"action_id": str, "block_id": str, "value": str, "type": str}],
    "view": {"callback_id": str, "type": str},
    "container": {"type": str, "channel_id": str, "thread_ts": str, "message_ts": str},
    "message": _PLACE,
    "previous_message": _PLACE,
    "response_urls": [{"response_url": _Url}],
    "function_data": {"execution_id": str},
}


#: What Bolt matches on or reads without a check (``body.get("event", {}).get("type")``), and
#: the download URL of a shared file.
_NOT_NULL = frozenset(
    {"type", "action_id", "callback_id", "event", "actions", "view", "url_private_download"}
)


def _misshapen(value: Any, shape: _Shape, path: str) -> str | None:
    """The path of the first field in ``value`` that is not of its ``shape``, else None."""
    if value is None:
        return path if path.rpartition(".")[2] in _NOT_NULL else None
    if shape is _Id:
        shape = str if isinstance(value, str) else {"id": str}
    if shape is _Url:
        return None if _is_url(value) else path
    if shape is str:
        return None if isinstance(value, str) else path
    if isinstance(shape, list):
        if not isinstance(value, list):
            return path
        for item in value:
            found = f"{path}[]" if item is None else _misshapen(item, shape[0], f"{path}[]")
            if found is not None:
                return found
        return None
    if not isinstance(value, dict) or not isinstance(shape, dict):
        return path
    for key, inner in shape.items():
        if key in value:
            found = _misshapen(value[key], inner, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    return None


def request_delivery_id(headers: Mapping[str, str], body: bytes) -> str:
    """The id of one signed request: the same timestamp and body again is a replay."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "").encode()
    return "slack-signed:" + hashlib.sha256(timestamp + b":" + body).hexdigest()


def event_delivery_id(body: Mapping[str, Any]) -> str | None:
    """Slack retries an event it thinks was not acknowledged, with the same ``event_id``; an
    envelope without one is named by team, event type, channel and the event's time."""
    event_id = body.get("event_id")
    if event_id:
        return f"slack:{event_id}"
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    stamp = event.get("event_ts") or event.get("ts")
    if stamp:
        parts = (body.get("team_id"), event.get("type"), event.get("channel"), stamp)
        return "slack:envelope:" + ":".join(str(p or "") for p in parts)
    canonical = json.dumps([body.get("team_id"), event], sort_keys=True, separators=(",", ":"))
    return "slack:envelope:" + hashlib.sha256(canonical.encode()).hexdigest()
