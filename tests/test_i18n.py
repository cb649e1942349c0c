"""The catalogs: every string the code marks is translated, compiled, and shipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import LANGUAGES, negotiate, translator
from bot.i18n.catalogs import LOCALE_DIR, extract, po_path, problems

REPO = Path(__file__).resolve().parents[1]


def test_every_marked_string_has_a_chinese_translation() -> None:
    # Extracts from the code as `python -m bot.i18n update` does, and compares with each catalog.
    assert problems() == []


def test_extraction_finds_strings_in_every_room() -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extract() if m.id}
    assert "Also in: {periods}" in ids  # digests/cards.py, through the Words handed in
    assert "{command} is for bot admins only." in ids  # bot/commands/dispatch.py
    assert "{n} model" in ids  # a plural
    assert "Mechanism" in ids  # a report column label, marked with N_


def test_a_missing_or_stale_translation_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy)
    path = po_path("zh", copy)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    catalog["Also in: {periods}"].string = ""
    catalog["Themes: {themes}."].string = "主题：{主题}。"  # a placeholder renamed by mistake
    with path.open("wb") as fh:
        write_po(fh, catalog)
    found = problems(copy)
    assert "zh: not translated: 'Also in: {periods}'" in found
    assert any("placeholders differ in 'Themes: {themes}.'" in line for line in found)
    assert any("is older than digestbot.po" in line for line in found)
    with path.with_suffix(".mo").open("wb") as fh:
        write_mo(fh, catalog)
    assert [line for line in problems(copy) if "is older than" in line] == []


def test_plurals_in_both_languages() -> None:
    en, zh = translator("en"), translator("zh")
    assert en.ngettext("{n} model", "{n} models", 1).format(n=1) == "1 model"
    assert en.ngettext("{n} model", "{n} models", 3).format(n=3) == "3 models"
    assert zh.ngettext("{n} model", "{n} models", 1).format(n=1) == "1 个模型"
    assert zh.ngettext("{n} model", "{n} models", 3).format(n=3) == "3 个模型"


def test_dates_weekdays_and_numbers_per_language() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    when = datetime(2026, 3, 3, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    en, zh = translator("en"), translator("zh")
    assert (en.date(when), zh.date(when)) == ("3 Mar 2026", "2026年3月3日")
    assert en.moment(when) == "Tue 3 Mar 2026, 08:30 CST"
    assert zh.moment(when) == "2026年3月3日 周二 08:30 CST"
    assert en.moment(when, "Asia/Shanghai") == "Tue 3 Mar 2026, 08:30 Asia/Shanghai"
    assert (en.weekday("sun"), zh.weekday("sun")) == ("Sunday", "星期日")
    assert (en.number(12345), zh.number(12345)) == ("12,345", "12,345")
    assert (en.join(["a", "b"]), zh.join(["a", "b"])) == ("a, b", "a、b")


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("zh-hans", "zh"),
        ("zh-CN", "zh"),
        ("zh_TW", "zh"),
        ("en-US", "en"),
        ("ru", None),
        ("", None),
    ],
)
def test_platform_language_codes(code: str, language: str | None) -> None:
    assert negotiate(code) == language


def test_update_is_idempotent(tmp_path: Path) -> None:
    # `python -m bot.i18n update` on an up-to-date tree changes no catalog text.
    before = {p: p.read_bytes() for p in LOCALE_DIR.rglob("*.po*")}
    run = subprocess.run(
        [sys.executable, "-m", "bot.i18n", "update"], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    after = {p: p.read_bytes() for p in LOCALE_DIR.rglob("*.po*")}
    assert after == before


@pytest.mark.slow
def test_the_wheel_ships_the_compiled_catalogs(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    wheel = next(tmp_path.glob("digestbot-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for language in LANGUAGES[1:]:
        assert f"bot/i18n/locale/{language}/LC_MESSAGES/digestbot.mo" in names
