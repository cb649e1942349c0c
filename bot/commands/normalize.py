"""Forgiving input: what a Chinese input method types, folded into what the commands parse.

Applied once, when :meth:`bot.commands.core.CommandSet.parse` turns text into a request:

- full-width ASCII forms (``／model ＧＬＭ``, ``２１：００``, ``，``) become their ASCII letters,
  digits and punctuation; the ideographic space becomes a space;
- one pair of quotes around the whole argument goes: ``“GLM-4.7”``, ``「The Clay」``, ``"x"``.

CJK text itself (``周一``, ``蒸馏``, ``。``) is left alone; only the look-alikes of ASCII change.
"""

from __future__ import annotations

# U+FF01..U+FF5E are ASCII ! .. ~ shifted by 0xFEE0; U+3000 is the ideographic space.
_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_QUOTES = {
    "“": "”",
    "‘": "’",
    "「": "」",
    "『": "』",
    "«": "»",
    "‹": "›",
    "《": "》",
    '"': '"',
    "'": "'",
    "„": "“",
}


def fold_width(text: str) -> str:
    """Full-width ASCII look-alikes and ideographic spaces as plain ASCII."""
    return text.translate(_WIDTH)


def unquote(arg: str) -> str:
    """``“GLM-4.7”`` -> ``GLM-4.7``: one pair of quotes around the whole argument is dropped."""
    text = arg.strip()
    if len(text) >= 2:
        close = _QUOTES.get(text[0])
        # A closing curly quote typed twice (”x”) is common on phones: accept either end.
        if close is not None and text[-1] in (close, text[0], "”"):
            inner = text[1:-1].strip()
            if inner:
                return inner
    return text


def forgiving(text: str) -> str:
    """The whole command text folded (the command name and its argument)."""
    return fold_width(text)
