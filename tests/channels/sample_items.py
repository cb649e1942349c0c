"""Items for renderer and card tests: a long model row, a hostile one, and a parsed report that
tries to link outside the web and to notify people."""

from __future__ import annotations

from digests.cards import digest_message, model_card
from digests.items import Image, Item, Kind, Part
from digests.message import Message
from digests.parser import parse_report

_MECHANISM = (
    "1.04T MoE（384 experts，token 级激活 8 个，约 32B activated），并在训练后期做 "
    "long-context activation（32k→128k，YaRN）。针对 QK logits/注意力引发的训练不稳定，引入 "
    "**QK-Clip** 稳定训练；宣称 15.5T 预训练全程零 loss spike，并配合分阶段学习率/训练 recipe。"
)
_VALUE = (
    "agentic 合成流水线强调：Domain/Tool 生成 → rubric 驱动任务生成 → 多轮轨迹生成（含工具调用与"
    "状态更新）→ 质量评估与过滤 → 与真实执行环境混合以“验真 + 纠偏”，等价于把大规模 rejection "
    "sampling 工业化。需要工具接口标准化、沙箱/执行器（代码、API、检索等）、任务判定器、评测 "
    "harness、以及日志回放与失败归因；见 [tech report](https://arxiv.org/abs/2507.20534)。"
)


def long_model() -> Item:
    """A model row longer than any one Telegram message, like the seed's Kimi-K2."""
    parts = []
    for section, body in (("Mechanism", _MECHANISM), ("Capability", _VALUE), ("Value", _VALUE)):
        for n in range(1, 5):
            text = "\n".join([body] * (2 * n))
            parts.append(Part(section, f"[{section[:4]}] 要点 {n}", text))
        parts.append(
            Part(section, "TL;DR", "把“训练稳定性 + agentic 数据合成 + joint RL”串成闭环。")
        )
    return Item(
        kind=Kind.MODEL,
        theme="clay",
        theme_title="The Clay",
        period="2026-01",
        title="Kimi-K2",
        url="https://arxiv.org/abs/2507.20534",
        parts=tuple(parts),
        summary="把“训练稳定性 + agentic 数据合成 + joint RL”串成一条工程闭环。",
        images=(Image("https://example.com/imgs/k2.png", "image.png"),),
    )


HOSTILE = (
    "1 < 2 & 3 > 0, <!channel> <@U123> <http://x|y> <script>alert(1)</script> "
    "&amp; 🚀 中文测试 **粗体** `a<b>` [链接 & <x>](https://example.com/?a=1&b=<2>)"
)


def hostile_model() -> Item:
    """A model whose every field tries to inject markup or mentions."""
    return Item(
        kind=Kind.MODEL,
        theme="clay",
        theme_title="The <Clay> & Co",
        period="2026-01",
        title="<b>Evil</b> & <!here> 🚀",
        url='https://example.com/m?x=1&y="2"',
        parts=(
            Part("Mechanism", "<i>label</i> & co", HOSTILE),
            Part("Value", "", HOSTILE + "\x00\x07\x1b[31m"),
        ),
        summary=HOSTILE,
    )


def paper(title: str, url: str | None = "https://arxiv.org/abs/2511.10643", **kw: object) -> Item:
    fields: dict[str, object] = {
        "kind": Kind.PAPER,
        "theme": "chisel",
        "theme_title": "The Chisel",
        "period": "2026-01",
        "title": title,
        "url": url,
        "parts": (
            Part("Key Papers", "场景/问题", "黑盒蒸馏拿不到教师 logits。"),
            Part(
                "Key Papers", "方法思路", "用 **GAN** 式判别器给学生生成的回答打分，作为 RL 奖励。"
            ),
        ),
        "summary": "黑盒蒸馏拿不到教师 logits。",
        "topic": "训练范式",
    }
    fields.update(kw)
    return Item(**fields)  # type: ignore[arg-type]


#: A report whose text links to ``tg://``, ``javascript:``, ``slack://`` and ``mailto:``, and
#: mentions channels and people in every spelling a platform knows; one https link and one model
#: linked over https, which must stay links. Its second row styles text next to CJK characters,
#: which Slack gets as ``rich_text``.
PINGING_REPORT = """---
period: 2026-01
---

# Log 2026-01

| 模型名称 | 核心技术创新 (Mechanism) |
| --- | --- |
| [Ping-Model](tg://resolve?domain=evil) | **Hook**：[x](tg://resolve?domain=a) and \
[y](javascript:alert(1)) and [chat](slack://open?team=T1) and [mail](mailto:boss@example.com), \
hi @channel @here @everyone @someuser @**boss** <!here> <!channel> <@U123> <tg://resolve?domain=b> \
see [ok](https://example.com/ok) |
| [Good-Model](https://example.com/good) | **Hook**：视为**可缓存**的 [z](tg://resolve?domain=c) 与 @here |
"""


def pinging_messages() -> list[Message]:
    """The pinging report, through the real parser: each model's card, then their digest."""
    items = parse_report(PINGING_REPORT).items
    return [*map(model_card, items), digest_message("The Clay", "2026-01", items, remaining=0)]
