"""parse_report: the seed report, the shipped samples, a variant in another hand, bad inputs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import digests
from digests import Kind, Report, ReportError, parse_report
from digests.summary import SENTENCE_ENDINGS, SUMMARY_LIMIT, cut_summary, one_line, plain
from digests.text import link_target

SEED = Path(__file__).parents[3] / "shared" / "reports" / "2026-01.md"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
SAMPLES = Path(digests.__file__).parent / "samples"

SEED_MODELS = [
    "Kimi-K2",
    "Minimax-M2",
    "LongCat-flash-Omni",
    "LongCat-flash-Thinking",
    "DeepSeek-OCR",
    "DeepSeek V3.2",
    "MiMo-V2-Flash",
    "GLM-4.7",
]
SEED_TOPICS = [
    "训练范式",
    "RL Reward",
    "Agent Memory",
    "Agent 架构",
    "Agent 通信与共识机制",
    "Agent 自我演进与进化",
    "个性化建模",
]


@pytest.fixture(scope="module")
def seed() -> Report:
    if not SEED.is_file():
        pytest.skip(f"seed report not available at {SEED}")
    return parse_report(SEED.read_bytes(), str(SEED))


@pytest.fixture(scope="module")
def variant() -> Report:
    return parse_report((FIXTURES / "2026-02-variant.md").read_bytes(), "2026-02-variant.md")


def by_kind(report: Report, kind: Kind) -> list[digests.Item]:
    return [i for i in report.items if i.kind is kind]


def item(report: Report, title: str, kind: Kind | None = None) -> digests.Item:
    found = [i for i in report.items if i.title == title and (kind is None or i.kind is kind)]
    assert len(found) == 1, f"{title!r}: {len(found)} items"
    return found[0]


def labels(it: digests.Item, section: str | None = None) -> list[str]:
    return [p.label for p in it.parts if section is None or p.section == section]


def md(*rows: str, front: str = "period: 2026-01") -> str:
    """A small report around the given Markdown."""
    return f"---\n{front}\n---\n\n# Log 2026-01\n\n" + "\n".join(rows) + "\n"


MODEL_HEAD = "| 模型名称 | 核心技术创新 (Mechanism) |\n| --- | --- |"


# --- the seed -----------------------------------------------------------------------------


def test_seed_counts_and_titles(seed: Report) -> None:
    assert seed.period == "2026-01"
    assert seed.title == "🗓️ Intelligence Log: 2026-01"
    models = by_kind(seed, Kind.MODEL)
    assert [m.title for m in models] == SEED_MODELS
    assert {m.theme for m in models} == {"clay"}
    assert [t.title for t in by_kind(seed, Kind.TOPIC)] == SEED_TOPICS
    papers = by_kind(seed, Kind.PAPER)
    assert len(papers) == 23
    per_topic = {t: sum(1 for p in papers if p.topic == t) for t in SEED_TOPICS}
    assert list(per_topic.values()) == [3, 2, 3, 3, 3, 3, 6]
    assert {p.theme for p in papers if p.topic in ("训练范式", "RL Reward")} == {"chisel"}
    assert {p.theme for p in papers if p.topic not in ("训练范式", "RL Reward")} == {"hands"}
    insights = by_kind(seed, Kind.INSIGHT)
    assert [i.title for i in insights] == ["Crucial Insight", "Best Implementation"]
    assert {i.theme for i in insights} == {"highlights"}
    assert len(seed.items) == 8 + 23 + 7 + 2 + 1
    assert seed.warnings == ()


def test_seed_themes(seed: Report) -> None:
    themes = {t.slug: t.title for t in seed.themes}
    assert list(themes) == ["highlights", "clay", "chisel", "hands"]
    assert themes["clay"] == "基座模型追踪 (The Clay)"
    assert themes["chisel"] == "Post-Training (The Chisel)"
    assert themes["hands"] == "Agent & Personalization (The Hands)"
    for topic in by_kind(seed, Kind.TOPIC):
        assert topic.theme == ("chisel" if topic.title in ("训练范式", "RL Reward") else "hands")


def test_seed_radar(seed: Report) -> None:
    [radar] = by_kind(seed, Kind.RADAR)
    assert radar.theme == "highlights"
    assert radar.title == "Industry Radar"
    assert radar.summary.startswith("Summary of January 2026 industry radar")
    assert radar.parts[0].text == radar.images[0].alt == radar.summary
    assert radar.images[0].url.endswith("20260202143442963.png")
    assert radar.line == 11
    assert radar.position == 0


def test_seed_report_fields(seed: Report) -> None:
    assert seed.sha256 == hashlib.sha256(SEED.read_bytes()).hexdigest()
    assert seed.meta == {
        "period": "2026-01",
        "type": "Monthly Report",
        "tags": ["Trends", "Learning Log"],
    }
    json.dumps(seed.meta)
    assert [i.position for i in seed.items] == list(range(len(seed.items)))
    lines = [i.line for i in seed.items]
    assert lines == sorted(lines)
    assert item(seed, "Kimi-K2").line == 21
    assert item(seed, "GLM-4.7").line == 28
    assert item(seed, "On policy Distillation").line == 34
    assert item(seed, "Crucial Insight").line == 51
    keys = [i.key for i in seed.items]
    assert len(keys) == len(set(keys))


def test_seed_str_and_bytes_agree(seed: Report) -> None:
    again = parse_report(SEED.read_text(encoding="utf-8"), str(SEED))
    assert again.items == seed.items
    assert again.sha256 == seed.sha256


def test_kimi_parts_and_tldr(seed: Report) -> None:
    kimi = item(seed, "Kimi-K2")
    assert kimi.url == "https://arxiv.org/abs/2507.20534"
    assert labels(kimi, "Mechanism") == [
        "[Infra] 超大 MoE + 长上下文训练形态",
        "[Data] “token utility”导向的数据增效",
        "[Train] 稳定性突破：MuonClip（Muon + QK-Clip）",
        "TL;DR",
    ]
    assert labels(kimi, "Capability") == [
        "特点：agentic / 工具使用 / 软件工程任务强",
        "特点：多步交互式任务的训练闭环",
        "代价/约束",
    ]
    assert labels(kimi, "Value") == [
        "可复用 post-training 路线",
        "数据合成与筛选配方",
        "落地依赖与成本",
        "迁移结论",
    ]
    tldr = next(p for p in kimi.parts if p.label == "TL;DR")
    assert kimi.summary == tldr.text
    assert kimi.summary.startswith("把“训练稳定性 + agentic 数据合成 + joint RL”串成一条工程闭环")
    first = kimi.parts[0].text
    assert first.startswith("1.04T MoE（384 experts")
    assert first.endswith("（32k→128k，YaRN）。")
    cap = kimi.parts[4].text
    assert "**non-thinking setting**" in cap  # bold kept as Markdown
    assert len(kimi.images) == 2
    assert "Kimi-K2" in kimi.aliases


def test_ascii_colon_tldr_and_label_with_br(seed: Report) -> None:
    minimax = item(seed, "Minimax-M2")
    assert "TL;DR" in labels(minimax)  # `**TL;DR**:` with an ASCII colon
    assert minimax.summary.startswith("用“230B MoE 但仅 10B 激活”的计算形态")
    cost = next(p for p in minimax.parts if p.label == "代价/约束")
    # `**代价/约束**： <br> **…敏感**：…` — the inline bold line belongs to the label above it
    assert cost.text.startswith("**对“思考标记/历史消息格式”敏感**：")
    assert "\n**优势更依赖工具/环境**" in cost.text
    glm = item(seed, "GLM-4.7")
    assert "`reasoning_content`" in next(p.text for p in glm.parts if p.label == "代价/约束")


def test_no_markup_leaks_into_parts(seed: Report) -> None:
    for it in seed.items:
        for part in it.parts:
            assert "<br" not in part.text.lower(), (it.title, part.label)
            assert "![" not in part.text, (it.title, part.label)
            assert part.text == part.text.strip()
            assert "  " not in part.text
            assert not part.label.endswith((":", "：")), part.label


def test_seed_papers(seed: Report) -> None:
    gad = item(seed, "GAD Black-Box On-Policy Distillation")
    assert gad.kind is Kind.PAPER
    assert gad.topic == "训练范式"
    assert gad.theme == "chisel"
    assert gad.url == "https://arxiv.org/abs/2511.10643"
    assert labels(gad) == ["场景/问题", "方法思路"]
    assert gad.parts[0].text.startswith("针对 SOTA 模型闭源")
    assert gad.summary == gad.parts[0].text
    assert "GAD" in gad.aliases
    assert "A-Mem" in item(seed, "A-Mem: Agentic Memory for LLM Agents").aliases
    debate = "Breaking Mental Set to Improve Reasoning through Diverse Multi-Agent Debate"
    assert "DMAD" in item(seed, debate).aliases
    assert (
        "RLHI"
        in item(seed, "The Era of Real-World Human Interaction: RL from User Conversations").aliases
    )
    assert "ToolMaker" in item(seed, "LLM Agents Making Agent Tools").aliases
    assert (
        "SAGE"
        in item(seed, "Reinforcement Learning for Self-Improving Agent with Skill Library").aliases
    )
    g_memory = item(seed, "G-Memory")
    assert len(g_memory.images) == 3
    assert labels(g_memory) == ["场景/问题", "方法思路"]
    assert "**双向检索**" in g_memory.parts[1].text  # inline labels stay inside 方法思路
    for paper in by_kind(seed, Kind.PAPER):
        assert paper.url
        assert paper.url.startswith("http")
        assert labels(paper) == ["场景/问题", "方法思路"], paper.title
        assert len(paper.aliases) == len({a.casefold() for a in paper.aliases})


def test_seed_topics(seed: Report) -> None:
    topic = item(seed, "训练范式", Kind.TOPIC)
    assert topic.papers == (
        "On policy Distillation",
        "GAD Black-Box On-Policy Distillation",
        "DeepSeekMath-V2",
    )
    assert [p.section for p in topic.parts] == ["Trend", "Practice Value"]
    assert topic.parts[0].text.startswith("1. **交互演进**：\n从固定数据集")
    assert len(item(seed, "个性化建模", Kind.TOPIC).papers) == 6


def test_seed_insights(seed: Report) -> None:
    crucial = item(seed, "Crucial Insight")
    assert crucial.parts[0].label == "Crucial Insight"
    text = crucial.parts[0].text
    assert text.startswith("本月最大的认知变化是：**Post-train 才是“可复利的主战场”**")
    assert "\n1) **On-Policy Distillation**" in text
    assert "闭环系统资产" in text  # the nested lines are kept
    best = item(seed, "Best Implementation")
    assert best.parts[0].text.startswith("**Clawbot / OpenClaw（Clawbot 系）**")


# --- summaries ----------------------------------------------------------------------------


def _source_texts(it: digests.Item) -> list[str]:
    def norm(s: str) -> str:
        return one_line(plain(s)).replace("`", "").replace("*", "")

    return [norm(p.text) for p in it.parts] + [norm(it.title)] + [norm(i.alt) for i in it.images]


def check_summary(it: digests.Item) -> None:
    s = it.summary
    assert s, it.title
    assert s == s.strip(), it.title
    assert len(s) <= SUMMARY_LIMIT + 1, (it.title, len(s))
    for junk in ("](", "**", "\n"):
        assert junk not in s, (it.title, s)
    assert s.count("[") == s.count("]"), (it.title, s)
    flat = s.replace("`", "").replace("*", "")
    sources = _source_texts(it)
    if s.endswith("…"):
        head = flat[:-1]
        src = next(t for t in sources if t.startswith(head))
        nxt = src[len(head) : len(head) + 1]
        assert not (head[-1:].isascii() and head[-1:].isalnum() and nxt.isascii() and nxt.isalnum())
    else:
        assert s.endswith(SENTENCE_ENDINGS) or flat in sources, (it.title, s)
        assert any(t.startswith(flat) for t in sources), (it.title, s)


def test_every_seed_summary(seed: Report) -> None:
    for it in seed.items:
        check_summary(it)


@pytest.mark.parametrize("name", ["2025-12.md", "2026-02.md"])
def test_samples(name: str) -> None:
    report = parse_report((SAMPLES / name).read_bytes(), name)
    assert report.period == name.removesuffix(".md")
    assert report.warnings == ()
    assert [t.slug for t in report.themes] == ["highlights", "clay", "chisel", "hands"]
    models = by_kind(report, Kind.MODEL)
    assert 4 <= len(models) <= 5
    assert len(by_kind(report, Kind.RADAR)) == 1
    assert [i.title for i in by_kind(report, Kind.INSIGHT)] == [
        "Crucial Insight",
        "Best Implementation",
    ]
    topics = by_kind(report, Kind.TOPIC)
    assert [t.theme for t in topics][:3] == ["chisel", "chisel", "hands"]
    assert {t.theme for t in topics[3:]} == {"hands"}
    assert 4 <= len(topics) <= 5
    for topic in topics:
        assert 2 <= len(topic.papers) <= 3
    for it in report.items:
        check_summary(it)
        if it.kind is Kind.MODEL:
            assert "TL;DR" in labels(it)
            assert it.url
        if it.kind is Kind.PAPER:
            assert labels(it) == ["场景/问题", "方法思路"]
    assert 6_000 <= len((SAMPLES / name).read_bytes()) <= 15_000


def test_samples_share_a_model_with_the_seed() -> None:
    titles = {
        m.title
        for name in ("2025-12.md", "2026-02.md")
        for m in by_kind(parse_report((SAMPLES / name).read_bytes(), name), Kind.MODEL)
    }
    assert "GLM-4.7" in titles
    assert "GLM-4.6" in titles


def test_sample_with_awkward_characters() -> None:
    report = parse_report((SAMPLES / "2026-02.md").read_bytes(), "2026-02.md")
    best = item(report, "Best Implementation")
    text = best.parts[0].text
    for needle in ("<", "&", "<!channel>", "<script>", "🛡️", "安全渲染层"):
        assert needle in text
        assert needle in best.summary


def test_cut_summary_rules() -> None:
    long_cjk = "这是一段没有任何句号的很长的中文描述" * 20
    out = cut_summary(long_cjk)
    assert out.endswith("…")
    assert len(out) <= SUMMARY_LIMIT + 1
    words = " ".join(["tokenization"] * 40)
    out = cut_summary(words)
    assert out.endswith("tokenization…")
    assert (
        cut_summary("1. 第一点：短句。2. 第二点：也很短。3. 第三点。")
        == "1. 第一点：短句。2. 第二点：也很短。"
    )
    assert (
        cut_summary("First sentence is here. Second one follows! Third.")
        == "First sentence is here. Second one follows!"
    )
    assert cut_summary("用分号隔开的长句" * 10 + "；" + "后半句" * 60).endswith("；")
    assert cut_summary("A TL;DR without a final stop", whole=True) == "A TL;DR without a final stop"
    assert plain("see [the paper](https://x.org/a_(b)) and **bold**") == "see the paper and bold"


def test_summary_strips_links() -> None:
    report = parse_report(
        md(
            MODEL_HEAD,
            "| [M-1](https://m.org) | **Idea**：Builds on [Mamba](https://arxiv.org/abs/2312.00752) "
            "layers. It is fast. |",
        )
    )
    m = item(report, "M-1")
    assert (
        m.parts[0].text == "Builds on [Mamba](https://arxiv.org/abs/2312.00752) layers. It is fast."
    )
    assert m.summary == "Builds on Mamba layers. It is fast."


# --- labels -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "label", "text"),
    [
        ("**TL;DR**：中文冒号。", "TL;DR", "中文冒号。"),
        ("**TL;DR**: ascii colon.", "TL;DR", "ascii colon."),
        ("**特点：agentic / 工具使用**：强。", "特点：agentic / 工具使用", "强。"),
        ("**Crucial Insight:** inside the bold.", "Crucial Insight", "inside the bold."),
        ("**代价/约束**：<br> 下一行。", "代价/约束", "下一行。"),
        ("![img](https://i.org/a.png) **[Infra] 图在前**：正文。", "[Infra] 图在前", "正文。"),
        ("**Bold but no colon** then text.", "", "**Bold but no colon** then text."),
        ("1. **Numbered**：not a label.", "", "1. **Numbered**：not a label."),
    ],
)
def test_labels(cell: str, label: str, text: str) -> None:
    report = parse_report(md(MODEL_HEAD, f"| X-1 | {cell} |"))
    [part] = item(report, "X-1").parts
    assert (part.label, part.text) == (label, text)


def test_paragraphs_split_at_double_br() -> None:
    report = parse_report(
        md(
            MODEL_HEAD,
            "| X-1 | **A**：one.<br><br>**B**：two.<br>still two.<br><br>no label joins B. |",
        )
    )
    parts = item(report, "X-1").parts
    assert [(p.label, p.text) for p in parts] == [
        ("A", "one."),
        ("B", "two.\nstill two.\n\nno label joins B."),
    ]


def test_inline_markdown_kept_in_text() -> None:
    report = parse_report(
        md(MODEL_HEAD, r"| X-1 | **L**：*em* `a\|b` [t](https://t.org) <kbd>K</kbd> a  \| b 😀 |")
    )
    [part] = item(report, "X-1").parts
    assert part.text == "*em* `a|b` [t](https://t.org) <kbd>K</kbd> a | b 😀"


# --- the variant --------------------------------------------------------------------------


def test_variant_is_crlf_with_bom() -> None:
    raw = (FIXTURES / "2026-02-variant.md").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw


def test_variant_report(variant: Report) -> None:
    assert variant.period == "2026-02"
    assert variant.title == "📒 Field Notes — February 2026"
    assert variant.meta["tags"] == ["Field Notes", "Experiments"]
    assert variant.meta["published"] == "2026-03-02"  # a YAML date, made JSON-friendly
    json.dumps(variant.meta)
    assert [t.slug for t in variant.themes] == [
        "highlights",
        "clay",
        "chisel",
        "eyes",
        "安全与对齐",
    ]
    themes = {t.slug: t.title for t in variant.themes}
    assert themes["eyes"] == "多模态感知 (The Eyes)"
    assert themes["安全与对齐"] == "安全与对齐"


def test_variant_models(variant: Report) -> None:
    assert [m.title for m in by_kind(variant, Kind.MODEL)] == [
        "Qwen3 (235B-A22B)",
        "Llama 4 (Maverick)",
        "Tiny-Coder",
    ]
    qwen = item(variant, "Qwen3 (235B-A22B)")
    assert qwen.url == "https://example.org/qwen3"
    assert "Qwen3" in qwen.aliases
    assert [p.section for p in qwen.parts] == ["Value", "Value", "Mechanism"]  # reordered columns
    assert "latency | cost" in qwen.parts[0].text  # escaped pipe
    assert qwen.summary == "A dependable generalist for offline pipelines."
    assert "🚀" in qwen.parts[2].text
    assert qwen.line == 27  # CRLF and BOM do not shift lines
    llama = item(variant, "Llama 4 (Maverick)")
    assert llama.url is None
    assert llama.parts[1].text.endswith("<sup>†</sup>")  # raw HTML kept as text
    assert item(variant, "Tiny-Coder").url == "https://example.org/tiny"  # the first one wins


def test_variant_topics_and_papers(variant: Report) -> None:
    topic = item(variant, "Preference Tuning")
    assert [p.section for p in topic.parts] == ["Practice Value", "Trend", "Risks"]
    assert topic.papers == ("Direct Preference Optimization", "Self-Refine Agents Revisited")
    dpo = item(variant, "Direct Preference Optimization")
    assert "DPO" in dpo.aliases
    assert labels(dpo) == ["场景/问题", "方法思路"]
    unlinked = item(variant, "Self-Refine Agents Revisited")
    assert unlinked.url is None
    assert unlinked.topic == "Preference Tuning"
    assert labels(unlinked) == ["场景/问题", "方法思路"]
    screen = item(variant, "ScreenAgent-X")
    assert screen.theme == "eyes"
    assert screen.topic == "Screen Reading"
    assert item(variant, "Screen Reading").parts[0].text.endswith("<b>Pixels</b> are the API now.")
    assert item(variant, "AutoRed").theme == "安全与对齐"


def test_variant_highlights_and_warnings(variant: Report) -> None:
    [radar] = by_kind(variant, Kind.RADAR)
    assert radar.summary.startswith("Radar for February")
    insights = by_kind(variant, Kind.INSIGHT)
    assert [i.title for i in insights] == ["Crucial Insight", "Best Implementation"]
    assert insights[0].parts[0].text.endswith("\n- Retrieval becomes a cache, not a crutch.")
    messages = {w.line: w.message for w in variant.warnings}
    assert "paragraph not placed" in messages[15]
    assert "duplicate model 'Tiny-Coder'" in messages[30]
    assert "table not recognized" in messages[52]
    assert "without a bold label" in messages[58]
    assert len(variant.warnings) == 4
    for it in variant.items:
        check_summary(it)


def test_extra_cells_warn() -> None:
    report = parse_report(md(MODEL_HEAD, "| X-1 | **A**：a. | stray |"))
    assert [w.line for w in report.warnings] == [9]
    assert "extra cells" in report.warnings[0].message


def test_heading_slugs() -> None:
    topic = "| 主题 | 整体趋势/演进 | Key Papers |\n| --- | --- | --- |\n| T | x. | [P](https://p.org) <br> **场景/问题**：y |"
    report = parse_report(
        md("### 2. Post-Training Plus", topic, "### 三、数据工程", topic.replace("| T |", "| U |"))
    )
    assert [(t.slug, t.title) for t in report.themes] == [
        ("post-training-plus", "Post-Training Plus"),
        ("数据工程", "数据工程"),
    ]


# --- periods ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("front", "period"),
    [
        ("period: 2026-01-15", "2026-01"),
        ("period: 202603", "2026-03"),
        ("period: '2026/4'", "2026-04"),
    ],
)
def test_period_values(front: str, period: str) -> None:
    assert parse_report(md(MODEL_HEAD, "| X-1 | t. |", front=front)).period == period


def test_period_from_h1_and_filename() -> None:
    body = f"{MODEL_HEAD}\n| X-1 | t. |\n"
    assert parse_report(f"# Log for 2025-11\n\n{body}").period == "2025-11"
    assert parse_report(f"# Log\n\n{body}", "uploads/2025-10.md").period == "2025-10"
    with pytest.raises(ReportError, match="no period"):
        parse_report(f"# Log\n\n{body}", "report.md")


# --- bad inputs ---------------------------------------------------------------------------


def test_empty() -> None:
    for data in ((FIXTURES / "empty.md").read_bytes(), "", "  \n\n", "\ufeff", b"\xef\xbb\xbf\r\n"):
        with pytest.raises(ReportError, match="empty"):
            parse_report(data)


def test_broken_yaml() -> None:
    with pytest.raises(ReportError, match="front matter is not valid YAML") as err:
        parse_report((FIXTURES / "broken-yaml.md").read_bytes(), "broken-yaml.md")
    assert err.value.line is not None
    assert 2 <= err.value.line <= 5
    assert str(err.value).startswith(f"broken-yaml.md:{err.value.line}: ")


@pytest.mark.parametrize("front", ["- a\n- b", "just a string", "42"])
def test_front_matter_not_a_mapping(front: str) -> None:
    with pytest.raises(ReportError, match="mapping") as err:
        parse_report(md(MODEL_HEAD, "| X-1 | t. |", front=front))
    assert err.value.line == 1


def test_unclosed_front_matter() -> None:
    with pytest.raises(ReportError, match="never closed") as err:
        parse_report("---\nperiod: 2026-01\n\n# Log\n")
    assert err.value.line == 1


def test_no_items() -> None:
    with pytest.raises(ReportError, match="no items found: expected tables of models or topics"):
        parse_report((FIXTURES / "no-items.md").read_bytes(), "no-items.md")


@pytest.mark.parametrize(
    "data",
    [
        (FIXTURES / "binary.bin").read_bytes(),
        b"caf\xe9 2026-01",
        "text with a NUL \x00 in it",
        "surrogate \ud800",
    ],
)
def test_not_utf8(data: str | bytes) -> None:
    with pytest.raises(ReportError, match="is not UTF-8 text"):
        parse_report(data, "upload")


# --- whatever the input -------------------------------------------------------------------

FRAGMENTS = [
    "---\n",
    "period: 2026-01\n",
    "# Log 2026-01\n",
    "## 🔭 The Observatory (Radar)\n",
    "### 1. X (The Clay)\n",
    "| 模型名称 | A (Mechanism) |\n",
    "| 主题 | 趋势 | Key Papers |\n",
    "| --- | --- |\n",
    "| --- | --- | --- |\n",
    "| [M](http://m) | **L**：x<br><br>**TL;DR**: y |\n",
    "| T | a | [P](u) <br> **场景/问题**：<br> z |\n",
    "![alt](http://i.png)\n",
    "* **Crucial Insight:** yes\n",
    "- plain\n",
    "  - nested\n",
    "<br>",
    "**",
    "\\|",
    "|",
    "`",
    "[",
    "](",
    ")",
    "：",
    ":",
    "\n",
    "\r\n",
    "\ufeff",
    "😀",
    "中文",
    "<script>",
    "> quote\n",
    "```\ncode\n```\n",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join),
        st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(lambda xs: "".join(xs).encode()),
    )
)
def test_only_report_error(data: str | bytes) -> None:
    try:
        report = parse_report(data, "fuzz.md")
    except ReportError as exc:
        message = str(exc)
    else:
        message = ""
        assert report.items
        assert re.fullmatch(r"\d{4}-\d{2}", report.period)
        json.dumps(report.meta)
        assert all(it.summary for it in report.items)
    assert "internal parser error" not in message


def test_bidi_overrides_and_zero_width_characters_are_dropped() -> None:
    # A right-to-left override would make "X-1 txt.exe" read backwards; a zero-width space hides
    # inside a name so that /model X-1 would not find it. The zero-width joiner of 👨‍💻 stays.
    report = parse_report(
        md(
            MODEL_HEAD,
            "| X\u200b-1\u2066 | **Hook**：run \u202egnp.exe\u202c now\u200f 👨\u200d💻 |",
        )
    )
    [part] = item(report, "X-1").parts
    assert (part.label, part.text) == ("Hook", "run gnp.exe now 👨\u200d💻")


@pytest.mark.parametrize(
    "url",
    [
        "tg://resolve?domain=x",
        "javascript:alert(1)",
        "mailto:team@example.com",
        "file:///etc/passwd",
        "data:text/html,x",
        "slack://open?team=T1",
        "ftp://example.com/f",
        "https:///no-host",
        "https://exa mple.com",
        "http://[broken",
        "",
    ],
)
def test_only_http_links_are_targets(url: str) -> None:
    assert link_target(url) is None


def test_http_links_are_kept_as_written() -> None:
    assert link_target(" HTTPS://Example.com/a?b=1&c=(2) ") == "HTTPS://Example.com/a?b=1&c=(2)"
    assert link_target("http://example.com") == "http://example.com"


def test_a_name_linked_outside_the_web_keeps_only_its_text() -> None:
    report = parse_report(
        md(
            MODEL_HEAD,
            "| [X-1](tg://resolve?domain=x) | **Hook**：[y](slack://open) and [z](https://z.org) |",
            "| [X-2](https://x.org/2) | **Hook**：ok |",
        )
    )
    assert item(report, "X-1").url is None
    assert item(report, "X-2").url == "https://x.org/2"
    # the part keeps its Markdown; the cards and pages drop the target when they show it
    [part] = item(report, "X-1").parts
    assert part.text == "[y](slack://open) and [z](https://z.org)"
