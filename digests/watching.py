"""The message a chat gets when its watches matched items of a new or changed report. Pure.

One message per chat and ingest: a heading naming the watch (or watches) that matched, then each
item as a digest entry (with its Details, 👍 and 👎 buttons), under the words that found it when
the chat has several watches, and how to stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from digests.cards import command_for, digest_entry
from digests.items import Item
from digests.message import Block, Context, Divider, Heading, Message, Paragraph, Span, command_span
from digests.words import ENGLISH, Words

#: Entries shown whole; further matches are listed as commands.
ENTRIES = 8
#: Further matches listed by command; past that they are counted.
LISTED = 20


@dataclass(frozen=True)
class WatchHit:
    """An item (with its database id) and the chat's watches that matched it, as typed."""

    item_id: int
    item: Item
    watches: tuple[str, ...]


def watch_message(hits: Sequence[WatchHit], words: Words = ENGLISH) -> Message:
    """What a chat is told about ``hits`` (at least one), in ``words``'s language."""
    if not hits:
        raise ValueError("a watch message needs at least one item")
    matched = list(dict.fromkeys(w for hit in hits for w in hit.watches))
    quoted = words.join(f"“{w}”" for w in matched)
    heading = words.ngettext("Watch {watches}", "Watches {watches}", len(matched))
    periods = sorted({hit.item.period for hit in hits}, reverse=True)
    found = words.ngettext(
        "{n} new or changed item matches in the {period} report.",
        "{n} new or changed items match in the {period} report.",
        len(hits),
    ).format(n=words.number(len(hits)), period=words.join(periods))
    blocks: list[Block] = [
        Heading(heading.format(watches=quoted)),
        Paragraph((Span(found),)),
    ]
    for hit in hits[:ENTRIES]:
        blocks.append(Divider())
        entry = digest_entry(hit.item, item_id=hit.item_id, words=words)
        if len(matched) > 1:
            why = words.gettext("Matched {watches}").format(
                watches=words.join(f"“{w}”" for w in hit.watches)
            )
            entry = (*entry[:-1], Context((Span(why, italic=True),)), entry[-1])
        blocks.extend(entry)
    rest = hits[ENTRIES:]
    if rest:
        blocks.append(Divider())
        spans: list[Span] = [Span(words.gettext("Also matched: "))]
        for n, hit in enumerate(rest[:LISTED]):
            if n:
                spans.append(Span(words.join(("", ""))))
            spans.append(command_span(command_for(hit.item)))
        if len(rest) > LISTED:
            more = words.ngettext("{n} more", "{n} more", len(rest) - LISTED)
            spans.append(Span(" " + more.format(n=words.number(len(rest) - LISTED))))
        blocks.append(Context(tuple(spans)))
    stop: tuple[Span, ...] = ()
    if len(matched) == 1:
        stop = (Span(words.gettext("Stop: ")), command_span(f"/unwatch {matched[0]}"), Span(" · "))
    blocks += [
        Divider(),
        Context((*stop, Span(words.gettext("every watch: ")), command_span("/watches"))),
    ]
    return Message(tuple(blocks), link_preview=False, tags=("watch",))
