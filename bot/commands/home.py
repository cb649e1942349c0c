"""Pages that are not answers to a command: an app's home page, inline-mode results and the
short cards under links to the reports' items (Slack's unfurls)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from bot.commands.buttons import choices, item_buttons, label
from bot.commands.services import Services
from bot.i18n import Translator
from bot.platforms import typed, workspace_of
from bot.scheduling.weekly import Schedule, local_time
from bot.store.digests import known_themes
from bot.store.items import period_items
from bot.store.subscriptions import all_subscriptions
from channels.base import InlineResult
from digests import cards
from digests.items import Kind
from digests.message import (
    WEB_LINK_TEXT,
    Block,
    BulletList,
    Context,
    Heading,
    Message,
    Paragraph,
    Span,
)

#: Inline mode answers at most this many items (Telegram allows 50; ten fit a phone screen).
INLINE_RESULTS = 10
_HEADLINE_KINDS = (Kind.MODEL, Kind.TOPIC, Kind.INSIGHT)


def home_page(
    services: Services,
    platform: str,
    words: Translator,
    workspace: str | None = None,
    chats: Collection[str] | None = None,
) -> Message:
    """This platform's subscriptions with their next runs (only ``workspace``'s, where one
    gateway serves several, and only those of ``chats``, the conversations the person is in,
    when given: never another channel's or another person's), the newest report's headline
    items with their cards one press away, and a Preview button per theme, in ``words``'
    language."""
    _ = words.gettext
    store = services.store
    now = services.clock()
    with store.engine.connect() as conn:
        subs = [
            s
            for s in all_subscriptions(conn)
            if s.platform == platform
            and workspace_of(platform, s.chat_id) == workspace
            and (chats is None or s.chat_id in chats)
        ]
        themes = known_themes(conn)
    blocks: list[Block] = [Heading("digestbot")]
    if subs:
        blocks.append(Paragraph((Span(_("Subscriptions"), bold=True),)))
        blocks.append(
            BulletList(
                tuple(
                    (
                        Span(s.chat_id.removeprefix(f"{workspace}:"), code=True),
                        Span(
                            _(" — {theme} — next ").format(
                                theme=cards.theme_label(themes.get(s.theme, s.theme), words)
                            )
                        ),
                        Span(local_time(Schedule.of(s).next_run(now), words), bold=True),
                    )
                    for s in subs
                )
            )
        )
    else:
        blocks.append(
            Paragraph(
                (
                    Span(
                        _("No subscriptions yet: send {example} in a channel.").format(
                            example=typed(platform, "/subscribe clay", "channel")
                        )
                    ),
                )
            )
        )
    reports = store.reports()
    if reports:
        newest = reports[0]
        with store.engine.connect() as conn:
            items = period_items(conn, newest.period, _HEADLINE_KINDS, limit=8)
        blocks.append(
            Paragraph((Span(_("New in {period}").format(period=newest.period), bold=True),))
        )
        blocks.append(BulletList(tuple((Span(i.title, bold=True, url=i.url),) for i in items)))
        blocks.append(item_buttons(((i, cards.command_for(i)) for i in items), words))
    if themes:
        blocks.append(Paragraph((Span(_("Preview a digest"), bold=True),)))
        blocks.append(
            choices(
                (_("Preview: {theme}").format(theme=slug), f"/digest {slug}")
                for slug in sorted(themes)
            )
        )
    blocks.append(
        Context(
            (
                Span(
                    _("Everything else: {help}").format(help=typed(platform, "/help", "")),
                ),
            )
        )
    )
    return Message(tuple(blocks))


#: Links unfurled from one message at most (Slack sends every link of it in one event).
MAX_LINKS = 10


def link_cards(services: Services, urls: Sequence[str], words: Translator) -> dict[str, Message]:
    """The short card of the item each link leads to (its newest copy): the digest entry, with
    its kind, month and theme above and its web page below; links to nothing are left out."""
    out: dict[str, Message] = {}
    for url in list(dict.fromkeys(urls))[:MAX_LINKS]:
        found = services.finder.by_link(url)
        if not found:
            continue
        item = found[0].item.item
        theme = cards.theme_label(item.theme_title, words)
        meta = Context((Span(f"{cards.kind_name(item.kind, words)} · {item.period} · {theme}"),))
        web = services.web
        out[url] = Message(
            (meta, *cards.digest_entry(item, words=words)),
            web_url=web.item_url(item) if web is not None else None,
            web_label=words.gettext(WEB_LINK_TEXT),
        )
    return out


def inline_results(services: Services, text: str, words: Translator) -> list[InlineResult]:
    """The cards of up to :data:`INLINE_RESULTS` items matching ``text``, in ``words``'
    language."""
    hits = services.finder.search(text, limit=INLINE_RESULTS)
    results = []
    for hit in hits:
        item = hit.item
        description = " ".join(item.summary.split())
        results.append(
            InlineResult(
                id=str(hit.id),
                title=label(item.title, 100),
                description=label(
                    f"{cards.kind_name(item.kind, words)} · {item.period} · {description}", 200
                ),
                message=cards.card(item, words=words),
            )
        )
    return results
