"""`digestbot ingest` and `digestbot db upgrade` through the CLI's entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.store.store import Store
from digests import parse_report

SAMPLE = Path(__file__).resolve().parents[2] / "digests" / "samples" / "2026-02.md"
SAMPLE_ITEMS = len(parse_report(SAMPLE.read_bytes(), "sample").items)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    return db_url


def _bad_files(folder: Path) -> dict[str, Path]:
    files = {
        "empty": folder / "empty.md",
        "binary": folder / "binary.md",
        "yaml": folder / "broken-yaml.md",
        "noitems": folder / "no-items.md",
    }
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    files["yaml"].write_text("---\nperiod: [2026-03\ntags: {oops\n---\n# Log\n", encoding="utf-8")
    files["noitems"].write_text(
        "---\nperiod: 2026-03\n---\n# Notes\n\nJust prose.\n", encoding="utf-8"
    )
    return files


def test_ingest_then_again_changes_nothing(
    env: str, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(seed_path)]) == 0
    out = capsys.readouterr().out
    assert "2026-01 new month" in out
    assert "8 models, 23 papers" in out
    assert main(["ingest", str(seed_path)]) == 0
    assert "unchanged" in capsys.readouterr().out
    store = Store.open(env)
    assert store.item_count() == 41
    store.close()


@pytest.mark.parametrize("kind", ["empty", "binary", "yaml", "noitems"])
def test_bad_file_is_rejected_in_one_line_and_nothing_changes(
    env: str, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(SAMPLE)]) == 0
    capsys.readouterr()
    bad = _bad_files(tmp_path)[kind]
    assert main(["ingest", str(bad)]) == 1
    err = capsys.readouterr().err
    rejected = [line for line in err.splitlines() if "rejected" in line]
    assert len(rejected) == 1
    assert str(bad) in rejected[0]
    assert "Traceback" not in err
    store = Store.open(env)
    assert store.item_count() == SAMPLE_ITEMS
    assert [r.period for r in store.reports()] == ["2026-02"]
    store.close()


def test_oversize_file_is_refused(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_MAX_REPORT_BYTES", "1000")
    assert main(["ingest", str(SAMPLE)]) == 1
    err = capsys.readouterr().err
    assert "over the 1,000-byte limit" in err
    store = Store.open(env)
    assert store.item_count() == 0
    store.close()


def test_folder_with_one_bad_file_ingests_the_rest(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "2026-02.md")
    (folder / "zz-empty.md").write_bytes(b"")
    assert main(["ingest", str(folder)]) == 1
    captured = capsys.readouterr()
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith("1 file (1 stored, 0 unchanged)")
    assert summary.endswith("0 warnings, 1 rejected")
    assert "zz-empty.md" in captured.err
    store = Store.open(env)
    assert store.item_count() == SAMPLE_ITEMS
    store.close()


def test_dry_run_json_stores_nothing(
    env: str, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--dry-run", "--json", str(seed_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"report", "items", "warnings"}
    assert data["report"]["period"] == "2026-01"
    assert len(data["items"]) == 41
    for item in data["items"]:
        assert {"kind", "title", "theme", "period", "url", "summary", "parts"} <= set(item)
    glm = next(i for i in data["items"] if i["title"] == "GLM-4.7")
    assert glm["url"] == "https://z.ai/blog/glm-4.7"
    store = Store.open(env)
    assert store.item_count() == 0
    store.close()


def test_db_upgrade_reports_revision(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "database at revision" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "(unchanged)" in capsys.readouterr().out


def test_bad_setting_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIGESTBOT_TIMEZONE", "Mars/Olympus")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "DIGESTBOT_TIMEZONE" in err


def test_reports_and_reparse(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reports"]) == 0
    assert "no reports yet" in capsys.readouterr().out
    assert main(["ingest", str(SAMPLE)]) == 0
    capsys.readouterr()
    store = Store.open(env)
    from sqlalchemy import select

    from bot.store.models import ItemRow

    with store.engine.connect() as conn:
        before = dict(conn.execute(select(ItemRow.key, ItemRow.id)).all())
    assert main(["reparse"]) == 0
    out = capsys.readouterr().out
    assert "2026-02 re-derived" in out
    assert "changed 0" in out
    with store.engine.connect() as conn:
        after = dict(conn.execute(select(ItemRow.key, ItemRow.id)).all())
    store.close()
    assert after == before
    assert main(["reports"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("2026-02")
    assert f"{SAMPLE_ITEMS} items" in listed
