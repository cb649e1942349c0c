"""What commands need, built once by the entry point and handed to the command core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.clock import Clock, utcnow
from bot.platforms import local_platforms
from bot.settings import Settings
from bot.store.search import Finder
from bot.store.store import Store
from bot.web.links import WebLinks


@dataclass
class Services:
    """The store and the settings commands care about. Later parts add themselves here."""

    store: Store
    admins: frozenset[tuple[str, str]] = frozenset()
    timezone: str = "UTC"
    #: The language of chats that chose none and whose people's language is unknown.
    language: str = "en"
    digest_size: int = 5
    max_report_bytes: int = 5 * 1024 * 1024
    #: Seconds a command may take before it is answered "the database is not answering".
    command_timeout: float = 30.0
    post_empty_digest: bool = False
    #: /top counts every chat's votes; False keeps each chat's to itself.
    share_votes: bool = True
    #: Called (from any thread) after a command changed subscriptions; the entry point hands the
    #: same callable to the scheduler (``bot.scheduling.scheduler.SubscriptionChanges``).
    subscriptions_changed: Callable[[], None] | None = None
    #: The clock commands use (next runs, previews); tests pass a fixed one.
    clock: Clock = utcnow
    #: Background parts in trouble, one line each (the gateway's watcher); ``/status`` shows them.
    problems: Callable[[], list[str]] = list
    #: Links to the web face (cards and digests carry "Open on the web"); None when it is off.
    web: WebLinks | None = None
    finder: Finder = field(init=False)

    def __post_init__(self) -> None:
        self.finder = Finder(self.store)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        subscriptions_changed: Callable[[], None] | None = None,
        problems: Callable[[], list[str]] = list,
    ) -> Services:
        return cls(
            subscriptions_changed=subscriptions_changed,
            problems=problems,
            store=store,
            admins=settings.admin_ids,
            timezone=settings.timezone,
            language=settings.language,
            digest_size=settings.digest_size,
            max_report_bytes=settings.max_report_bytes,
            command_timeout=settings.command_timeout,
            post_empty_digest=settings.post_empty_digest,
            share_votes=settings.share_votes,
            web=WebLinks.from_settings(settings),
        )

    def is_admin(self, platform: str, user_id: str) -> bool:
        """Bot admins: those in DIGESTBOT_ADMINS, and whoever sits at the local console."""
        return platform in local_platforms() or (platform, str(user_id)) in self.admins
