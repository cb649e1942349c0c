"""Platform-neutral layout helpers shared by the renderers: cleaning text and splitting messages.

Splitting works on the neutral :class:`~digests.message.Message`, not on rendered markup: a block
that is too long becomes several blocks of the same kind, each rendered on its own, so tags and
entities are closed and reopened by construction and a cut can never fall inside one. Python
strings index code points, so a cut never falls inside a surrogate pair either.

Each renderer supplies one predicate, ``fits(blocks) -> bool`` ("would these blocks render into
one platform message?"); :func:`paginate` packs blocks into as few messages as fit, preferring to
break at :class:`~digests.message.Divider` (item) boundaries, then between blocks, then inside a
block at a blank line, a line break, a space, and only then anywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from digests import hygiene
from digests.message import (
    Actions,
    Block,
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Quote,
    Span,
    Spans,
)
from digests.text import link_target

Fits = Callable[[Sequence[Block]], bool]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: An ``@`` that could mention someone: before a word (``@alice``, ``@here``) or before one of
#: the broadcast words anywhere (``x@channel``).
_MENTION = re.compile(r"(?i)@(?=(?:channel|here|everyone)\b)|(?<!\w)@(?=\w)")
#: A scheme other than http(s) in front of ``//`` (``tg://resolve``), which clients would link.
_SCHEME = re.compile(r"(?i)\b(?!https?:)[a-z][a-z0-9+.-]*:(?=//)")
WORD_JOINER = "\u2060"
# Cut points, best first: a blank line, a line break, a space.
_SEPARATORS = ("\n\n", "\n", " ")


def clean_text(text: str) -> str:
    """Normalise line ends and drop control characters (all but ``\\n``), lone surrogates and
    every invisible character :func:`digests.hygiene.clean_text` drops (emoji sequences kept):
    what a renderer shows, report text or the bot's own lines echoing someone's words."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = hygiene.clean_text(_CONTROL.sub("", text), keep_joiners=True)
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(text) else text


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def entities(text: str) -> str:
    """``&``, ``<`` and ``>`` as HTML entities (``&`` first): the control characters of Telegram
    HTML, Slack mrkdwn and Lark card markdown alike."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_text(text: str) -> str:
    """Report text for a platform whose markup is only those three characters (Telegram HTML,
    Slack mrkdwn): cleaned, mentions defused, entities escaped. Lark adds its markdown markers
    to this; Discord, whose markup is markdown, escapes with backslashes instead."""
    return entities(defuse(clean_text(text)))


def wrap_lines(text: str, marker: str) -> str:
    """Wrap each line's text in a markdown ``marker``, keeping spaces outside (``*x*``, not
    ``* x *``) and leaving blank lines alone: markers do not span lines on any platform."""
    lines = []
    for line in text.split("\n"):
        core = line.strip()
        if core:
            start = line.index(core)
            line = f"{line[:start]}{marker}{core}{marker}{line[start + len(core) :]}"
        lines.append(line)
    return "\n".join(lines)


def defuse(text: str) -> str:
    """Text that mentions nobody and links nowhere: a word joiner (invisible) after each ``@``
    that could mention someone and after a non-http(s) scheme such as ``tg:``.

    Platforms find mentions (``@here``, ``@alice``) and links in plain text by themselves; the
    joiner breaks the pattern and the text reads the same. Renderers apply it to text, never to
    urls. Report text cannot smuggle the joiner in: the parser drops it.
    """
    text = _MENTION.sub("@" + WORD_JOINER, text)
    return _SCHEME.sub(lambda m: m.group() + WORD_JOINER, text)


def defuse_spans(spans: Spans) -> Spans:
    """:func:`defuse` across span edges too: ``@**alice**`` is one mention to a platform."""
    texts = [clean_text(s.text) for s in spans]
    joined = "".join(texts)
    cuts = {m.end() for m in _MENTION.finditer(joined)}
    cuts |= {m.end() for m in _SCHEME.finditer(joined)}
    if not cuts:
        return spans
    out: list[Span] = []
    at = 0
    for span, text in zip(spans, texts, strict=True):
        chars: list[str] = []
        for ch in text:
            at += 1
            chars += [ch, WORD_JOINER] if at in cuts else [ch]
        out.append(replace(span, text="".join(chars)))
    return tuple(out)


def safe_url(url: str | None) -> str | None:
    """The url if a reader may follow it (http(s) only: :func:`digests.text.link_target`), else
    ``None``: the renderers then show the link's text alone."""
    if url is None:
        return None
    return link_target(clean_text(url))


