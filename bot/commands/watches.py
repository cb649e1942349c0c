"""Watches: /watch, /watches, /unwatch.

A watch is words this chat wants to hear about: whenever a report brings new or changed items
that ``/search`` with those words would find, the chat gets one message listing them (see
:mod:`bot.store.watches`, which matches at ingest and queues the message in the outbox).
Changing a group's watches takes the same rights as its subscriptions.
"""

from __future__ import annotations

from bot.commands.core import Request, command, echo
from bot.commands.language import sender_language
from bot.i18n import N_
from bot.store.languages import record_setup
from bot.store.search import query_groups
from bot.store.watches import (
    MAX_PER_CHAT,
    MAX_WORDS,
    add_watch,
    chat_watches,
    remove_watches,
    watch_count,
)
from digests.cards import kind_name
from digests.items import Kind
from digests.message import BulletList, Context, Heading, Message, Span, command_span, spans

_ALL = ("all", "全部", "所有")


@command(
    "watch",
    usage=N_("/watch WORDS"),
    example="/watch DeepSeek",
    needs_arg=True,
    manages_chat=True,
    description=N_(
        "tell this chat when a new report has items a search for WORDS finds (a name, phrase, term)"
    ),
)
def watch_command(request: Request) -> Message:
    words = request.arg
    if len(words) > MAX_WORDS:
        return Message.text(
            request._("A watch takes at most {n} characters; “{value}” is longer.").format(
                n=MAX_WORDS, value=echo(words, 40)
            )
        )
    if not query_groups(words):
        return Message.text(
            request._(
                "“{value}” has no words to watch for. Give a name, a phrase or a term, e.g. {a} "
                "or {b}"
            ).format(
                value=echo(words, 40),
                a=request.typed("/watch DeepSeek"),
                b=request.typed("/watch 长上下文"),
            )
        )
    services = request.services
    now = services.clock()
    with services.store.engine.begin() as conn:
        if watch_count(conn, request.platform, request.chat_id) >= MAX_PER_CHAT:
            return Message.text(
                request._(
                    "This chat has {n} watches, the most it may keep. Remove one with {unwatch} "
                    "({watches} lists them)."
                ).format(
                    n=MAX_PER_CHAT,
                    unwatch=request.typed(request._("/unwatch WORDS")),
                    watches=request.typed("/watches"),
                )
            )
        created = add_watch(
            conn,
            platform=request.platform,
            chat_id=request.chat_id,
            chat_kind=request.chat_kind,
            words=words,
            language=request.words.language,
            created_by=f"{request.platform}:{request.user_id}",
            now=now,
        )
    language = sender_language(request)
    if created and language is not None:
        record_setup(
            services.store.engine,
            request.platform,
            request.chat_id,
            language,
            set_by=f"{request.platform}:{request.user_id}",
            now=now,
        )
    if not created:
        return Message.text(
            request._("This chat watches “{words}” already. /watches lists its watches.").format(
                words=echo(words)
            )
        )
    return Message(
        (
            Heading(request._("Watching “{words}”").format(words=echo(words))),
            Context(
                spans(
                    request._(
                        "When a report brings new or changed items that match, this chat gets "
                        "one message listing them. What matches today: "
                    ),
                    command_span(f"/search {words}"),
                    request._(" · stop: "),
                    command_span(f"/unwatch {words}"),
                )
            ),
        )
    )


@command(
    "watches",
    usage="/watches",
    example="/watches",
    description=N_("this chat's watches and what each matched last"),
)
def watches_command(request: Request) -> Message:
    with request.services.store.engine.connect() as conn:
        watches = chat_watches(conn, request.platform, request.chat_id)
    if not watches:
        return Message.text(
            request._("This chat watches nothing. Start with {watch}, e.g. {a} or {b}").format(
                watch=request.typed(request._("/watch WORDS")),
                a=request.typed("/watch DeepSeek"),
                b=request.typed("/watch 长上下文"),
            )
        )
    bullets = []
    for watch in watches:
        head = (Span(watch.words, code=True), Span(" — "))
        if watch.last_title is None:
            bullets.append((*head, Span(request._("nothing matched yet"))))
            continue
        told = request.ngettext("{n} item so far", "{n} items so far", watch.hits).format(
            n=request.words.number(watch.hits)
        )
        kind = kind_name(Kind(watch.last_kind), request.words) if watch.last_kind else ""
        last = request._("last: {title} ({kind}, {period}); {told}").format(
            title=watch.last_title, kind=kind, period=watch.last_period, told=told
        )
        bullets.append((*head, Span(last)))
    return Message(
        (
            Heading(request._("Watches in this chat")),
            BulletList(tuple(bullets)),
            Context(
                spans(
                    request._("Stop one with "),
                    Span(request._("/unwatch WORDS"), code=True),
                    request._(", or all with "),
                    Span("/unwatch all", code=True),
                )
            ),
        )
    )


@command(
    "unwatch",
    usage=N_("/unwatch WORDS|all"),
    example="/unwatch DeepSeek",
    needs_arg=True,
    manages_chat=True,
    description=N_("stop a watch in this chat"),
)
def unwatch_command(request: Request) -> Message:
    every = request.arg.casefold() in _ALL
    with request.services.store.engine.begin() as conn:
        removed = remove_watches(
            conn, request.platform, request.chat_id, None if every else request.arg
        )
        left = [] if removed else chat_watches(conn, request.platform, request.chat_id)
    if removed:
        return Message.text(
            request._("Stopped watching {watches}.").format(
                watches=request.words.join(f"“{w}”" for w in removed)
            )
        )
    if not left:
        return Message.text(
            request._("This chat watches nothing. Start with {watch}.").format(
                watch=request.typed(request._("/watch WORDS"))
            )
        )
    return Message.text(
        request._("This chat does not watch “{value}”. Its watches: {watches}.").format(
            value=echo(request.arg, 40), watches=request.words.join(w.words for w in left)
        )
    )
