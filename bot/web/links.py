"""Signed links to the web face: an HMAC of the path and an expiry, checked on every request.

A link is ``{public_url}{path}?exp=UNIX&sig=HMAC`` where the HMAC-SHA256 (key: the
``DIGESTBOT_WEB_SECRET``) covers the raw (percent-encoded) path and the expiry. Query parameters
other than ``exp`` and ``sig`` are not signed: a signed ``/web/search`` link lets its holder search.
Pages sign the links they show with the expiry of the request that fetched them, so following
links never extends access.

A personal feed link carries ``?token=ID.MAC`` instead: ``ID`` names a row of the database (which
the person, or an admin, can revoke) and ``MAC`` an HMAC of it, so a forged token is refused
before any query and the database alone holds no usable link. Such links never expire; pages
reached through one carry the same token. Standard library only: `digestbot ask` builds links too.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from digests.items import Item

if TYPE_CHECKING:
    from bot.settings import Settings

PREFIX = "/web"


def report_path(period: str) -> str:
    return f"{PREFIX}/reports/{quote(period, safe='')}"


def item_path(kind: str, name_norm: str) -> str:
    return f"{PREFIX}/items/{quote(kind, safe='')}/{quote(name_norm or '-', safe='')}"


def path_of_item(item: Item) -> str:
    """The page of an item (every month it appears in)."""
    return item_path(item.kind.value, item.name_norm)


def theme_path(slug: str) -> str:
    return f"{PREFIX}/themes/{quote(slug, safe='')}"


def search_path() -> str:
    return f"{PREFIX}/search"


def feed_path(theme: str | None, fmt: str) -> str:
    """``/web/feeds/all.atom``, ``/web/feeds/clay.rss``."""
    return f"{PREFIX}/feeds/{quote(theme or 'all', safe='')}.{fmt}"


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    # Keyed once; each signature copies it (a page signs hundreds of links).
    return hmac.new(secret, digestmod=hashlib.sha256)


def _sign(secret: bytes, path: str, exp: int) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"{path}\n{exp}".encode())
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def _token_mac(secret: bytes, token_id: str) -> str:
    mac = _keyed(secret).copy()
    mac.update(f"feed-token\n{token_id}".encode())
    return base64.urlsafe_b64encode(mac.digest()[:15]).decode()


def _same(expected: str, given: str) -> bool:
    """A constant-time comparison that is simply False for text no signature can be (non-ASCII:
    ``hmac.compare_digest`` would raise on it)."""
    return given.isascii() and hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class Access:
    """How a request was let in, and so how the links of its page are made: with the request's
    own expiry (signed links), with its token (personal links), or bare (public access)."""

    exp: int | None = None
    token: str | None = None


@dataclass(frozen=True)
class WebLinks:
    """Makes (and checks) links to the web face.

    Args:
        public_url: where users reach the gateway's HTTP server, e.g. ``https://bot.example.com``.
        secret: the HMAC key; ``None`` means public access (links are not signed).
        ttl_seconds: how long links sent in chat stay valid.
        clock: seconds since the epoch (tests pass a fixed one).
    """

    public_url: str
    secret: bytes | None
    ttl_seconds: float = 30 * 86400.0
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebLinks | None:
        """The links of the configured web face, or None when it is off."""
        if not settings.public_url:
            return None
        secret = None
        if settings.web_access == "signed" and settings.web_secret is not None:
            secret = settings.web_secret.get_secret_value().encode()
        return cls(settings.public_url.rstrip("/"), secret, settings.web_link_days * 86400.0)

    @property
    def signed(self) -> bool:
        return self.secret is not None

    def expiry(self) -> int:
        """The expiry of a link made now."""
        return int(self.clock() + self.ttl_seconds)

    def query(
        self, path: str, exp: int | None = None, *, token: str | None = None, **params: str
    ) -> str:
        """The query string (with ``?``) that opens ``path``; empty when public and no params.

        ``token`` (a value of :meth:`token_value`) makes a personal link that never expires.
        """
        extra = urlencode([(k, v) for k, v in params.items() if v])
        if self.secret is None:
            return "?" + extra if extra else ""
        if token is not None:
            signed = f"token={token}"  # URL-safe base64 and a dot: nothing to quote
        else:
            exp = self.expiry() if exp is None else exp
            # exp is digits and sig URL-safe base64: neither needs quoting.
            signed = f"exp={exp}&sig={_sign(self.secret, path, exp)}"
        return f"?{extra}&{signed}" if extra else f"?{signed}"

    def local(
        self, path: str, exp: int | None = None, *, token: str | None = None, **params: str
    ) -> str:
        """A link to ``path`` relative to the server root (for pages)."""
        return path + self.query(path, exp, token=token, **params)

    def url(
        self, path: str, exp: int | None = None, *, token: str | None = None, **params: str
    ) -> str:
        """An absolute link to ``path`` (for chat and feeds)."""
        return self.public_url + self.local(path, exp, token=token, **params)

    def link(self, path: str, access: Access, **params: str) -> str:
        """An absolute link to ``path`` made the way ``access`` came in."""
        return self.url(path, access.exp, token=access.token, **params)

    def token_value(self, token_id: str) -> str:
        """What a personal link carries for the stored token ``token_id``: ``ID.MAC``."""
        if self.secret is None:
            raise ValueError("public access has no tokens")
        return f"{token_id}.{_token_mac(self.secret, token_id)}"

    def token_id(self, value: str | None) -> str | None:
        """The token id of a well-formed ``ID.MAC`` value with a valid MAC, else None (the
        database still has to say the id is not revoked)."""
        if self.secret is None or not value or len(value) > 100:
            return None
        token_id, _, mac = value.partition(".")
        if not token_id or not mac or not token_id.isascii() or not token_id.isalnum():
            return None
        return token_id if _same(_token_mac(self.secret, token_id), mac) else None

    def item_url(self, item: Item) -> str:
        """The absolute link of an item's page: what cards carry as "Open on the web"."""
        return self.url(path_of_item(item))

    def theme_url(self, slug: str) -> str:
        return self.url(theme_path(slug))

    def check(self, path: str, exp: str | None, sig: str | None) -> int | None:
        """The expiry of a valid signature for ``path``, else None. Public: always valid."""
        if self.secret is None:
            return 0
        # str.isdigit also takes "²" and other digits int() refuses: ASCII digits only.
        if not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 12:
            return None
        when = int(exp)
        if when < self.clock():
            return None
        if not _same(_sign(self.secret, path, when), sig):
            return None
        return when
