from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.console.render import render_console
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram
from digests.cards import (
    LONG_PART,
    card,
    command_for,
    digest_entry,
    digest_message,
    inline,
    model_card,
    paper_card,
    short_title,
    topic_card,
)
from digests.items import Image as ItemImage
from digests.items import Item, Kind, Part, Report
from digests.message import (
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Paragraph,
    Quote,
    Span,
    command_span,
)
from tests.channels.checks import assert_slack_payload, assert_telegram_html
from tests.channels.sample_items import long_model, paper
from tests.golden import check_golden

# --- inline Markdown ---------------------------------------------------------------------------


def test_inline_styles_links_and_breaks() -> None:
    assert inline("**粗** *em* `c<d>` [a **b**](https://x.org/?q=1&r=2)<br> next\\|pipe") == (
        Span("粗", bold=True),
        Span(" "),
        Span("em", italic=True),
        Span(" "),
        Span("c<d>", code=True),
        Span(" "),
        Span("a ", url="https://x.org/?q=1&r=2"),
        Span("b", bold=True, url="https://x.org/?q=1&r=2"),
        Span("\nnext|pipe"),
    )


def test_inline_keeps_newlines_and_raw_html_as_text() -> None:
    assert inline("line 1\nline 2 <script>x</script> & <!channel>") == (
        Span("line 1\nline 2 <script>x</script> & <!channel>"),
    )
    assert inline("see ![chart](https://x.org/c.png)") == (
        Span("see "),
        Span("chart", url="https://x.org/c.png"),
    )
    assert inline("") == ()


def test_inline_links_outside_the_web_keep_their_text_alone() -> None:
    assert inline(
        "[x](tg://resolve?domain=a) ![i](slack://i.png) [m](mailto:a@b.org) [w](https://w.org)"
    ) == (
        Span("x i m "),
        Span("w", url="https://w.org"),
    )


# --- cards ---------------------------------------------------------------------------------------


def test_model_card_structure() -> None:
    item = Item(
        kind=Kind.MODEL,
        theme="clay",
        theme_title="The Clay",
        period="2026-01",
        title="GLM-4.7",
        url="https://z.ai/blog/glm-4.7",
        parts=(
            Part("Mechanism", "[Arch] MoE", "355B **total**"),
            Part("Mechanism", "TL;DR", "short"),
            Part("Value", "Long", "长" * (LONG_PART + 1)),
        ),
        summary="short",
        images=(ItemImage("https://x.org/a.png", "image.png"),),
    )
    message = model_card(item, other_periods=["2025-12", "2026-01"])
    assert message.link_preview is False
    assert message.blocks == (
        Heading("GLM-4.7"),
        Context((Span("model · 2026-01 · The Clay"),)),
        Paragraph((Span("🔗 "), Span("z.ai/blog/glm-4.7", url="https://z.ai/blog/glm-4.7"))),
        Paragraph((Span("Mechanism", bold=True),)),
        BulletList(
            (
                (
                    Span("[Arch] MoE", bold=True),
                    Span(": "),
                    Span("355B "),
                    Span("total", bold=True),
                ),
                (Span("TL;DR", bold=True), Span(": "), Span("short")),
            )
        ),
        Paragraph((Span("Value", bold=True),)),
        Quote((Span("Long", bold=True), Span(": "), Span("长" * (LONG_PART + 1))), expandable=True),
        Image("https://x.org/a.png", "GLM-4.7 · figure 1"),
        Context(
            (
                Span("Also in: 2025-12"),
                Span(" — "),
                Span("/model GLM-4.7 2025-12", code=True, command="/model GLM-4.7 2025-12"),
            )
        ),
    )


def test_paper_card_and_commands() -> None:
    item = paper("GAD Black-Box On-Policy Distillation")
    blocks = paper_card(item).blocks
    assert blocks[1] == Context((Span("paper · 2026-01 · The Chisel · topic: 训练范式"),))
    assert isinstance(blocks[3], BulletList)
    assert [s[0].text for s in blocks[3].items] == ["场景/问题", "方法思路"]
    assert command_for(item) == "/paper GAD Black-Box On-Policy Distillation"
    assert short_title("A-Mem: Agentic Memory for LLM Agents") == "A-Mem"
    long = "Multi-Agent Debate Strategies to Enhance Requirements Engineering"
    assert short_title(long) == "Multi-Agent Debate Strategies to Enhance"
    no_link = paper("No Link", url=None)
    assert not any(
        isinstance(b, Paragraph) and b.spans[0].text == "🔗 " for b in card(no_link).blocks
    )


