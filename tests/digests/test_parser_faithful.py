"""Reports as their authors wrote them: LaTeX, figures, per-month highlights, another hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from digests import Kind, Report, parse_report
from digests.cards import card
from digests.message import BulletList, Image, Paragraph, Quote

SEED = Path(__file__).parents[3] / "shared" / "reports" / "2026-01.md"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"


@pytest.fixture(scope="module")
def seed() -> Report:
    if not SEED.is_file():
        pytest.skip(f"seed report not available at {SEED}")
    return parse_report(SEED.read_bytes(), str(SEED))


@pytest.fixture(scope="module")
def hand() -> Report:
    path = FIXTURES / "2026-03-another-hand.md"
    return parse_report(path.read_bytes(), path.name)


def one(report: Report, title: str) -> object:
    found = [i for i in report.items if i.title == title]
    assert len(found) == 1, f"{title!r}: {len(found)} items"
    return found[0]


def texts(report: Report) -> list[str]:
    out = [report.title]
    for it in report.items:
        out += [it.title, it.summary, *(p.text for p in it.parts), *(i.alt for i in it.images)]
    return out


# --- LaTeX ------------------------------------------------------------------------------------


def test_seed_latex_reads_as_unicode(seed: Report) -> None:
    assert not [t for t in texts(seed) if "$\\" in t or "\\rightarrow" in t or "\\text{" in t]
    rluf = one(seed, "Reinforcement Learning from User Feedback")
    method = next(p for p in rluf.parts if p.label == "方法思路")  # type: ignore[attr-defined]
    assert "训练奖励模型 P[Love]，" in method.text
    thinking = one(seed, "LongCat-flash-Thinking")
    value = " ".join(p.text for p in thinking.parts if p.section == "Value")  # type: ignore[attr-defined]
    assert "Reasoning SFT) → Domain-Parallel RL" in value


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (r"cost $O(\log n)$ per step", "cost O(log n) per step"),
        (r"$\alpha$ and $\le 5$", "α and ≤ 5"),
        ("prices $5 and $10 stay", "prices $5 and $10 stay"),
        (r"display $$\frac{a}{b}$$ math", "display a/b math"),
    ],
)
def test_latex_in_a_cell(cell: str, text: str) -> None:
    report = parse_report(
        "---\nperiod: 2026-04\n---\n\n### Models (The Clay)\n\n| Model | Mechanism |\n"
        f"| --- | --- |\n| M-1 | **Idea**: {cell} |\n"
    )
    assert report.items[0].parts[0].text == text


# --- another hand -----------------------------------------------------------------------------


def test_another_hand_items(hand: Report) -> None:
    assert hand.warnings == ()
    assert [(i.kind.value, i.theme, i.title) for i in hand.items] == [
        ("radar", "highlights", "Industry Radar"),
        ("model", "clay", "Orca-7"),
        ("topic", "chisel", "Preference Data"),
        ("paper", "chisel", "Self-Rewarding Language Models"),
        ("paper", "engine", "vLLM V1"),
        ("paper", "engine", "SGLang"),
        ("paper", "engine", "Medusa"),
        ("insight", "highlights", "Crucial Insight"),
        ("insight", "highlights", "Best Implementation"),
    ]
    engine = [i for i in hand.items if i.theme == "engine"]
    assert {i.theme_title for i in engine} == {"Inference & Serving (The Engine)"}
    for paper in engine:
        assert [p.label for p in paper.parts] == ["Problem", "Approach"]
    assert one(hand, "vLLM V1").url == "https://github.com/vllm-project/vllm"  # type: ignore[attr-defined]
    assert one(hand, "SGLang").url is None  # type: ignore[attr-defined]
    sglang = one(hand, "SGLang")
    assert sglang.parts[1].text.endswith("with a cost of O(log n) per lookup.")  # type: ignore[attr-defined]
    # the loose item's second paragraph (not indented as a bullet) still belongs to Medusa
    medusa = one(hand, "Medusa")
    assert medusa.parts[1].text.startswith("Extra decoding heads")  # type: ignore[attr-defined]


def test_english_headings_and_reference_links(hand: Report) -> None:
    orca = one(hand, "Orca-7")
    assert orca.url == "https://example.org/orca-7"  # type: ignore[attr-defined]
    assert [p.section for p in orca.parts] == [  # type: ignore[attr-defined]
        "Mechanism",
        "Mechanism",
        "Mechanism",
        "Capability",
        "Value",
    ]
    assert orca.summary == "A small model that reads long files cheaply."  # type: ignore[attr-defined]
    topic = one(hand, "Preference Data")
    assert [p.section for p in topic.parts] == ["Trend", "Practice Value"]  # type: ignore[attr-defined]
    assert topic.papers == ("Self-Rewarding Language Models",)  # type: ignore[attr-defined]
    srm = one(hand, "Self-Rewarding Language Models")
    assert srm.url == "https://arxiv.org/abs/2401.10020"  # type: ignore[attr-defined]
    assert one(hand, "Medusa").url == "https://arxiv.org/abs/2401.10774"  # type: ignore[attr-defined]


def test_paper_summary_is_its_problem_not_the_remark_after_its_link(hand: Report) -> None:
    srm = one(hand, "Self-Rewarding Language Models")
    assert [p.label for p in srm.parts] == ["", "Problem", "Approach"]  # type: ignore[attr-defined]
    assert srm.parts[0].text == "(ICML oral, worth a read)"  # type: ignore[attr-defined]
    assert srm.summary == (  # type: ignore[attr-defined]
        "Human preference labels are slow and cap the model at the labellers' level."
    )


def test_a_paper_without_problem_is_summed_up_by_its_approach() -> None:
    report = parse_report(
        "---\nperiod: 2026-04\n---\n\n### Agents (The Hands)\n\n"
        "- [Tool Maker](https://arxiv.org/abs/2502.11705) (a remark)\n"
        "  **Approach:** Agents write their own tools from a repository's README.\n"
    )
    assert report.items[0].summary == "Agents write their own tools from a repository's README."


def test_what_truly_has_no_place_still_warns_with_its_line() -> None:
    report = parse_report(
        "---\nperiod: 2026-04\n---\n\n### Agents (The Hands)\n\n"
        "- [Tool Maker](https://arxiv.org/abs/2502.11705)\n"
        "  **Problem:** Tools are written by hand.\n"
        "\n"
        "**Approach**: Agents write their own tools.\n"
        "\n"
        "A stray remark with no label.\n"
        "\n"
        "- just a thought\n"
    )
    assert [p.label for p in report.items[0].parts] == ["Problem", "Approach"]
    assert [w.line for w in report.warnings] == [12, 14]
    assert "stray remark" in report.warnings[0].message
    assert "without a bold label" in report.warnings[1].message


# --- figures stay with their part -------------------------------------------------------------


def test_seed_figures_stay_with_their_part(seed: Report) -> None:
    kimi = one(seed, "Kimi-K2")
    with_figures = [(p.section, p.label) for p in kimi.parts if p.images]  # type: ignore[attr-defined]
    assert with_figures == [
        ("Mechanism", "[Train] 稳定性突破：MuonClip（Muon + QK-Clip）"),
        ("Capability", "特点：agentic / 工具使用 / 软件工程任务强"),
    ]
    gmem = one(seed, "G-Memory")
    method = [p for p in gmem.parts if p.images]  # type: ignore[attr-defined]
    assert [p.label for p in method] == ["方法思路"]
    assert len(method[0].images) == 3
    # every figure of an item is in one of its parts
    for it in seed.items:
        in_parts = [i for p in it.parts for i in p.images]
        assert set(in_parts) == set(it.images), it.title


def test_card_shows_a_figure_right_after_its_part(hand: Report) -> None:
    orca = one(hand, "Orca-7")
    blocks = card(orca).blocks  # type: ignore[arg-type]
    at = next(n for n, b in enumerate(blocks) if isinstance(b, Image))
    assert blocks[at] == Image("https://example.org/img/orca-arch.png", "Orca-7 architecture")
    before = blocks[at - 1]
    assert isinstance(before, BulletList | Paragraph | Quote)
    text = "".join(
        s.text for s in (before.items[-1] if isinstance(before, BulletList) else before.spans)
    )
    assert "linear cost in context length" in text
    assert sum(isinstance(b, Image) for b in blocks) == 1


# --- highlights are each month's own ----------------------------------------------------------


def test_highlight_keys_carry_the_period(hand: Report) -> None:
    feb = parse_report(
        "---\nperiod: 2026-02\n---\n\n## Fresh Sketches\n\n"
        "* **Crucial Insight:** February's own.\n\n## The Observatory (Industry Radar)\n\n"
        "![February radar](https://example.org/r.png)\n"
    )
    march = {i.kind: i.key for i in reversed(hand.items) if i.kind in (Kind.INSIGHT, Kind.RADAR)}
    february = {i.kind: i.key for i in reversed(feb.items)}
    assert march[Kind.INSIGHT] == "insight:2026-03:crucialinsight"
    assert february[Kind.INSIGHT] == "insight:2026-02:crucialinsight"
    assert march[Kind.RADAR] != february[Kind.RADAR]
    # a model's key does not: the same model in two months is one item seen twice
    # (known by its own link where it has one, else by its name)
    assert one(hand, "Orca-7").key == "model:example.org/orca-7"  # type: ignore[attr-defined]
    assert one(hand, "Orca-7").name_key == "model:orca7"  # type: ignore[attr-defined]
