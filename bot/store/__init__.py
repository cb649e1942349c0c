"""The store: the database behind every other part, and the only place that writes SQL.

``db`` opens engines and runs migrations (``migrations/``); ``models`` maps the tables; ``reports``
keeps reports and their items (:class:`Store`); ``search`` finds items (:class:`Finder`);
``ingest`` reads report files into the store; ``outbox`` is the table side of delivery (enqueue,
claims, outcomes). Store functions take a connection or the store; callers never build queries.
"""

from bot.store.ingest import IngestSummary, describe, ingest_file, read_report
from bot.store.reports import IngestResult, Store, StoredItem
from bot.store.search import Finder, Match

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