def test_topic_card_lists_its_papers_with_commands() -> None:
    topic = Item(
        kind=Kind.TOPIC,
        theme="chisel",
        theme_title="The Chisel",
        period="2026-01",
        title="训练范式",
        url=None,
        parts=(Part("Trend", "", "1. **交互演进**"), Part("Practice Value", "", "落地")),
        summary="",
        papers=("GAD Black-Box On-Policy Distillation", "Not Parsed: A Paper"),
    )
    message = topic_card(topic, [paper("GAD Black-Box On-Policy Distillation")])
    papers = message.blocks[-1]
    assert isinstance(papers, BulletList)
    assert papers.items[0][0].url == "https://arxiv.org/abs/2511.10643"
    assert papers.items[0][-1] == command_span("/paper GAD Black-Box On-Policy Distillation")
    assert papers.items[1][-1] == command_span("/paper Not Parsed")
    assert card(topic) == topic_card(topic, ())


def test_digest_message() -> None:
    items = [paper("Alpha: one"), paper("Beta: two")]
    message = digest_message("The Chisel", "2026-01", items, remaining=4)
    assert message.blocks[0] == Heading("The Chisel · 2026-01")
    assert message.blocks.count(Divider()) == 2
    assert message.blocks[1:4] == digest_entry(items[0])
    assert message.blocks[-1] == Context(
        (Span("4 more to come"), Span(" · preview: "), command_span("/digest chisel"))
    )
    entry = digest_entry(items[1])
    assert entry[0] == Paragraph((Span("Beta: two", bold=True, url=items[1].url),))
    assert entry[-1] == Context(
        (Span("More: "), Span("/paper Beta", code=True, command="/paper Beta"))
    )
    done = digest_message("The Chisel", "2026-01", items, remaining=0)
    assert "everything" in done.blocks[-1].spans[0].text  # type: ignore[union-attr]


def test_hand_built_long_card_renders_everywhere() -> None:
    message = model_card(long_model())
    for page in render_telegram(message):
        assert_telegram_html(page)
    for payload in render_slack(message):
        assert_slack_payload(payload)


# --- golden tests over the seed report ---------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> Report:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "reports" / "2026-01.md"
    if not path.exists():
        pytest.skip("../shared/reports is not on this machine")
    from digests.parser import parse_report

    return parse_report(path.read_text(encoding="utf-8"), path.name)


def _cards(report: Report) -> list[tuple[Item, object]]:
    papers = {p.title: p for p in report.items if p.kind is Kind.PAPER}
    return [(i, card(i, papers=[papers[t] for t in i.papers if t in papers])) for i in report.items]


def test_seed_cards_render_within_limits(seed: Report) -> None:
    for _item, message in _cards(seed):
        for page in render_telegram(message):  # type: ignore[arg-type]
            assert_telegram_html(page)
        for payload in render_slack(message):  # type: ignore[arg-type]
            assert_slack_payload(payload)


def test_seed_longest_model_splits_into_marked_parts(seed: Report) -> None:
    models = [i for i in seed.items if i.kind is Kind.MODEL]
    longest = max(models, key=lambda i: sum(len(p.text) for p in i.parts))
    message = model_card(longest)
    (whole,) = render_telegram(message)  # a real card fits one message…
    assert_telegram_html(whole)
    pages = render_telegram(message, limit=1024)  # …and splits cleanly when it must
    assert len(pages) >= 3
    for n, page in enumerate(pages, 1):
        assert_telegram_html(page, limit=1024)
        assert page.endswith(f"<i>({n}/{len(pages)})</i>")
    check_golden("seed_longest_model.telegram.html", "\n\n=====\n\n".join(pages))


def test_seed_golden(seed: Report) -> None:
    cards = _cards(seed)
    console = "\n\n#####\n\n".join(render_console(m) for _, m in cards)  # type: ignore[arg-type]
    check_golden("seed_cards.console.txt", console + "\n")
    kimi = next(m for i, m in cards if i.title == "Kimi-K2")
    check_golden("seed_kimi.telegram.html", "\n\n=====\n\n".join(render_telegram(kimi)))  # type: ignore[arg-type]
    payloads = render_slack(kimi)  # type: ignore[arg-type]
    check_golden("seed_kimi.slack.json", json.dumps(payloads, ensure_ascii=False, indent=1) + "\n")
    clay = [i for i in seed.items if i.theme == "clay"]
    digest = digest_message(clay[0].theme_title, seed.period, clay[:5], len(clay) - 5)
    check_golden("seed_digest_clay.telegram.html", "\n\n=====\n\n".join(render_telegram(digest)))


def test_a_card_names_six_other_months_at_most_newest_first() -> None:
    item = paper("GAD Black-Box On-Policy Distillation")
    months = [f"2025-{m:02d}" for m in range(12, 0, -1)]
    footer = paper_card(item, other_periods=months).blocks[-1]
    assert isinstance(footer, Context)
    assert footer.spans[0].text == (
        "Also in: 2025-12, 2025-11, 2025-10, 2025-09, 2025-08, 2025-07 and 6 more months"
    )
    commands = [s.command for s in footer.spans if s.command]
    assert commands == [f"/paper GAD Black-Box On-Policy Distillation {m}" for m in months[:6]]
    one_more = paper_card(item, other_periods=months[:7]).blocks[-1]
    assert isinstance(one_more, Context)
    assert one_more.spans[0].text.endswith("2025-07 and 1 more month")
