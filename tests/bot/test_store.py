"""The store on SQLite and PostgreSQL: ingest is idempotent, versions keep item identity."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bot.store.models import ItemRow, ReportRow
from bot.store.store import Store
from digests import Kind, parse_report


def _ingest(store: Store, text: str, source: str = "r.md"):  # type: ignore[no-untyped-def]
    return store.ingest(parse_report(text, source), text, uploaded_by="test")


def _ids(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            f"{r.kind}:{r.name_norm}": r.id
            for r in conn.execute(
                select(ItemRow.kind, ItemRow.name_norm, ItemRow.id).where(
                    ItemRow.removed.is_(False)
                )
            )
        }


def test_seed_ingests_every_item_once(store: Store, seed_path: Path) -> None:
    text = seed_path.read_text(encoding="utf-8")
    first = _ingest(store, text)
    assert first.status == "new"
    assert {k: n for k, n in first.counts.items()} == {
        "model": 8,
        "paper": 23,
        "topic": 7,
        "insight": 2,
        "radar": 1,
    }
    assert store.item_count() == 41
    again = _ingest(store, text)
    assert again.status == "unchanged"
    assert store.item_count() == 41
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ReportRow)).scalar_one() == 1


SAMPLE = Path(__file__).resolve().parents[2] / "digests" / "samples" / "2026-02.md"


def test_new_version_keeps_identity_and_reports_changes(store: Store) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    _ingest(store, text)
    before = _ids(store)
    count = store.item_count()
    # A corrected version: one model renamed away (another name, another link), one model's
    # text changed.
    edited = text.replace(
        "[Olmo 3](https://allenai.org/blog/olmo3)", "[Olmo 3.1](https://allenai.org/blog/olmo31)", 1
    ).replace("三种思考模式的产品化", "三种思考模式的产品化（修订）", 1)
    result = _ingest(store, edited)
    assert result.status == "updated"
    assert [i.title for i in result.added] == ["Olmo 3.1"]
    assert [i.title for i in result.changed] == ["GLM-4.7"]
    assert result.removed == [("model", "Olmo 3")]
    assert result.unchanged == count - 2
    after = _ids(store)
    assert after["model:glm47"] == before["model:glm47"]
    unchanged_keys = set(before) - {"model:glm47", "model:olmo3"}
    assert all(after[k] == before[k] for k in unchanged_keys)
    assert "model:olmo3" not in after
    assert store.item_count() == count
    with store.engine.connect() as conn:
        current = conn.execute(
            select(func.count()).select_from(ReportRow).where(ReportRow.is_current.is_(True))
        ).scalar_one()
        kept = conn.execute(select(ReportRow.markdown).order_by(ReportRow.id)).scalars().all()
    assert current == 1
    assert kept == [text, edited]


def test_an_item_renamed_under_the_same_link_keeps_its_id(store: Store) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    _ingest(store, text)
    before = _ids(store)
    result = _ingest(store, text.replace("[Olmo 3](", "[Olmo 3.1](", 1))
    assert [i.title for i in result.changed] == ["Olmo 3.1"]
    assert (result.added, result.removed) == ([], [])
    assert _ids(store)["model:olmo31"] == before["model:olmo3"]


def test_a_corrected_month_reports_only_items_whose_text_changed(store: Store) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    _ingest(store, text)
    with store.engine.connect() as conn:
        stamps = dict(conn.execute(select(ItemRow.name_norm, ItemRow.updated_at)).all())
    # The correction moves GLM-4.7's row to the end of its table and pushes everything after
    # the first heading down two lines; only GLM-4.7's text changes.
    lines = text.split("\n")
    glm = next(i for i, line in enumerate(lines) if line.startswith("| [GLM-4.7]"))
    end = next(i for i in range(glm, len(lines)) if not lines[i].startswith("|"))
    row = lines.pop(glm).replace("三种思考模式的产品化", "三种思考模式的产品化（修订）", 1)
    lines.insert(end - 1, row)
    heading = next(i for i, line in enumerate(lines) if line.startswith("#"))
    lines[heading + 1 : heading + 1] = ["", ""]
    edited = "\n".join(lines)
    moved = parse_report(edited, "r.md")
    assert [i.key for i in moved.items] != [i.key for i in parse_report(text, "r.md").items]
    result = _ingest(store, edited)
    assert [i.title for i in result.changed] == ["GLM-4.7"]
    assert result.added == []
    assert result.unchanged == len(moved.items) - 1
    with store.engine.connect() as conn:
        after = dict(conn.execute(select(ItemRow.name_norm, ItemRow.updated_at)).all())
        places = dict(conn.execute(select(ItemRow.name_norm, ItemRow.position)).all())
    assert [k for k in stamps if after[k] != stamps[k]] == ["glm47"]
    assert places == {i.name_norm: i.position for i in moved.items}


def test_restoring_a_removed_item_brings_back_its_identity(store: Store) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    _ingest(store, text)
    olmo = _ids(store)["model:olmo3"]
    # renamed and relinked: another item, and Olmo 3 removed
    _ingest(
        store,
        text.replace(
            "[Olmo 3](https://allenai.org/blog/olmo3)", "[Olmo 4](https://allenai.org/olmo4)", 1
        ),
    )
    restored = _ingest(store, text)
    assert [i.title for i in restored.added] == ["Olmo 3"]
    assert _ids(store)["model:olmo3"] == olmo


def test_first_seen_is_true_once(store: Store) -> None:
    assert store.first_seen("telegram:update:1") is True
    assert store.first_seen("telegram:update:1") is False
    assert store.first_seen("slack:event:Ev1") is True


def test_kinds_are_stored_with_their_themes(store: Store) -> None:
    _ingest(store, SAMPLE.read_text(encoding="utf-8"))
    with store.engine.connect() as conn:
        themes = dict(
            conn.execute(
                select(ItemRow.kind, func.count(func.distinct(ItemRow.theme))).group_by(
                    ItemRow.kind
                )
            ).all()
        )
    assert themes[Kind.MODEL.value] == 1
    assert themes[Kind.PAPER.value] == 2


def test_head_constant_is_the_newest_migration() -> None:
    from bot.store.db import HEAD, head_revision

    assert head_revision() == HEAD
