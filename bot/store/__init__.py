"""The store: the database behind every other part, and the only place that writes SQL.

``db`` opens engines and runs migrations (``migrations/``); ``models`` maps the tables; ``store``
holds :class:`Store`, the handle on the database that keeps reports and their items; ``search``
finds items (:class:`Finder`); ``ingest`` reads report files into the store; ``outbox`` is the table side of delivery (enqueue,
claims, outcomes). Store functions take a connection or the store; callers never build queries.
"""

from bot.store.ingest import IngestSummary, describe, ingest_file, read_report
from bot.store.search import Finder, Match
from bot.store.store import IngestResult, Store, StoredItem

__all__ = [
    "Finder",
    "IngestResult",
    "IngestSummary",
    "Match",
    "Store",
    "StoredItem",
    "describe",
    "ingest_file",
    "read_report",
]
