"""Text hygiene: the characters text never carries into a chat, a page or a search.

One rule for every surface: the parser cleans report text with it, the web's report page shows
that cleaned text, and every chat renderer cleans what it renders (report text and the bot's own
lines echoing what someone typed) through :func:`clean_text`.

Dropped: every format character (Unicode category ``Cf``: bidirectional overrides and isolates,
zero-width spaces and joiners, soft hyphens, the invisible math operators U+2061–2064, the
interlinear annotation marks U+FFF9–FFFB, the Mongolian vowel separator, tag characters...),
control characters other than line breaks and tabs, and the blank "filler" letters that show
nothing (Hangul fillers such as U+3164, the Braille blank U+2800, the combining grapheme joiner
U+034F, the Khmer inherent vowels and Mongolian variation selectors). Emoji sequences are kept
whole: a zero-width joiner between two emoji (👨‍💻) and the tag characters of a flag such as
England's (🏴 + tags + cancel tag).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import cache

from digests.errors import ReportError

# Letters and symbols that are not category Cf but show nothing at all.
_FILLERS = (
    0x034F,  # combining grapheme joiner
    0x115F,  # Hangul choseong filler
    0x1160,  # Hangul jungseong filler
    0x17B4,  # Khmer vowel inherent aq
    0x17B5,  # Khmer vowel inherent aa
    *range(0x180B, 0x1810),  # Mongolian free variation selectors
    0x2800,  # Braille pattern blank
    0x3164,  # Hangul filler
    0xFFA0,  # halfwidth Hangul filler
)
_ZWJ = "\u200d"
WORD_JOINER = "\u2060"
# England, Scotland, Wales...: a black flag, tag letters, a cancel tag.
_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_TAG = re.compile("[\U000e0000-\U000e007f]")
_CONTEXT = re.compile(f"[{_ZWJ}{WORD_JOINER}]")
# What may sit between an emoji and the joiner after it: presentation selectors, skin tones.
_EMOJI_TAIL = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\u20e3]+$")


@cache
def _table(keep_joiners: bool) -> dict[int, None]:
    """Every code point dropped outright (the contextual ones, ZWJ and tags, are handled apart)."""
    drop: dict[int, None] = dict.fromkeys(_FILLERS)
    for cp in (*range(0x20000), *range(0xE0000, 0xE1000)):
        cat = unicodedata.category(chr(cp))
        if cat == "Cf" or (cat == "Cc" and cp not in (0x09, 0x0A)):
            drop[cp] = None
    for cp in (0x200D, *range(0xE0000, 0xE0080)):
        drop.pop(cp, None)
    if keep_joiners:
        drop.pop(ord(WORD_JOINER), None)
    return drop


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    if cp == 0x2800:
        return False
    cat = unicodedata.category(ch)
    return cat == "So" or (0x1F3FB <= cp <= 0x1F3FF)


def _context(keep_joiners: bool, match: re.Match[str]) -> str:
    text, at, end = match.string, match.start(), match.end()
    before = text[:at]
    if match.group() == WORD_JOINER:
        # the joiner a renderer puts after "@" or "tg:" so that no one is mentioned
        return match.group() if keep_joiners and before[-1:] in ("@", ":") else ""
    before = _EMOJI_TAIL.sub("", before[-8:])
    after = text[end : end + 1]
    return _ZWJ if before and after and _is_emoji(before[-1]) and _is_emoji(after) else ""


def _clean_part(text: str, keep_joiners: bool) -> str:
    text = text.translate(_table(keep_joiners))
    text = _TAG.sub("", text)
    if _ZWJ in text or WORD_JOINER in text:
        text = _CONTEXT.sub(lambda m: _context(keep_joiners, m), text)
    return text


def clean_text(text: str, *, keep_joiners: bool = False) -> str:
    """``text`` without the invisible characters listed above, emoji sequences kept.

    ``keep_joiners`` keeps a word joiner right after ``@`` or ``:``: the one the chat renderers
    put there themselves to defuse a mention or a link, so that cleaning twice changes nothing.
    """
    if text.isascii():
        return text.translate(_table(keep_joiners)) if not text.isprintable() else text
    if "\U0001f3f4" not in text:
        return _clean_part(text, keep_joiners)
    out: list[str] = []
    at = 0
    for m in _TAG_SEQUENCE.finditer(text):
        out += [_clean_part(text[at : m.start()], keep_joiners), m.group()]
        at = m.end()
    out.append(_clean_part(text[at:], keep_joiners))
    return "".join(out)


def clean_report_text(body: str) -> str:
    """Report text as the parser reads it: one kind of line end, no byte order mark, none of the
    invisible characters above. The web's report page shows this text too, as chat does."""
    body = body.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return clean_text(body)


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing once cleaned (a title of only U+3164 shows nothing)."""
    return not clean_text(text).strip()


def decode_report(text: object, source: str) -> tuple[str, str]:
    """A report's bytes or text as clean text (:func:`clean_report_text`) and its sha256; a
    :class:`~digests.errors.ReportError` saying what to do when it is not UTF-8 text or empty."""
    if isinstance(text, bytes | bytearray | memoryview):
        data = bytes(text)
        sha = hashlib.sha256(data).hexdigest()
        if b"\x00" in data:
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            raise ReportError("is not UTF-8 text (it contains NUL bytes)", source=source, line=line)
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ReportError(
                "is not UTF-8 text: save the report as UTF-8 Markdown", source=source, line=line
            ) from None
    elif isinstance(text, str):
        try:
            sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        except UnicodeEncodeError:
            raise ReportError("is not UTF-8 text (unpaired surrogates)", source=source) from None
        body = text
        if "\x00" in body:
            line = body[: body.index("\x00")].count("\n") + 1
            raise ReportError("is not UTF-8 text (it contains NUL bytes)", source=source, line=line)
    else:
        raise ReportError(f"expected text or bytes, got {type(text).__name__}", source=source)
    body = clean_report_text(body)
    if not body.strip():
        raise ReportError("the report is empty: upload the month's Markdown file", source=source)
    return body, sha
