"""A fake Telegram Bot API server for python-telegram-bot to talk to.

Point PTB at it with ``ApplicationBuilder().base_url(fake.base_url).base_file_url(
fake.base_file_url)``. Tests feed updates with :meth:`FakeTelegram.user_message` /
:meth:`FakeTelegram.document_message` / :meth:`FakeTelegram.push_update`, read what the bot
sent in :attr:`FakeTelegram.sent`, and inject failures with :meth:`FakeTelegram.fail_next`.

As a subprocess: ``python -m tests.fakes.telegram --port 0 --rate 30`` prints ``{"port": N}``;
``GET /_stats`` returns counters, ``POST /_update`` queues an update, ``POST /_reset`` clears.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import (
    JSON,
    FakeServer,
    Fault,
    Faults,
    Stats,
    TokenBucket,
    answer_taken,
    read_params,
    serve_until_signalled,
)
from tests.fakes.telegram_objects import (
    BOT_USER,
    MAX_TEXT,
    EntityError,
    decode_param,
    default_chat,
    full_chat_json,
    member_json,
    parse_html,
    utf16_len,
)

DEFAULT_TOKEN = "4242:fake-telegram-token"
MAX_DOWNLOAD = 20 * 1024 * 1024


class _Reject(Exception):
    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


@dataclass(frozen=True)
class Sent:
    """One accepted sendMessage call."""

    chat_id: int | str
    text: str
    parse_mode: str | None
    options: JSON
    message_id: int
    plain: str
    #: When it was accepted (``time.monotonic``), to check the spacing of a reply's parts.
    at: float = 0.0


class FakeTelegram(FakeServer):
    """The Bot API at ``{url}/bot{token}/{method}``, files at ``{url}/file/bot{token}/{path}``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float | None = None,
        per_chat_rate: float | None = None,
        paid_rate: float | None = None,
        max_poll_wait: float = 0.5,
        dedup_key: Callable[[Sent], str] = lambda s: s.text,
    ) -> None:
        super().__init__(host, port)
        self.token = token
        self.bot_user = dict(BOT_USER, id=int(token.split(":")[0]) if token[:1].isdigit() else 4242)
        self.max_poll_wait = max_poll_wait
        self.dedup_key = dedup_key
        self.faults = Faults()
        self._rate = TokenBucket(rate) if rate else None
        # Messages with allow_paid_broadcast count against this limit instead of ``rate``.
        self._paid_rate = TokenBucket(paid_rate) if paid_rate else None
        self._per_chat_rate = per_chat_rate
        self._buckets: dict[str, TokenBucket] = {}
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        """Forget everything sent, queued and injected (the bot identity stays)."""
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, JSON]] = []
        #: The file paths downloaded, in order (after their bytes were handed out).
        self.downloads: list[str] = []
        self.commands: list[JSON] = []
        self.localized_commands: dict[str, list[JSON]] = {}
        self.webhook: JSON = {}
        self.stats = Stats()
        # Keyed by chat_id as PTB sends it: an int, or a str such as "@channel".
        self.chats: dict[Any, JSON] = {}
        self.members: dict[tuple[Any, int], str] = {}
        self.gone: dict[Any, str] = {}
        self.migrated: dict[Any, int] = {}
        self.deleted_topics: set[tuple[Any, int]] = set()
        self.answers: list[JSON] = []  # answerCallbackQuery calls
        self.inline_answers: list[JSON] = []  # answerInlineQuery calls
        self.edits: list[Sent] = []  # editMessageText calls, as the message became
        self.files: dict[str, tuple[str, bytes]] = {}
        #: Accepted messages sent with ``allow_paid_broadcast`` (Telegram charges Stars for them).
        self.paid = 0
        self.faults.clear()
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._new_update = asyncio.Event()

    # --- addresses for PTB ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # --- test helpers: updates ------------------------------------------------------------
    def push_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates; ``update_id`` is assigned when missing."""
        update = dict(update)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self._updates.append(update)
        self._new_update.set()
        return update

    def chat(self, chat_id: int, chat_type: str = "private", title: str = "") -> JSON:
        chat: JSON = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = title or f"User {chat_id}"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        self.chats[chat_id] = chat
        return chat

    def message_dict(
        self, chat_id: int, user_id: int | None, chat_type: str, **fields: Any
    ) -> JSON:
        """A Message object as Telegram would send it (without the update around it)."""
        msg: JSON = {"message_id": next(self._ids), "date": int(time.time())}
        msg["chat"] = self.chat(chat_id, chat_type)
        if chat_type == "channel":
            msg["sender_chat"] = msg["chat"]
        if user_id is not None and chat_type != "channel":
            msg["from"] = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        msg.update(fields)
        return msg

    def user_message(
        self, chat_id: int, user_id: int | None, text: str, chat_type: str = "private"
    ) -> JSON:
        """Queue a text message (a ``channel_post`` when ``chat_type`` is ``channel``)."""
        fields: JSON = {"text": text}
        if m := re.match(r"/\S+", text):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(m[0])}]
        key = "channel_post" if chat_type == "channel" else "message"
        return self.push_update({key: self.message_dict(chat_id, user_id, chat_type, **fields)})

    def topic_message(
        self, chat_id: int, user_id: int, text: str, thread_id: int, chat_type: str = "supergroup"
    ) -> JSON:
        """Queue a text message sent inside forum topic ``thread_id`` of a forum supergroup."""
        fields: JSON = {"text": text, "message_thread_id": thread_id, "is_topic_message": True}
        if m := re.match(r"/\S+", text):
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(m[0])}]
        update = self.push_update(
            {"message": self.message_dict(chat_id, user_id, chat_type, **fields)}
        )
        self.chats[chat_id]["is_forum"] = True
        return update

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """From now on sendMessage into that topic answers 400 "message thread not found"."""
        self.deleted_topics.add((chat_id, thread_id))

    def press(self, sent: Sent, user_id: int, data: str | None = None, label: str = "") -> JSON:
        """Queue a callback query: ``user_id`` pressed a button of the bot's message ``sent``.

        The button is the one labelled ``label`` (or carrying ``data`` as is, to forge one).
        """
        if data is None:
            data = next(b["callback_data"] for b in buttons_of(sent) if b["text"] == label)
        chat = self.chats.get(sent.chat_id) or default_chat(sent.chat_id)
        message: JSON = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": sent.plain,
        }
        if thread := sent.options.get("message_thread_id"):
            message |= {"message_thread_id": thread, "is_topic_message": True}
        query: JSON = {
            "id": f"cq{next(self._ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
            "message": message,
            "chat_instance": f"ci{sent.chat_id}",
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def inline_query(self, user_id: int, text: str, language: str | None = None) -> JSON:
        """Queue an inline query: ``user_id`` (whose app is in ``language``) typed ``@bot text``."""
        sender: JSON = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if language is not None:
            sender["language_code"] = language
        query: JSON = {
            "id": f"iq{next(self._ids)}",
            "from": sender,
            "query": text,
            "offset": "",
        }
        return self.push_update({"inline_query": query})

    def add_file(self, content: bytes, file_name: str = "file.bin") -> str:
        """Register a downloadable file and return its file_id."""
        file_id = f"FILE{len(self.files) + 1}"
        self.files[file_id] = (f"documents/{file_id.lower()}_{file_name}", content)
        return file_id

    def document_message(
        self,
        chat_id: int,
        user_id: int | None,
        file_name: str,
        content: bytes,
        *,
        file_size: int | None = None,
        chat_type: str = "private",
        mime_type: str = "text/markdown",
        caption: str | None = None,
    ) -> JSON:
        """Queue a message carrying a document whose bytes getFile + download return."""
        file_id = self.add_file(content, file_name)
        doc: JSON = {"file_id": file_id, "file_unique_id": f"U{file_id}", "file_name": file_name}
        doc |= {
            "mime_type": mime_type,
            "file_size": len(content) if file_size is None else file_size,
        }
        fields: JSON = {"document": doc} | ({"caption": caption} if caption else {})
        key = "channel_post" if chat_type == "channel" else "message"
        return self.push_update({key: self.message_dict(chat_id, user_id, chat_type, **fields)})

    # --- test helpers: chat state and faults ----------------------------------------------
    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """``creator``, ``administrator``, ``member`` or ``left`` for getChatMember."""
        self.members[(chat_id, user_id)] = status

    def chat_gone(
        self, chat_id: int | str, description: str = "bot was kicked from the group chat"
    ) -> None:
        """From now on sendMessage to ``chat_id`` answers 403 Forbidden."""
        self.gone[chat_id] = f"Forbidden: {description}"

    def migrate(self, chat_id: int | str, new_chat_id: int) -> None:
        """From now on sendMessage to ``chat_id`` answers 400 with migrate_to_chat_id."""
        self.migrated[chat_id] = new_chat_id

    def fail_next(
        self,
        method: str,
        status: int | None = 500,
        description: str = "Internal Server Error",
        parameters: JSON | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with this error (after ``delay``).

        ``status=None`` only delays, then answers normally (to provoke client timeouts).
        """
        self.faults.add(method, Fault(status, description, parameters, delay=delay, times=times))

    def deliver_then_answer(self, method: str, answer: JSON, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect, then answer 200 with ``answer``
        (an ``ok`` answer whose other fields a client may not read)."""
        self.faults.add(method, Fault(200, answer=answer, times=times, deliver=True))

    def deliver_then_garble(self, method: str, times: int = 1, delay: float = 0.0) -> None:
        """The next ``times`` calls of ``method`` take effect, then answer 200 with HTML (after
        ``delay``: longer than the client's timeout makes it a timeout after delivery)."""
        self.faults.add(
            method,
            Fault(200, "<html>Bad gateway, maybe</html>", delay=delay, times=times, deliver=True),
        )

    # --- the server -----------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_update", self._post_update)
        app.router.add_post("/_reset", self._reset)
        return app

    async def stop(self) -> None:
        self._new_update.set()  # wake long polls so shutdown is quick
        await super().stop()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_json() | {"sent": len(self.sent)})

    async def _post_update(self, request: web.Request) -> web.Response:
        return web.json_response(self.push_update(await request.json()))

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for path, content in self.files.values():
            if path == request.match_info["path"]:
                response = web.Response(body=content, content_type="application/octet-stream")
                await response.prepare(request)
                await response.write_eof()
                self.downloads.append(path)
                return response
        return web.Response(status=404)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = {k: decode_param(k, v) for k, v in (await read_params(request)).items()}
        self.calls.append((method, params))
        if method == "sendMessage":
            self.stats.receive(str(params.get("chat_id")))
        fault = self.faults.take(method)
        if fault is not None and fault.deliver:
            handler = getattr(self, f"_m_{method}")
            try:
                await handler(params)
            except _Reject as exc:  # not delivered (a 429, say): the rejection is the answer
                self._count_failure(method, exc.status)
                return _error(exc.status, exc.description, exc.parameters)
            return await answer_taken(request, fault)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                self._count_failure(method, fault.status)
                return _error(fault.status, fault.description, fault.parameters)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(params)
        except _Reject as exc:
            self._count_failure(method, exc.status)
            return _error(exc.status, exc.description, exc.parameters)
        return web.json_response({"ok": True, "result": result})

    def _count_failure(self, method: str, status: int) -> None:
        if method == "sendMessage":
            self.stats.fail(status)

    # --- methods --------------------------------------------------------------------------
    async def _m_getMe(self, p: JSON) -> JSON:
        return self.bot_user

    async def _m_close(self, p: JSON) -> bool:
        return True

    _m_logOut = _m_close

    async def _m_setMyCommands(self, p: JSON) -> bool:
        language = p.get("language_code")
        if language:
            self.localized_commands[str(language)] = list(p.get("commands") or [])
            return True
        self.commands = list(p.get("commands") or [])
        return True

    async def _m_deleteWebhook(self, p: JSON) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {}
        return True

    async def _m_setWebhook(self, p: JSON) -> bool:
        self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token")}
        return True

    async def _m_getUpdates(self, p: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise _Reject(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(p.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            timeout = min(float(p.get("timeout") or 0), self.max_poll_wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return self._updates[: int(p.get("limit") or 100)]

    async def _m_sendMessage(self, p: JSON) -> JSON:
        chat_id = p.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _Reject(400, "Bad Request: chat_id is empty")
        if chat_id in self.migrated:
            raise _Reject(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id in self.gone:
            raise _Reject(403, self.gone[chat_id])
        if (chat_id, p.get("message_thread_id")) in self.deleted_topics:
            raise _Reject(400, "Bad Request: message thread not found")
        _check_keyboard(p.get("reply_markup"))
        text = str(p.get("text", ""))
        parse_mode = p.get("parse_mode")
        try:
            plain = parse_html(text) if str(parse_mode).upper() == "HTML" else text
        except EntityError as exc:
            raise _Reject(400, f"Bad Request: can't parse entities: {exc}") from exc
        if not plain.strip():
            raise _Reject(400, "Bad Request: message text is empty")
        if utf16_len(plain.strip()) > MAX_TEXT:
            raise _Reject(400, "Bad Request: message is too long")
        paid = p.get("allow_paid_broadcast") is True
        self._enforce_rate(str(chat_id), paid)
        self.paid += paid
        options = {k: v for k, v in p.items() if k not in ("chat_id", "text", "parse_mode")}
        sent = Sent(chat_id, text, parse_mode, options, next(self._ids), plain, at=time.monotonic())
        self.sent.append(sent)
        self.stats.accept(str(chat_id), self.dedup_key(sent))
        chat = self.chats.get(chat_id) or default_chat(chat_id)
        return {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "text": plain,
        }

    def _enforce_rate(self, chat_key: str, paid: bool = False) -> None:
        bucket = self._paid_rate if paid and self._paid_rate else self._rate
        waits = [bucket.take()] if bucket else []
        if self._per_chat_rate:
            bucket = self._buckets.setdefault(chat_key, TokenBucket(self._per_chat_rate))
            waits.append(bucket.take())
        if wait := max(waits, default=0.0):
            retry_after = TokenBucket.whole_seconds(wait)
            raise _Reject(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    async def _m_answerCallbackQuery(self, p: JSON) -> bool:
        if len(str(p.get("text") or "")) > 200:
            raise _Reject(400, "Bad Request: MESSAGE_TOO_LONG")
        self.answers.append(p)
        return True

    async def _m_answerInlineQuery(self, p: JSON) -> bool:
        results = p.get("results") or []
        if len(results) > 50:
            raise _Reject(400, "Bad Request: RESULTS_TOO_MUCH")
        for result in results:
            content = result.get("input_message_content") or {}
            try:
                parse_html(str(content.get("message_text", "")))
            except EntityError as exc:
                raise _Reject(400, f"Bad Request: can't parse entities: {exc}") from exc
        self.inline_answers.append(p)
        return True

    async def _m_editMessageText(self, p: JSON) -> JSON:
        chat_id, message_id = p.get("chat_id"), p.get("message_id")
        index = next(
            (
                n
                for n, s in enumerate(self.sent)
                if s.chat_id == chat_id and s.message_id == message_id
            ),
            None,
        )
        if index is None:
            raise _Reject(400, "Bad Request: message to edit not found")
        text = str(p.get("text", ""))
        try:
            plain = parse_html(text) if str(p.get("parse_mode")).upper() == "HTML" else text
        except EntityError as exc:
            raise _Reject(400, f"Bad Request: can't parse entities: {exc}") from exc
        _check_keyboard(p.get("reply_markup"))
        old = self.sent[index]
        options = {k: v for k, v in p.items() if k not in ("chat_id", "text", "parse_mode")}
        if plain == old.plain and options.get("reply_markup") == old.options.get("reply_markup"):
            raise _Reject(400, "Bad Request: message is not modified")
        # An edit without reply_markup removes the keyboard, as Telegram's does.
        kept = {k: v for k, v in old.options.items() if k != "reply_markup"}
        new = Sent(chat_id, text, p.get("parse_mode"), kept | options, message_id, plain)
        self.sent[index] = new
        self.edits.append(new)
        chat = self.chats.get(chat_id) or default_chat(chat_id)
        return {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": plain}

    async def _m_getChatMember(self, p: JSON) -> JSON:
        chat_id = p.get("chat_id")
        user_id = int(p["user_id"])
        return member_json(user_id, self.members.get((chat_id, user_id), "member"))

    async def _m_getChatAdministrators(self, p: JSON) -> list[JSON]:
        chat_id = p.get("chat_id")
        admins = [
            u
            for (c, u), s in self.members.items()
            if c == chat_id and s in ("creator", "administrator")
        ]
        return [member_json(u, self.members[(chat_id, u)]) for u in admins]

    async def _m_getChat(self, p: JSON) -> JSON:
        chat_id = p.get("chat_id")
        if chat_id in self.gone:
            raise _Reject(400, "Bad Request: chat not found")
        return full_chat_json(self.chats.get(chat_id) or default_chat(chat_id))

    async def _m_getFile(self, p: JSON) -> JSON:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            raise _Reject(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        if len(content) > MAX_DOWNLOAD:
            raise _Reject(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(content),
            "file_path": path,
        }


def buttons_of(sent: Sent) -> list[JSON]:
    """The inline keyboard buttons of a sent message, row after row."""
    markup = sent.options.get("reply_markup") or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def _check_keyboard(markup: Any) -> None:
    """Reject keyboards Telegram rejects: callback_data of 1 to 64 bytes, a text on each."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _Reject(400, "Bad Request: BUTTON_DATA_INVALID")
            if not str(button.get("text") or "").strip():
                raise _Reject(400, "Bad Request: text buttons are unallowed in the inline keyboard")


def _error(status: int, description: str, parameters: JSON | None = None) -> web.Response:
    body: JSON = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--rate", type=float, default=None, help="messages/s across all chats")
    parser.add_argument("--per-chat-rate", type=float, default=None, help="messages/s per chat")
    parser.add_argument("--paid-rate", type=float, default=None, help="paid messages/s")
    args = parser.parse_args(argv)
    fake = FakeTelegram(
        args.token,
        host=args.host,
        port=args.port,
        rate=args.rate,
        per_chat_rate=args.per_chat_rate,
        paid_rate=args.paid_rate,
    )
    asyncio.run(serve_until_signalled(fake))


if __name__ == "__main__":
    main()
