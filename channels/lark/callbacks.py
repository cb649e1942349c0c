"""The HTTP event callback: refuse stale or unsigned requests, then let the SDK's dispatcher check
the verification token, decrypt, check the signature and call the registered handlers.

Feishu signs with ``sha256(timestamp + nonce + encrypt_key + body)`` in ``X-Lark-Signature``;
the SDK does not look at the timestamp's age, so a captured request could be replayed: anything
more than ``max_age`` seconds off is refused here, before the SDK sees it.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from channels.lark.sdk import lark

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"


async def answer_callback(
    dispatcher: lark.EventDispatcherHandler,
    request: web.Request,
    *,
    encrypt_key: str,
    max_age: float,
) -> web.Response:
    """The answer to one callback request: 200 when handled (or ignored), 401 when refused."""
    body = await request.read()
    headers = {
        name: request.headers[name]
        for name in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
        if name in request.headers
    }
    if encrypt_key and len(headers) < 3:
        return web.json_response({"msg": "unsigned request"}, status=401)
    stamp = headers.get(TIMESTAMP_HEADER)
    if stamp is not None:
        try:
            age = abs(time.time() - float(stamp))
        except ValueError:
            return web.json_response({"msg": "bad timestamp"}, status=400)
        if age > max_age:
            return web.json_response({"msg": "stale request"}, status=401)
    raw = lark.RawRequest()
    raw.uri = request.path
    raw.headers = headers
    raw.body = body
    # Decrypts, checks token and signature, answers url_verification, calls our handlers.
    answer = dispatcher.do(raw)
    content = bytes(answer.content or b"{}")
    if answer.status_code == 200:
        return web.Response(body=content, content_type="application/json")
    reason = _message_of(content)
    if reason.startswith("processor not found"):
        return web.json_response({"msg": "ignored"})  # an event we do not subscribe to
    return web.json_response({"msg": reason or "refused"}, status=401)


def _message_of(content: bytes) -> str:
    try:
        data = json.loads(content)
    except ValueError:
        return ""
    return str(data.get("msg", "")) if isinstance(data, dict) else ""
