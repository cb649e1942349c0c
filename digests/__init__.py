"""The domain: reports become items, items become cards and digests. No chat SDK in here."""

from digests.errors import DigestbotError, NotFound, ReportError, ReportTooLarge
from digests.items import HIGHLIGHTS, Image, Item, Kind, ParseWarning, Part, Report, Theme
from digests.parser import parse_report

__all__ = [
    "HIGHLIGHTS",
    "DigestbotError",
    "Image",
    "Item",
    "Kind",
    "NotFound",
    "ParseWarning",
    "Part",
    "Report",
    "ReportError",
    "ReportTooLarge",
    "Theme",
    "parse_report",
]
