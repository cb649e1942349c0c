"""/top: the items most liked with 👍 — across every chat, or this chat's alone when votes are
not shared (``DIGESTBOT_SHARE_VOTES=false``). Counts only: never who voted.

How a chat's own votes order its digests is :mod:`digests.taste` (used by
:func:`bot.store.digests.next_digest`).
"""

from __future__ import annotations

from bot.commands.core import Request, command, echo
from bot.commands.lookups import no_such_month
from bot.commands.subscribe_args import find_theme, theme_choices
from bot.i18n import N_
from bot.platforms import workspace_of
from bot.store.digests import known_themes
from bot.store.taste import most_liked
from digests.cards import command_for, kind_name
from digests.message import BulletList, Context, Heading, Message, Span, command_span, spans
from digests.periods import split_month


@command(
    "top",
    usage=N_("/top [THEME] [MONTH]"),
    example="/top clay 2026-02",
    description=N_("the items liked most with 👍 (of a theme, of a month)"),
)
def top_command(request: Request) -> Message:
    services = request.services
    rest, month = split_month(request.arg)
    if month is not None:
        missing = no_such_month(request, month)
        if missing is not None:
            return missing
    with services.store.engine.connect() as conn:
        themes = known_themes(conn)
        theme = None
        if rest:
            found = find_theme(rest.split(), themes)
            if found is None or found[1] != len(rest.split()):
                return Message.text(
                    request._("There is no theme “{value}”. {themes}").format(
                        value=echo(rest, 40), themes=theme_choices(themes, request.words)
                    ),
                    request._("Usage: {usage} — for example: {example}").format(
                        usage=request.typed(request._("/top [THEME] [MONTH]")),
                        example=request.typed("/top clay 2026-02"),
                    ),
                )
            theme = found[0]
        chat = None if services.share_votes else (request.platform, request.chat_id)
        # Shared votes are shared within a workspace, where one gateway serves several.
        where = workspace_of(request.platform, request.chat_id) if chat is None else None
        workspace = (request.platform, where) if where is not None else None
        liked = most_liked(conn, theme=theme, period=month, chat=chat, workspace=workspace)
    scope = [themes[theme]] if theme else []
    if month:
        scope.append(month)
    if workspace is not None:
        title = request._("Most liked across this workspace's chats")
    elif chat is None:
        title = request._("Most liked across all chats")
    else:
        title = request._("Most liked in this chat")
    if scope:
        title += " · " + " · ".join(scope)
    if not liked:
        if workspace is not None:
            empty = request._("Nothing has a 👍 yet in this workspace's chats.")
        elif chat is None:
            empty = request._("Nothing has a 👍 yet in any chat.")
        else:
            empty = request._("Nothing has a 👍 yet in this chat.")
        if scope:
            empty += f" ({' · '.join(scope)})"
        return Message.text(
            empty,
            request._("Vote with the 👍 / 👎 under each digest entry: {digest}.").format(
                digest=request.typed(request._("/digest THEME"))
            ),
        )
    bullets = tuple(
        (
            Span(f"👍 {request.words.number(hit.up)}", bold=True),
            Span(f" · 👎 {request.words.number(hit.down)} — " if hit.down else " — "),
            Span(hit.item.title, bold=True),
            Span(f" ({kind_name(hit.item.kind, request.words)}, {hit.item.period}) "),
            command_span(command_for(hit.item)),
        )
        for hit in liked
    )
    note = (
        request._("Counts only: who voted is never shown.")
        if chat is None
        else request._("This bot keeps each chat's votes to itself.")
    )
    return Message((Heading(title), BulletList(bullets), Context(spans(note))))