def figure_url(url: str | None) -> str | None:
    """The url if a platform can fetch it as a picture (``http``/``https`` only), else ``None``."""
    return safe_url(url)


def first_figure(message: Message) -> Image | None:
    """The message's first image a platform can show (cards: the first part's figure)."""
    for block in message.blocks:
        if isinstance(block, Image) and figure_url(block.url):
            return block
    return None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts it."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_blank(block: Block) -> bool:
    """Whether a block shows nothing (platforms reject empty texts, so it is left out)."""
    match block:
        case Heading(text=text):
            return not clean_text(text).strip()
        case Paragraph(spans=s) | Context(spans=s) | Quote(spans=s):
            return not clean_text(_text(s)).strip()
        case BulletList(items=items):
            return not items
        case Image(url=url, alt=alt):
            return not clean_text(url + alt).strip()
        case Actions(buttons=buttons):
            return not buttons
    return False


def block_groups(blocks: Sequence[Block]) -> list[list[Block]]:
    """The visible blocks between dividers, empty groups dropped."""
    groups: list[list[Block]] = [[]]
    for block in blocks:
        if isinstance(block, Divider):
            groups.append([])
        elif not is_blank(block):
            groups[-1].append(block)
    return [g for g in groups if g]


def paginate(blocks: Sequence[Block], fits: Fits) -> list[list[Block]]:
    """Pack ``blocks`` into pages for which ``fits`` holds, splitting where it must.

    Items (the groups between dividers) stay whole on one page when they can; an item too long
    for any page starts a page of its own and is split between blocks, and a block too long for a
    page is cut by :func:`split_block`. Raises ``ValueError`` when not even one character fits.
    """
    pages: list[list[Block]] = []
    current: list[Block] = []

    def flush() -> None:
        nonlocal current
        if current:
            pages.append(current)
        current = []

    for group in block_groups(blocks):
        joined = [*current, Divider(), *group] if current else list(group)
        if fits(joined):
            current = joined
            continue
        flush()
        if fits(group):
            current = list(group)
            continue
        for block in group:
            if fits([*current, block]):
                current.append(block)
                continue
            # A title stays with what it introduces: it moves to the next page with the block.
            carry = [current.pop()] if len(current) > 1 and is_title(current[-1]) else []
            flush()
            current = list(carry)
            if fits([*current, block]):
                current.append(block)
                continue
            for piece in split_block(block, partial(_fits_after, fits, carry)):
                if current and not fits([*current, piece]):
                    flush()
                current.append(piece)
    flush()
    return pages


def _fits_after(fits: Fits, before: list[Block], block: Block) -> bool:
    return fits([*before, block])


def is_title(block: Block) -> bool:
    """A heading, or a short paragraph in bold only (a section title, an entry's title)."""
    if isinstance(block, Heading):
        return True
    return (
        isinstance(block, Paragraph)
        and bool(block.spans)
        and all(s.bold for s in block.spans)
        and len(_text(block.spans)) <= 200
    )


