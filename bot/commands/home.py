"""Pages that are not answers to a command: an app's home page and inline-mode results."""

from __future__ import annotations

from bot.commands.buttons import choices, label
from bot.commands.services import Services
from bot.i18n import Translator
from bot.scheduling.weekly import Schedule, local_time
from bot.store.digests import known_themes
from bot.store.items import period_items
from bot.store.subscriptions import all_subscriptions
from channels.base import InlineResult
from digests import cards
from digests.items import Kind
from digests.message import Block, BulletList, Context, Heading, Message, Paragraph, Span

#: Inline mode answers at most this many items (Telegram allows 50; ten fit a phone screen).
INLINE_RESULTS = 10
_HEADLINE_KINDS = (Kind.MODEL, Kind.TOPIC, Kind.INSIGHT)


def home_page(services: Services, platform: str, words: Translator) -> Message:
    """This platform's subscriptions with their next runs, the newest report's headline items
    with their cards one press away, and a Preview button per theme, in ``words``' language."""
    _ = words.gettext
    store = services.store
    now = services.clock()
    with store.engine.connect() as conn:
        subs = [s for s in all_subscriptions(conn) if s.platform == platform]
        themes = known_themes(conn)
    blocks: list[Block] = [Heading("digestbot")]
    if subs:
        blocks.append(Paragraph((Span(_("Subscriptions"), bold=True),)))
        blocks.append(
            BulletList(
                tuple(
                    (
                        Span(s.chat_id, code=True),
                        Span(_(" — {theme} — next ").format(theme=themes.get(s.theme, s.theme))),
                        Span(local_time(Schedule.of(s).next_run(now), words), bold=True),
                    )
                    for s in subs
                )
            )
        )
    else:
        blocks.append(
            Paragraph(
                (Span(_("No subscriptions yet: send /digestbot subscribe clay in a channel.")),)
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
        blocks.append(choices((i.title, cards.command_for(i)) for i in items))
    if themes:
        blocks.append(Paragraph((Span(_("Preview a digest"), bold=True),)))
        blocks.append(
            choices(
                (_("Preview: {theme}").format(theme=slug), f"/digest {slug}")
                for slug in sorted(themes)
            )
        )
    blocks.append(Context((Span(_("Everything else: /digestbot help")),)))
    return Message(tuple(blocks))


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
