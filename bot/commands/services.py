"""What commands need, built once by the entry point and handed to the command core."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.clock import Clock, utcnow
from bot.platforms import local_platforms, workspace_of
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
    #: Platforms whose outbox messages go on a paid path, with the most one costs (Telegram's
    #: paid broadcasts: Stars); ``/status`` counts them.
    paid: Mapping[str, float] = field(default_factory=dict)
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
            paid={
                spec.name: price
                for spec in settings.platforms()
                if (price := spec.paid_price(settings)) is not None
            },
        )

    def is_admin(self, platform: str, user_id: str) -> bool:
        """Bot admins: those in DIGESTBOT_ADMINS, and whoever sits at the local console.

        Where one gateway serves many workspaces, a user is ``WORKSPACE:ID``: an admin entry
        names one workspace's user that way, or (the bare ``ID``) that user in any workspace.
        Each workspace's own admins (who installed the app) come from the platform
        (``Incoming.workspace_admin``).
        """
        user = str(user_id)
        if platform in local_platforms() or (platform, user) in self.admins:
            return True
        where = workspace_of(platform, user)
        return where is not None and (platform, user[len(where) + 1 :]) in self.admins
