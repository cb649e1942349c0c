"""What every rendered message must satisfy, and a hypothesis strategy for neutral messages."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

from hypothesis import strategies as st

from channels.layout import utf16_len
from channels.slack.render import (
    MAX_BLOCKS,
    MAX_CONTEXT_ELEMENTS,
    MAX_HEADER_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_CHARS,
)
from digests.message import (
    Block,
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Quote,
    Span,
)

TELEGRAM_TAGS = {"b", "i", "code", "a", "blockquote", "s", "u", "pre"}
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_TAG = re.compile(r'<(/?)([a-z]+)((?: [a-z]+(?:="[^"<>]*")?)*)>')
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot);")
_SLACK_SPECIAL = re.compile(r"<https?://[^<>|\s]+\|[^<>]*>")
WORD_JOINER = "\u2060"
#: What the pinging report (sample_items.PINGING_REPORT) says, as a reader must still see it.
PINGS_AS_READ = "hi @channel @here @everyone @someuser @"


#: Spans linked outside the web, as a message built from an older parse could still hold them.
NOT_WEB = Message(
    (
        Paragraph(
            (
                Span("x", url="tg://resolve?domain=a"),
                Span(" m", url="mailto:a@b.org"),
                Span(" j", bold=True, url="javascript:alert(1)"),
            )
        ),
    )
)


def assert_no_live_mention(text: str) -> None:
    """Every ``@`` in rendered text has a word joiner after it (no platform reads a mention
    there), and no ``tg://`` is left for a client to link."""
    assert not re.search(f"@(?!{WORD_JOINER})", text), text
    assert "tg://" not in text, text


def reads(text: str) -> str:
    """Rendered text as a reader sees it: word joiners are invisible."""
    return text.replace(WORD_JOINER, "")


def assert_web_links_only(urls: list[str]) -> None:
    """Every link target a renderer produced is http(s)."""
    assert all(u.startswith(("https://", "http://")) for u in urls), urls


def assert_markdown_hygiene(card: str, good: str, digest: str) -> None:
    """The pinging sample as a Markdown renderer (Discord, Lark) shows it: non-web links keep
    their text alone, every mention is defused, https links still link."""
    assert "**Hook**: x and [y](javascript:alert(1)) and chat and mail, hi" in card
    assert PINGS_AS_READ + "**boss**" in reads(card)
    assert "<!here> <!channel> <@\u2060U123>" in card
    assert "[ok](https://example.com/ok)" in card
    assert "的 z 与 @\u2060here" in good
    assert "[**Good-Model**](https://example.com/good)" in digest


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"tag <{tag}> not allowed")
        names = [k for k, _ in attrs]
        allowed = {"a": ["href"], "blockquote": ["expandable"]}.get(tag, [])
        if any(n not in allowed for n in names):
            self.errors.append(f"attributes {names} on <{tag}>")
        if tag == "blockquote" and "blockquote" in self.stack:
            self.errors.append("nested blockquote")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def assert_telegram_html(html: str, limit: int = 4096) -> None:
    """One Telegram message: within the limit, balanced allowed tags, everything escaped."""
    assert 0 < utf16_len(html) <= limit, utf16_len(html)
    html.encode("utf-16-le")  # no lone surrogates
    checker = _TagChecker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed {checker.stack}"
    bare = _ENTITY.sub("", _TAG.sub("", html))
    assert not re.search("[<>&]", bare), bare
    assert not _CONTROL.search(html)
    # An escaped character (``&lt;``) is visible text too.
    assert unescape(_TAG.sub("", html)).strip(), "no visible text"


def assert_slack_payload(payload: dict[str, Any]) -> None:
    """One chat.postMessage payload within Block Kit's limits, with no live mention or markup."""
    blocks = payload["blocks"]
    assert 0 < len(blocks) <= MAX_BLOCKS
    assert payload["unfurl_links"] is False
    assert payload["unfurl_media"] is False
    total = 0
    texts = [payload["text"]]
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= MAX_HEADER_CHARS
            texts.append(block["text"]["text"])
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= MAX_SECTION_CHARS
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            assert 0 < len(block["elements"]) <= MAX_CONTEXT_ELEMENTS
            texts += [e["text"] for e in block["elements"]]
        elif block["type"] == "rich_text":
            # Literal text: rich_text elements are never parsed for mentions or markup.
            for element in _rich_leaves(block):
                assert element["type"] in ("text", "link")
                assert element["text"], block
                assert not _CONTROL.search(element["text"])
                total += len(element["text"])
        elif block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert 0 < len(button["text"]["text"]) <= 75
                assert 0 < len(button["value"]) <= 2000
        elif block["type"] == "image":
            # Slack's image block: a public http(s) url and a plain-text alt text (never parsed)
            assert set(block) == {"type", "image_url", "alt_text"}
            assert block["image_url"].startswith(("https://", "http://"))
            assert len(block["image_url"]) <= 3000
            assert 0 < len(block["alt_text"]) <= 2000
            assert not _CONTROL.search(block["alt_text"])
        else:
            assert block == {"type": "divider"}
    ids = [b["action_id"] for bl in blocks if bl["type"] == "actions" for b in bl["elements"]]
    assert len(ids) == len(set(ids)), ids
    for text in texts:
        total += len(text)
        assert text.strip()
        assert not _CONTROL.search(text)
        # The only `<` left are our own links; `&` only starts an entity.
        bare = _SLACK_SPECIAL.sub("", text)
        assert not re.search("[<>]", bare), bare
        assert "&" not in _ENTITY.sub("", text), text
    assert total <= MAX_MESSAGE_CHARS + len(payload["text"])


def _rich_leaves(block: dict[str, Any]) -> list[dict[str, Any]]:
    leaves, stack = [], list(block["elements"])
    while stack:
        element = stack.pop()
        if "elements" in element:
            assert element["elements"], element
            stack.extend(element["elements"])
        else:
            leaves.append(element)
    return leaves


_ALPHABET = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from("<>&\"'\n *_`|🚀👍🏽👨‍👩‍👧中文字"),
)
text_st = st.one_of(
    st.text(_ALPHABET, max_size=60),
    st.text(_ALPHABET, max_size=6).map(lambda t: t * 900),
    st.just("<!channel> & <script>x</script> 🚀 中文"),
)
url_st = st.one_of(st.none(), st.just("https://example.com/a?b=1&c=<2>"), st.text(max_size=20))
span_st = st.builds(
    Span, text_st, bold=st.booleans(), italic=st.booleans(), code=st.booleans(), url=url_st
)
spans_st = st.lists(span_st, max_size=4).map(tuple)
block_st: st.SearchStrategy[Block] = st.one_of(
    st.builds(Heading, text_st),
    st.builds(Paragraph, spans_st),
    st.builds(BulletList, st.lists(spans_st, max_size=5).map(tuple)),
    st.builds(Quote, spans_st, expandable=st.booleans()),
    st.builds(Image, st.one_of(st.just("https://example.com/i.png"), st.text()), text_st),
    st.just(Divider()),
    st.builds(Context, spans_st),
)
message_st = st.builds(Message, st.lists(block_st, max_size=70).map(tuple))
