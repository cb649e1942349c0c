"""Extracting, merging, compiling and checking the catalogs, with Babel's own functions.

Used by ``python -m bot.i18n`` and by ``tests/test_i18n.py``. Works on a source checkout (it
reads ``babel.cfg`` at the project root); an installed package only needs the compiled ``.mo``.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, SOURCE

ROOT = LOCALE_DIR.parents[2]
MAPPING = ROOT / "babel.cfg"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
STAMP = datetime(2026, 12, 1, tzinfo=UTC)


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract() -> Catalog:
    """Every marked string in the code, as ``pybabel extract -F babel.cfg`` finds them."""
    with MAPPING.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    # A fixed creation date: the catalogs' headers stay the same across runs and branches.
    catalog = Catalog(
        project="digestbot",
        domain=DOMAIN,
        charset="utf-8",
        creation_date=STAMP,
        revision_date=STAMP,
    )
    found = extract_from_dir(
        ROOT, method_map, options_map, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No source locations and sorted ids: merging two branches' catalogs stays a text merge.
    with path.open("wb") as fh:
        write_po(fh, catalog, no_location=True, sort_output=True, width=100)


def update_all() -> None:
    """Write the template, and merge it into each translated language's catalog."""
    template = extract()
    _write(TEMPLATE, template)
    for language in LANGUAGES:
        if language == SOURCE:
            continue
        path = po_path(language)
        if path.exists():
            catalog = _read(path, language)
        else:
            catalog = Catalog(
                locale=language,
                domain=DOMAIN,
                project="digestbot",
                fuzzy=False,
                creation_date=STAMP,
            )
        catalog.update(template, no_fuzzy_matching=True)
        catalog.revision_date = STAMP
        catalog.obsolete.clear()  # removed strings go; git keeps their history
        _write(path, catalog)


def compile_all() -> None:
    """Compile every ``.po`` into the ``.mo`` that gettext loads (fuzzy entries left out)."""
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            continue
        catalog = _read(path, language)
        with path.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)


def _strings(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, list | tuple) else (value or "",)


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def problems(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """One line per string the code uses that a catalog lacks, and per stale ``.mo``."""
    template = extract()
    out: list[str] = []
    for language in LANGUAGES:
        if language == SOURCE:
            continue
        path = po_path(language, locale_dir)
        if not path.exists():
            out.append(f"{language}: no catalog at {path}; run python -m bot.i18n update")
            continue
        catalog = _read(path, language)
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, message.context)
            key = message.id if isinstance(message.id, str) else message.id[0]
            if found is None:
                out.append(f"{language}: not in the catalog: {key!r}")
            elif found.fuzzy or not all(_strings(found)):
                out.append(f"{language}: not translated: {key!r}")
            elif "python-brace-format" in message.flags:
                wanted = _fields(key)
                for text in _strings(found):
                    if _fields(text) != wanted:
                        out.append(f"{language}: placeholders differ in {key!r}: {text!r}")
        mo = path.with_suffix(".mo")
        if not mo.exists():
            out.append(f"{language}: {mo.name} missing; run python -m bot.i18n update")
            continue
        with mo.open("rb") as fh:
            compiled = read_mo(fh)
        for message in catalog:
            if not message.id or message.fuzzy or not all(_strings(message)):
                continue
            have = compiled.get(message.id, message.context)
            if have is None or _strings(have) != _strings(message):
                out.append(f"{language}: {mo.name} is older than {path.name}; run update")
                break
    return out


__all__ = ["MAPPING", "ROOT", "TEMPLATE", "compile_all", "extract", "po_path", "problems"]
