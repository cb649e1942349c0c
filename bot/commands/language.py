"""The chat's language: the ``speak`` middleware that picks it, and ``/lang`` that sets it.

``speak`` runs before every other middleware, so refusals and apologies are translated too. It
reads the chat's setting (``bot/store/languages``) and puts the chosen
:class:`~bot.i18n.Translator` on the request (``request.words``); commands write through
``request._`` and ``request.ngettext``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from bot.commands.core import Request, command, echo
from bot.i18n import N_, negotiate, translator
from bot.store.languages import LanguageSetting, chat_language, choose_language, resolve
from digests.message import Message

log = logging.getLogger(__name__)

Next = Callable[[Request], Awaitable[Message | None]]

#: What people type for each choice of ``/lang``.
_CHOICES = {
    "zh": "zh",
    "cn": "zh",
    "zh-cn": "zh",
    "zh-hans": "zh",
    "chinese": "zh",
    "中文": "zh",
    "汉语": "zh",
    "简体中文": "zh",
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
    "auto": "auto",
    "自动": "auto",
}
_NAMES = {"zh": "中文", "en": "English"}


def sender_language(request: Request) -> str | None:
    """The sender's language as we speak it (from the platform's code), or None."""
    return negotiate(request.incoming.language if request.incoming else None)


def _setting(request: Request) -> LanguageSetting | None:
    with request.services.store.engine.connect() as conn:
        return chat_language(conn, request.platform, request.chat_id)


async def speak(request: Request, call_next: Next) -> Message | None:
    """Answer in the chat's language (see :func:`bot.store.languages.resolve`)."""
    try:
        setting = await asyncio.to_thread(_setting, request)
    except Exception:
        # An unreadable setting must not cost the answer: the sender's language will do.
        log.warning("chat language unavailable for %s:%s", request.platform, request.chat_id)
        setting = None
    language = resolve(setting, sender_language(request), request.services.language)
    return await call_next(dataclasses.replace(request, words=translator(language)))


def _describe(request: Request, setting: LanguageSetting | None) -> str:
    choice = setting.choice if setting is not None else "auto"
    current = _NAMES[request.words.language]
    if choice == "auto":
        return request._("This chat follows its people's language (auto): now {language}.").format(
            language=current
        )
    return request._("This chat is answered in {language}.").format(language=current)


@command(
    "lang",
    usage="/lang zh|en|auto",
    example="/lang zh",
    manages_chat=True,
    description=N_("the language I answer in here: 中文, English, or auto"),
)
def lang_command(request: Request) -> Message:
    services = request.services
    if not request.arg:
        return Message.text(
            _describe(request, _setting(request)),
            request._("Change it: {zh} (中文), {en} (English), {auto}.").format(
                zh=request.typed("/lang zh"),
                en=request.typed("/lang en"),
                auto=request.typed("/lang auto"),
            ),
        )
    word = request.arg.split()[0].lower()
    choice = _CHOICES.get(word)
    if choice is None:
        return Message.text(
            request._("“{value}” is not a language I speak. Use {zh}, {en} or {auto}.").format(
                value=echo(word, 20),
                zh=request.typed("/lang zh"),
                en=request.typed("/lang en"),
                auto=request.typed("/lang auto"),
            )
        )
    choose_language(
        services.store.engine,
        request.platform,
        request.chat_id,
        choice,
        setup_language=sender_language(request),
        set_by=f"{request.platform}:{request.user_id}",
        now=services.clock(),
    )
    setting = _setting(request)
    language = resolve(setting, sender_language(request), services.language)
    answered = dataclasses.replace(request, words=translator(language))
    return Message.text(_describe(answered, setting))
