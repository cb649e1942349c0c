"""The HTTP event callback: our own checks on every request, then lark-oapi's dispatcher.

With an encrypt key, Feishu signs every event with ``sha256(timestamp + nonce + encrypt_key +
body)`` in ``X-Lark-Signature`` (with ``X-Lark-Request-Timestamp`` and ``X-Lark-Request-Nonce``).
Such a request is checked here, before anything parses its body: the timestamp must be plain
seconds within ``max_age`` of now (the SDK does not look at its age, so a captured request could
be replayed) and the signature must match. Only then is the body read as JSON and handed to the
dispatcher, which decrypts it, checks the verification token and calls our handlers.

The one request Feishu does not sign is the ``url_verification`` challenge it posts when the
callback URL is saved. Without the three headers, a request is answered only if it is that
challenge: encrypted with the encrypt key (AES-256-CBC, key ``sha256(encrypt_key)``) and carrying
the verification token; its answer is its ``challenge`` string and nothing else happens. Without
an encrypt key Feishu signs nothing, and the verification token in the body is the only check.

A card button's press (``card.action.trigger``) is signed and checked the same way; its answer
(a toast, or the updated card) is what :class:`~channels.lark.presses.CardPresses` has for it
within its ``answer_within`` seconds.

Refusals answer a short 4xx naming their kind (never an internal error's text) and are logged
once a minute per kind (:class:`channels.refusals.RefusalLog`), never with a traceback. The SDK
logs every request it refuses with a traceback (``logger.exception``); while our call to it runs,
those records are taken off its logger (:class:`_TakeSdkErrors`) and turned into a refusal here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from contextvars import ContextVar
from logging import ERROR, Filter, LogRecord, getLogger

from aiohttp import web
from lark_oapi.core.exception import AccessDeniedException, EventException, NoAuthorizationException
from lark_oapi.core.utils import AESCipher

from channels.jsonbody import json_object
from channels.lark.presses import CardPresses, collecting
from channels.lark.sdk import lark, sdk_log
from channels.refusals import Refusal, RefusalLog

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
URL_VERIFICATION = "url_verification"

log = getLogger(__name__)

#: The errors the SDK logged during the dispatcher call in progress (None: no call here).
_taken: ContextVar[list[BaseException | None] | None] = ContextVar("lark_sdk_errors", default=None)


class _TakeSdkErrors(Filter):
    """Drops the SDK's ERROR records logged inside :meth:`CallbackRoute._dispatch`, keeping their
    exceptions."""

    def filter(self, record: LogRecord) -> bool:
        taken = _taken.get()
        if taken is None or record.levelno < ERROR:
            return True
        taken.append(record.exc_info[1] if record.exc_info else None)
        return False


sdk_log.logger.addFilter(_TakeSdkErrors())


class CallbackRoute:
    """Answers the requests posted to the event callback URL (see the module's docstring)."""

    def __init__(
        self,
        dispatcher: lark.EventDispatcherHandler,
        *,
        encrypt_key: str,
        verification_token: str,
        max_age: float,
        presses: CardPresses | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._presses = presses
        self._encrypt_key = encrypt_key
        self._token = verification_token
        self._max_age = max_age
        self.refusals = RefusalLog("lark", log)

    async def answer(self, request: web.Request) -> web.Response:
        """200 when handled (or ignored), else a short 4xx naming why."""
        # read() refuses a body over the app's client_max_size (aiohttp's 1 MiB) with a 413.
        body = await request.read()
        headers = {
            name: request.headers[name]
            for name in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
            if name in request.headers
        }
        with collecting() as presses:
            answer = self._answer(request.path, headers, body)
        if isinstance(answer, Refusal):
            self.refusals.refused(answer)
            return web.json_response({"msg": f"refused: {answer.kind}"}, status=answer.status)
        if presses and self._presses is not None:
            pressed = await self._presses.answer(presses)
            if pressed is not None:
                return web.Response(
                    body=json.dumps(pressed, ensure_ascii=False).encode(),
                    content_type="application/json",
                )
        return answer

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> web.Response | Refusal:
        if self._encrypt_key:
            if len(headers) < 3:
                return self._challenge(body)
            refusal = signature_refusal(headers, body, self._encrypt_key, self._max_age)
        else:
            refusal = _stale(headers.get(TIMESTAMP_HEADER), self._max_age)
        if refusal is not None:
            return refusal
        outer = _object(body)
        if isinstance(outer, Refusal):
            return outer
        return self._dispatch(path, headers, body)

    def _challenge(self, body: bytes) -> web.Response | Refusal:
        """The answer to an unsigned request: only the encrypted URL-verification challenge."""
        outer = _object(body)
        if isinstance(outer, Refusal):
            return outer
        encrypted = outer.get("encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            return Refusal(401, "an unsigned request")
        try:
            plaintext = AESCipher(self._encrypt_key).decrypt_str(encrypted)
        except ValueError:  # bad base64, length or padding, or not UTF-8 once decrypted
            return Refusal(401, "an unsigned body that does not decrypt with the encrypt key")
        try:
            inner = json_object(plaintext)
        except ValueError as exc:
            return Refusal(400, f"an unsigned body that decrypts to {exc}")
        if inner.get("type") != URL_VERIFICATION:
            return Refusal(401, "an unsigned request that is not the URL-verification challenge")
        token = inner.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), self._token.encode()
        ):
            return Refusal(401, "a URL-verification challenge with a wrong verification token")
        challenge = inner.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            return Refusal(400, "a URL-verification challenge without its challenge")
        return web.json_response({"challenge": challenge})

    def _dispatch(self, path: str, headers: dict[str, str], body: bytes) -> web.Response | Refusal:
        """The dispatcher's answer: it decrypts, checks the token (and again the signature),
        answers a signed challenge and calls our handlers; what it refuses becomes a Refusal."""
        raw = lark.RawRequest()
        raw.uri = path
        raw.headers = headers
        raw.body = body
        taken: list[BaseException | None] = []
        reset = _taken.set(taken)
        try:
            answer = self._dispatcher.do(raw)
        finally:
            _taken.reset(reset)
        if answer.status_code == 200:
            content = bytes(answer.content or b"{}")
            return web.Response(body=content, content_type="application/json")
        error = taken[0] if taken else None
        if isinstance(error, EventException) and error.msg.startswith("processor not found"):
            return web.json_response({"msg": "ignored"})  # an event we do not subscribe to
        return _sdk_refusal(error)


def signature_refusal(
    headers: Mapping[str, str], body: bytes, encrypt_key: str, max_age: float
) -> Refusal | None:
    """None when the timestamp is fresh and ``X-Lark-Signature`` is Feishu's signature of
    ``body``: the hex sha256 of timestamp, nonce, encrypt key and the body's bytes."""
    stamp = headers.get(TIMESTAMP_HEADER, "")
    refusal = _stale(stamp, max_age)
    if refusal is not None:
        return refusal
    signed = (stamp + headers.get(NONCE_HEADER, "") + encrypt_key).encode(
        "utf-8",
        "surrogateescape",  # aiohttp keeps a header's non-UTF-8 bytes as surrogates
    )
    expected = hashlib.sha256(signed + body).hexdigest().encode()
    given = headers.get(SIGNATURE_HEADER, "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected, given):
        return Refusal(401, "a bad signature")
    return None


def _stale(stamp: str | None, max_age: float, now: float | None = None) -> Refusal | None:
    """None for no timestamp, or plain seconds within ``max_age`` of ``now``."""
    if stamp is None:
        return None
    # isdigit alone takes "²", which int() refuses; float() would take "nan", never stale.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return Refusal(401, "a non-numeric timestamp")
    if abs((time.time() if now is None else now) - int(stamp)) > max_age:
        return Refusal(401, "a stale timestamp")
    return None


def _object(body: bytes) -> dict[str, object] | Refusal:
    try:
        return json_object(body.decode("utf-8"))
    except UnicodeDecodeError:
        return Refusal(400, "a body that is not UTF-8")
    except ValueError as exc:
        return Refusal(400, f"a body of {exc}")


#: What the SDK's refusals mean, by exception and message.
_SDK_REFUSALS = {
    "invalid verification_token": Refusal(401, "a wrong verification token"),
    "signature verification failed": Refusal(401, "a bad signature"),
    "encrypt_key not found": Refusal(
        401, "an encrypted body while DIGESTBOT_LARK_ENCRYPT_KEY is not set"
    ),
}


def _sdk_refusal(error: BaseException | None) -> Refusal:
    if isinstance(error, AccessDeniedException | NoAuthorizationException):
        known = _SDK_REFUSALS.get(error.msg)
        if known is not None:
            return known
    name = type(error).__name__ if error is not None else "no reason given"
    return Refusal(400, f"an event the SDK could not read ({name})")


__all__ = ["CallbackRoute", "signature_refusal"]
