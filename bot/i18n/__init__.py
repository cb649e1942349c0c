"""The bot's languages: gettext catalogs managed with Babel, and a :class:`Translator` per language.

Every text the bot writes is an English source string wrapped where it is written:

- in a command, ``request._("No theme “{name}”.").format(name=...)`` and
  ``request.ngettext("{n} item", "{n} items", n).format(n=...)``;
- in ``digests/``, through the :class:`~digests.words.Words` handed in (``words.gettext(...)``);
- at module level (command descriptions, usage), ``N_("...")`` marks it and the user of the
  string translates it (``request._(spec.description)``).

The catalogs live in ``bot/i18n/locale/<lang>/LC_MESSAGES/digestbot.po`` (compiled ``.mo`` next
to them, both committed and shipped as package data). After adding or changing strings run
``python -m bot.i18n update``: it extracts every marked string (``babel.cfg``), merges them into
each catalog, and compiles; then translate the new entries in the ``.po`` and run it again.
``tests/test_i18n.py`` fails while any string lacks a translation.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from babel import Locale

DOMAIN = "digestbot"
LOCALE_DIR = Path(__file__).parent / "locale"
#: The languages the bot speaks; the first is the source language of every string.
LANGUAGES = ("en", "zh")
SOURCE = LANGUAGES[0]
#: What ``/lang`` accepts: a language, or ``auto`` (the language of whoever set the chat up).
CHOICES = (*LANGUAGES, "auto")
_DAY_INDEX = {d: n for n, d in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


def N_(message: str) -> str:  # gettext's name for "mark now, translate later"
    """Mark ``message`` for extraction without translating it here."""
    return message


def negotiate(code: str | None) -> str | None:
    """The language we speak for a platform's code (``zh-hans``, ``zh-CN``, ``en-US``), or None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


class Translator:
    """Text, plurals, dates and numbers in one language (the protocol :class:`digests.words.Words`).

    Get one with :func:`translator`; they are shared and immutable.
    """

    def __init__(self, language: str, catalog: gettext.NullTranslations) -> None:
        self.language = language
        self._catalog = catalog
        self._locale: Locale | None = None

    @property
    def locale(self) -> Locale:
        # Babel loads on first use: a lookup that prints no date never imports it.
        if self._locale is None:
            from babel import Locale

            self._locale = Locale.parse(self.language)
        return self._locale

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    _ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._catalog.pgettext(context, message)

    def date(self, when: date) -> str:
        from babel.dates import format_date

        day = when.date() if isinstance(when, datetime) else when
        # The pattern itself is translated: each language writes a day its own way.
        return format_date(day, self.pgettext("date pattern", "d MMM y"), locale=self.locale)

    def moment(self, when: datetime, zone: str | None = None) -> str:
        """An aware time with its weekday and zone: ``Tue 3 Mar 2026, 08:30 CST``, or with
        ``zone`` written instead of the abbreviation (``… 08:30 Asia/Shanghai``)."""
        from babel.dates import format_datetime

        pattern = self.pgettext("time pattern", "EEE d MMM y, HH:mm")
        text = format_datetime(when.replace(tzinfo=None), pattern, locale=self.locale)
        return f"{text} {zone or when.tzname()}"

    def weekday(self, day: str) -> str:
        """``mon`` as ``Monday`` or ``星期一``."""
        names = self.locale.days["format"]["wide"]
        return str(names[_DAY_INDEX[day]])

    def number(self, n: int) -> str:
        from babel.numbers import format_decimal

        return str(format_decimal(n, locale=self.locale))

    def join(self, parts: Iterable[str]) -> str:
        return self.pgettext("list separator", ", ").join(parts)


@lru_cache(maxsize=len(LANGUAGES))
def translator(language: str = SOURCE) -> Translator:
    """The shared translator for ``language`` (the source language when we do not speak it)."""
    if language not in LANGUAGES:
        language = SOURCE
    catalog: gettext.NullTranslations
    if language == SOURCE:
        catalog = gettext.NullTranslations()
    else:
        catalog = gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    return Translator(language, catalog)


__all__ = [
    "CHOICES",
    "LANGUAGES",
    "N_",
    "SOURCE",
    "Translator",
    "negotiate",
    "translator",
]
