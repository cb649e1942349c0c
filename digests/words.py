"""The words a message is written in: the small protocol cards and digests translate through.

``digests`` builds messages but knows no catalog: whoever composes a message passes a
:class:`Words` (the gateway's :class:`bot.i18n.Translator`, one per language). Without one,
:data:`ENGLISH` writes the source strings unchanged, so the domain stays usable on its own.

Strings meant for translation are written at the call, ``words.gettext("Also in: {periods}")``,
so ``python -m bot.i18n update`` extracts them from here as from ``bot/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol


def N_(message: str) -> str:  # gettext's name for "mark now, translate later"
    """Mark ``message`` for extraction; whoever shows it translates it."""
    return message


class Words(Protocol):
    """Translated text, plurals, dates and numbers in one language."""

    language: str

    def gettext(self, message: str) -> str:
        """``message`` in this language (the English source when there is no translation)."""
        ...

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form for ``n`` (English has two, Chinese one)."""
        ...

    def date(self, when: date) -> str:
        """A day as ``30 Nov 2026`` (English) or ``2026年11月30日`` (Chinese)."""
        ...

    def number(self, n: int) -> str:
        """``12,345``, grouped as the language groups digits."""
        ...

    def join(self, parts: Iterable[str]) -> str:
        """A list in running text: ``a, b, c`` or ``a、b、c``."""
        ...


class _English:
    """The source strings as they are: English, without any catalog."""

    language = "en"

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def date(self, when: date) -> str:
        return f"{when.day} {when:%b %Y}"

    def number(self, n: int) -> str:
        return f"{n:,}"

    def join(self, parts: Iterable[str]) -> str:
        return ", ".join(parts)


ENGLISH: Words = _English()
