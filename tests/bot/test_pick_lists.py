"""Pick lists (issue 24): "Did you mean" only with real candidates, and two buttons of one pick
list never share a label — the rule is made once (``bot.commands.buttons.item_labels``) and holds
as each platform renders it (Telegram, Slack, Lark, Discord, console).

Over the bundled samples stored as real reports, and a month made from them in which two papers
have titles alike in their first 40 characters (a button label's length), so the tests always run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.store import Store
from channels.base import Incoming
from channels.console.render import render_console
from channels.discord.render import render_discord
from channels.lark.render import render_lark
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram_parts
from digests import parse_report
from digests.items import Kind
from digests.message import Message
from tests.stored import SAMPLES, ingest_samples

ALIKE = "Scaling Agentic Reinforcement Learning to Long Horizons"


@pytest.fixture
def core(store: Store) -> Dispatcher:
    assert ingest_samples(store)  # 2025-12 and 2026-02
    base = parse_report((SAMPLES / "2026-02.md").read_bytes(), "2026-03.md")
    papers = [i for i in base.items if i.kind is Kind.PAPER][:2]
    renamed = {papers[0].key: f"{ALIKE}: Part One", papers[1].key: f"{ALIKE}: Part Two"}
    items = tuple(
        dataclasses.replace(
            i,
            period="2026-03",
            title=renamed.get(i.key, i.title),
            aliases=(renamed[i.key],) if i.key in renamed else i.aliases,
        )
        for i in base.items
    )
    march = dataclasses.replace(base, period="2026-03", sha256="3" * 64, items=items)
    store.ingest(march, "", uploaded_by="test")
    return Dispatcher(Services(store=store))


async def ask(core: Dispatcher, line: str, language: str | None = None) -> Message:
    incoming = Incoming("console", "me", "me", line, chat_kind="console", language=language)
    reply = await core.on_command(incoming)
    assert reply is not None
    return reply


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _console(message: Message) -> list[str]:
    text = render_console(message)
    return [m.strip() for m in re.findall(r"\[\d+\] (.+?)(?=\s{3}\[\d+\]|\n|$)", text)]


def _telegram(message: Message) -> list[str]:
    return [b.label for part in render_telegram_parts(message) for row in part.rows for b in row]


def _slack(message: Message) -> list[str]:
    return [e["text"]["text"] for e in _walk(render_slack(message)) if e.get("type") == "button"]


def _discord(message: Message) -> list[str]:
    return [e["label"] for e in _walk(render_discord(message)) if e.get("type") == 2]


def _lark(message: Message) -> list[str]:
    return [e["text"]["content"] for e in _walk(render_lark(message)) if e.get("tag") == "button"]


RENDERERS: dict[str, Callable[[Message], list[str]]] = {
    "telegram": _telegram,
    "slack": _slack,
    "lark": _lark,
    "discord": _discord,
    "console": _console,
}


@pytest.mark.parametrize("platform", sorted(RENDERERS))
@pytest.mark.parametrize(
    "line",
    [
        f"/paper {ALIKE}",  # two papers named alike: "Several papers match"
        f"/search {ALIKE}",
        "/search best implementation",  # each month's "Best Implementation"
        "/paper memory",  # "Did you mean"
        "/model kimi",
        "/model GLM-4.8",  # "No model … in the reports", with its family and hits
    ],
)
async def test_no_two_buttons_of_a_pick_list_share_a_label(
    core: Dispatcher, line: str, platform: str
) -> None:
    reply = await ask(core, line)
    labels = RENDERERS[platform](reply)
    assert len(labels) >= 2, (line, reply.plain())
    assert len(set(labels)) == len(labels), (line, labels)


async def test_labels_alike_get_kind_and_month_else_their_end(core: Dispatcher) -> None:
    reply = await ask(core, f"/paper {ALIKE}")
    assert "Several papers match" in reply.plain()
    labels = sorted(b.label for b in reply.buttons())
    assert labels == [
        "…Learning to Long Horizons: Part One",
        "…Learning to Long Horizons: Part Two",
    ]
    assert all(len(label) <= 40 for label in labels)
    best = await ask(core, "/search best implementation")
    assert sorted(b.label for b in best.buttons() if b.command.startswith("/highlights")) == [
        "Best Implementation (insight, 2025-12)",
        "Best Implementation (insight, 2026-02)",
        "Best Implementation (insight, 2026-03)",
    ]
    # in Chinese, the kind in Chinese
    zh = await ask(core, "/search best implementation", language="zh-hans")
    assert any("（洞察，2025-12）" in b.label for b in zh.buttons()), [
        b.label for b in zh.buttons()
    ]


async def test_did_you_mean_only_with_candidates(core: Dispatcher) -> None:
    found = (await ask(core, "/paper memory")).plain()
    assert "Did you mean one of these?" in found
    for line in ("/paper zzqx", "/topic zzqx", "/model zzqx", "/search zzqx"):
        text = (await ask(core, line)).plain()
        assert "Did you mean" not in text, (line, text)
    assert "No paper matches “zzqx”." in (await ask(core, "/paper zzqx")).plain()


def test_a_shared_reports_pick_list_reads_right(tmp_path: Path) -> None:
    """``/search Zettelkasten`` over the samples and ../shared/reports (skipped without them)."""
    reports = SAMPLES.parents[2] / "shared" / "reports"
    if not (reports / "2026-01.md").exists():
        pytest.skip("../shared/reports is not on this machine")
    import asyncio

    from bot.store.ingest import ingest_file

    store = Store.open(f"sqlite:///{tmp_path / 'z.db'}")
    try:
        for path in [*sorted(SAMPLES.glob("*.md")), *sorted(reports.glob("*.md"))]:
            ingest_file(store, path, 5 * 1024 * 1024, "test")
        core = Dispatcher(Services(store=store))
        for line in ("/search Zettelkasten", "/search agent memory", "/paper memory"):
            reply = asyncio.run(ask(core, line))
            for platform, render in RENDERERS.items():
                labels = render(reply)
                assert len(set(labels)) == len(labels), (line, platform, labels)
    finally:
        store.close()
