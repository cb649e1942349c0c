"""Text hygiene: the characters report text never carries into a chat, a page or a search."""

from __future__ import annotations

# Bidirectional overrides and isolates (they can make a name read backwards in a chat) and
# zero-width characters (they hide inside names and links) are dropped from report text. The
# zero-width joiner stays: it glues emoji sequences such as 👨‍💻 together.
_INVISIBLE = dict.fromkeys(
    [
        0x061C,
        0x200B,
        0x200C,
        0x200E,
        0x200F,
        0x2060,
        0xFEFF,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)


def clean_report_text(body: str) -> str:
    """Report text as the parser reads it: one kind of line end, no byte order mark, none of the
    invisible characters above. The web's report page shows this text too, as chat does."""
    body = body.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return body.translate(_INVISIBLE)
