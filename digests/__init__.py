"""The domain: reports become items, items become cards and digests. No chat SDK in here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digests.errors import DigestbotError, ReportError, ReportTooLarge
from digests.items import HIGHLIGHTS, Image, Item, Kind, ParseWarning, Part, Report, Theme

if TYPE_CHECKING:
    from digests.parser import parse_report


def __getattr__(name: str) -> Any:
    # The parser loads on first use: lookups (`digestbot ask`) never parse and start faster.
    if name == "parse_report":
        from digests.parser import parse_report

        return parse_report
    raise AttributeError(f"module 'digests' has no attribute {name!r}")


__all__ = [
    "HIGHLIGHTS",
    "DigestbotError",
    "Image",
    "Item",
    "Kind",
    "ParseWarning",
    "Part",
    "Report",
    "ReportError",
    "ReportTooLarge",
    "Theme",
    "parse_report",
]