def split_block(block: Block, fits_one: Callable[[Block], bool]) -> list[Block]:
    """Cut one block into blocks of the same kind, each of which ``fits_one``."""
    if fits_one(block):
        return [block]
    match block:
        case Heading(text=text):
            pieces = split_spans((Span(text),), lambda p: fits_one(Heading(_text(p))))
            return [Heading(_text(p)) for p in pieces]
        case Paragraph(spans=s):
            return [Paragraph(p) for p in split_spans(s, lambda p: fits_one(Paragraph(p)))]
        case Context(spans=s):
            return [Context(p) for p in split_spans(s, lambda p: fits_one(Context(p)))]
        case Quote(spans=s, expandable=e):
            return [Quote(p, e) for p in split_spans(s, lambda p: fits_one(Quote(p, e)))]
        case BulletList(items=items):
            return _split_list(items, fits_one)
        case Image(url=url, alt=alt):
            plain = Paragraph((Span(f"{alt or 'image'}: {url}"),))
            return split_block(plain, fits_one)
    return [block]  # Divider: nothing to cut


def _text(spans: Spans) -> str:
    return "".join(s.text for s in spans)


def _split_list(items: tuple[Spans, ...], fits_one: Callable[[Block], bool]) -> list[Block]:
    lists: list[Block] = []
    current: list[Spans] = []
    for item in items:
        if fits_one(BulletList((*current, item))):
            current.append(item)
            continue
        if current:
            lists.append(BulletList(tuple(current)))
            current = []
        if fits_one(BulletList((item,))):
            current = [item]
        else:
            pieces = split_spans(item, lambda p: fits_one(BulletList((p,))))
            lists.extend(BulletList((p,)) for p in pieces)
    if current:
        lists.append(BulletList(tuple(current)))
    return lists


def split_spans(spans: Spans, fits: Callable[[Spans], bool]) -> list[Spans]:
    """Cut a run of spans into pieces that each ``fits``, at the best boundary available.

    The longest prefix that fits is found by bisection; the cut then moves back to the last blank
    line, line break or space in that prefix, unless that would waste more than half of it. A
    separator at a cut is dropped. Links too long to fit even around one character lose their url.
    """
    pieces: list[Spans] = []
    rest = spans
    while rest and not fits(rest):
        text = _text(rest)
        limit = _longest_prefix(rest, len(text), fits)
        if limit == 0:
            unlinked = tuple(replace(s, url=None) for s in rest)
            if unlinked == rest or _longest_prefix(unlinked, len(text), fits) == 0:
                raise ValueError("the message limit is too small to hold a single character")
            rest = unlinked
            continue
        cut, skip = _best_cut(text, limit)
        pieces.append(slice_spans(rest, 0, cut))
        rest = slice_spans(rest, cut + skip, len(text))
    if rest:
        pieces.append(rest)
    return [p for p in pieces if _text(p).strip()] or pieces[:1]


def _longest_prefix(spans: Spans, length: int, fits: Callable[[Spans], bool]) -> int:
    """The largest n < length such that the first n characters fit (0 when none do)."""
    lo, hi = 0, length - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(slice_spans(spans, 0, mid)):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _best_cut(text: str, limit: int) -> tuple[int, int]:
    """Where to cut ``text`` at or before ``limit``, and how many separator characters to drop."""
    for sep in _SEPARATORS:
        at = text.rfind(sep, 0, limit + len(sep))
        if at >= max(1, limit // 2):
            return at, len(sep)
    cut = limit
    # Avoid separating a character from a combining mark, variation selector or ZWJ sequence.
    while cut > 1 and (_joins(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return (cut if cut > limit // 2 else limit), 0


def _joins(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Me") or "\ufe00" <= ch <= "\ufe0f" or ch == "\u200d"


def slice_spans(spans: Spans, start: int, end: int) -> Spans:
    """The spans clipped to the characters ``[start, end)`` of their joined text."""
    out: list[Span] = []
    pos = 0
    for span in spans:
        lo, hi = max(start, pos), min(end, pos + len(span.text))
        if lo < hi:
            out.append(replace(span, text=span.text[lo - pos : hi - pos]))
        pos += len(span.text)
    return tuple(out)
