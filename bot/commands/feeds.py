"""``/feeds``: a person's own feed links, which never expire until revoked.

``/feeds`` in a direct chat gives the person their links (everything, each theme, and the OPML of
every theme's feed), all carrying their personal token (``bot/store/webtokens``); asking again
gives the same links. ``/feeds revoke`` stops them. Bot admins list every token with ``/feeds
tokens`` and revoke anyone's with ``/feeds revoke TOKEN-ID``. With public access the links carry
no token at all.
"""

from __future__ import annotations

from bot.commands.core import Request, command, direct_kinds, echo
from bot.i18n import N_
from bot.store.feeds import feed_themes
from bot.store.webtokens import FeedToken, all_tokens, find_token, person_token, revoke_person
from bot.store.webtokens import revoke_token as drop_token
from bot.web.links import PREFIX, WebLinks, feed_path
from digests.cards import theme_label
from digests.message import BulletList, Context, Heading, Message, Paragraph, Span, spans

#: Where the OPML of every theme's feed is (``bot/web/app`` serves it).
OPML_PATH = f"{PREFIX}/feeds/themes.opml"


@command(
    "feeds",
    usage=N_("/feeds [revoke]"),
    example="/feeds",
    description=N_("your own feed links for a feed reader (they do not expire)"),
)
def feeds_command(request: Request) -> Message:
    web = request.services.web
    if web is None:
        return Message.text(
            request._("This bot has no web pages or feeds (the admins can turn them on).")
        )
    words = request.arg.split()
    action = words[0].lower() if words else ""
    if action == "tokens":
        return _list_tokens(request)
    if action == "revoke":
        return _revoke(request, words[1] if len(words) > 1 else None)
    if action:
        return Message.text(
            request._("“{arg}” is not something /feeds does. Try /feeds or /feeds revoke.").format(
                arg=echo(request.arg, 30)
            )
        )
    if web.signed and request.chat_kind not in direct_kinds():
        return Message.text(
            request._(
                "Your feed links are personal: send /feeds to me in a direct chat and I answer there."
            )
        )
    return _links(request, web)


def _links(request: Request, web: WebLinks) -> Message:
    store = request.services.store
    now = request.services.clock()
    with store.engine.begin() as conn:
        token = person_token(conn, request.platform, request.user_id, now) if web.signed else None
        themes = feed_themes(conn)
    value = web.token_value(token.id) if token is not None else None

    def url(path: str) -> str:
        return web.url(path, token=value)

    bullets = [
        (
            Span(request._("Everything")),
            Span(": "),
            Span(request._("Atom"), url=url(feed_path(None, "atom"))),
            Span(" · "),
            Span(request._("RSS"), url=url(feed_path(None, "rss"))),
        ),
        (
            Span(
                request._("Every theme's feed at once (OPML, for a feed reader's import)"),
                url=url(OPML_PATH),
            ),
        ),
        *(
            (
                Span(theme_label(title, request.words)),
                Span(": "),
                Span(request._("Atom"), url=url(feed_path(slug, "atom"))),
                Span(" · "),
                Span(request._("RSS"), url=url(feed_path(slug, "rss"))),
            )
            for slug, title in themes
        ),
    ]
    blocks: list[Heading | Paragraph | BulletList | Context] = [
        Heading(request._("Your feeds")),
        BulletList(tuple(bullets)),
    ]
    if token is not None:
        blocks.append(
            Context(
                spans(
                    request._(
                        "These links are yours and do not expire; they also open the pages. "
                        "Keep them to yourself. To stop them: "
                    ),
                    Span("/feeds revoke", code=True),
                )
            )
        )
    return Message(tuple(blocks))


def _revoke(request: Request, token_id: str | None) -> Message:
    store = request.services.store
    with store.engine.begin() as conn:
        if token_id is None:
            n = revoke_person(conn, request.platform, request.user_id)
            if not n:
                return Message.text(request._("You have no feed link to revoke."))
            return Message.text(
                request._("Your feed link no longer works. /feeds gives you a new one.")
            )
        token = find_token(conn, token_id)
        mine = token is not None and (token.platform, token.user_id) == (
            request.platform,
            request.user_id,
        )
        if not (mine or request.is_bot_admin):
            return Message.text(
                request._(
                    "Only bot admins revoke other people's links; /feeds revoke stops your own."
                )
            )
        if token is None:
            return Message.text(
                request._("No feed link has the id “{id}”. /feeds tokens lists them.").format(
                    id=echo(token_id, 20)
                )
            )
        drop_token(conn, token.id)
    return Message.text(
        request._("Revoked the feed link {id} of {person}.").format(
            id=token.id, person=f"{token.platform}:{token.user_id}"
        )
    )


def _list_tokens(request: Request) -> Message:
    if not request.is_bot_admin:
        return Message.text(request._("/feeds tokens is for bot admins only."), notice=True)
    with request.services.store.engine.connect() as conn:
        tokens = all_tokens(conn)
    if not tokens:
        return Message.text(request._("Nobody has a personal feed link."))
    return Message(
        (
            Heading(request._("Personal feed links")),
            BulletList(tuple(_token_line(request, t) for t in tokens)),
            Context(spans(request._("Revoke one: "), Span("/feeds revoke TOKEN-ID", code=True))),
        )
    )


def _token_line(request: Request, token: FeedToken) -> tuple[Span, ...]:
    used = (
        request._("last used {date}").format(date=token.last_used_at.strftime("%Y-%m-%d"))
        if token.last_used_at is not None
        else request._("never used")
    )
    made = request._("made {date}").format(date=token.created_at.strftime("%Y-%m-%d"))
    return (
        Span(token.id, code=True),
        Span(f" — {token.platform}:{token.user_id}, {made}, {used}"),
    )
