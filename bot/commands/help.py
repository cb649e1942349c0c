"""/help and /start: every command this chat may use, lookups first."""

from __future__ import annotations

from bot.commands.core import Request, command
from bot.i18n import N_
from digests.message import Context, Heading, Message, Paragraph, Span, command_span, spans

# Lookups first, then digests, then the rest: the order people need them in.
HELP_ORDER = (
    "model",
    "paper",
    "topic",
    "search",
    "themes",
    "latest",
    "highlights",
    "reports",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "digest",
    "feeds",
    "watch",
    "watches",
    "unwatch",
    "top",
    "lang",
    "help",
    "status",
)


@command(
    "help",
    usage="/help",
    example="/help",
    description=N_("what I can do"),
    aliases=("start",),
)
def help_command(request: Request) -> Message:
    blocks: list[Heading | Paragraph | Context] = [
        Heading("digestbot"),
        Paragraph(
            spans(
                request._(
                    "I bring the monthly AI intelligence report to this chat: weekly digests "
                    "per theme, and any model, paper or topic on demand."
                )
            )
        ),
    ]
    order = {name: n for n, name in enumerate(HELP_ORDER)}
    for spec in sorted(request.commands, key=lambda s: (order.get(s.name, len(order)), s.name)):
        if (spec.admin_only and not request.is_bot_admin) or not spec.menu:
            continue
        example = (
            (Span(request._("e.g. ")), command_span(spec.example))
            if spec.example != spec.usage
            else ()
        )
        # Descriptions end without a period; one is added here, once.
        what = request._(spec.description).rstrip("。.")
        period = request._(". ")
        blocks.append(
            Paragraph((command_span(request._(spec.usage)), Span(f" — {what}{period}"), *example))
        )
    blocks.append(
        Context(
            spans(
                request._(
                    "A MONTH is written 2026-01, 2026/01, 202601, Jan 2026 or 2026年1月, e.g. "
                ),
                command_span("/model Kimi-K2-Thinking 2025-12"),
                request._("."),
            )
        )
    )
    blocks.append(
        Context(
            spans(
                request._(
                    "Watches: after {watch} this chat is told whenever a new report has items "
                    "that {search} finds. Your 👍 / 👎 under digest entries order this chat's "
                    "next digests: items like the ones you liked come first."
                ).format(
                    watch=request.typed("/watch 长上下文"), search=request.typed("/search 长上下文")
                )
            )
        )
    )
    footer = request._("Admins upload a new report by sending the .md file to me.")
    blocks.append(Context(spans(footer)))
    return Message(tuple(blocks))
