"""The ``digestbot`` command line. Settings are loaded here, once, and passed down.

Chat SDKs are imported only by ``digestbot run``: ``ask``, ``ingest`` and the rest stay light.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.platforms import spec, specs
from bot.settings import Settings, SettingsError, load_settings
from digests.errors import DigestbotError

if TYPE_CHECKING:
    from bot.store.store import Store
    from digests.items import Report
    from digests.message import Message


class CliError(DigestbotError):
    """A failure that ends the command with one line on stderr and a non-zero exit."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digestbot",
        description="Weekly digests and lookups of the monthly AI intelligence report.",
    )
    parser.add_argument("--config", help="a TOML settings file (also DIGESTBOT_CONFIG)")
    parser.add_argument("--version", action="version", version=f"digestbot {_version()}")
    sub = _Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))

    sub.add_parser(
        "run",
        help="run the gateway (the console when no channel is configured)",
        epilog="Every channel whose settings are present starts (Telegram, Slack); with none, "
        "the console. Settings: DIGESTBOT_* variables or --config FILE (see the README).",
    )

    ingest = sub.add_parser("ingest", help="ingest report files or folders of *.md")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--dry-run", action="store_true", help="parse only, store nothing")
    ingest.add_argument(
        "--json", action="store_true", help="print the reports and items as JSON (stored or not)"
    )
    ingest.add_argument("--as", dest="uploader", default="cli", help="who uploaded (recorded)")

    ask = sub.add_parser("ask", help="run one chat command and print the reply")
    ask.add_argument("text", help='e.g. "/model GLM-4.7"')
    formats = ["text", *(s.name for s in specs() if not s.local)]
    ask.add_argument("--format", choices=formats, default="text")
    ask.add_argument("--as", dest="sender", default=f"{_local()}:cli", metavar="PLATFORM:USER")

    digest = sub.add_parser("digest", help="print the next digest of a theme")
    digest.add_argument("theme")
    digest.add_argument("--chat", default=f"{_local()}:{_local()}", metavar="PLATFORM:CHAT")

    sub.add_parser("subscriptions", help="list every subscription with its next run")
    reports = sub.add_parser("reports", help="list the ingested reports, or remove some")
    reports_sub = _Commands(reports.add_subparsers(dest="reports_command", metavar="ACTION"))
    remove = reports_sub.add_parser(
        "remove",
        help="remove months (their report and items; what chats were sent stays sent)",
    )
    remove.add_argument("periods", nargs="*", metavar="PERIOD", help="e.g. 2026-01")
    remove.add_argument("--samples", action="store_true", help="remove the bundled sample reports")
    sub.add_parser("reparse", help="re-derive items from the stored Markdown of every report")

    web = sub.add_parser("web", help="links to the web pages and feeds, and personal feed tokens")
    web_sub = _Commands(web.add_subparsers(dest="web_command", required=True, metavar="ACTION"))
    link = web_sub.add_parser("link", help="print a signed link to a web page or feed")
    link.add_argument("path", nargs="?", default="/web/", metavar="PATH", help="default /web/")
    link.add_argument("--days", type=float, default=None, help="valid this many days")
    web_sub.add_parser("tokens", help="list the personal feed tokens (/feeds)")
    revoke = web_sub.add_parser("revoke", help="revoke a personal feed token")
    revoke.add_argument("token_id", metavar="TOKEN-ID")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = _Commands(db.add_subparsers(dest="db_command", required=True, metavar="ACTION"))
    db_sub.add_parser("upgrade", help="apply migrations")
    return parser


class _Commands:
    """Sub-commands whose ``--help`` describes them (argparse shows ``help`` only in lists)."""

    def __init__(self, actions: Any) -> None:
        self._actions = actions

    def add_parser(self, name: str, *, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._actions.add_parser(
            name, help=help, description=help[:1].upper() + help[1:] + ".", **kwargs
        )
        return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("digestbot")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        handler = _COMMANDS[args.command]
        return handler(settings, args)
    except SettingsError as exc:
        print(f"digestbot: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"digestbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`digestbot ask … | head`): nothing left to say to anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        line = _edge_failure(exc)
        if line is None:
            raise
        print(f"digestbot: {line}", file=sys.stderr)
        return 1


def _edge_failure(exc: BaseException) -> str | None:
    """One line for a failure at the edges (database, disk, a platform), None for a bug."""
    from bot.gateway import StartError
    from bot.store.db import database_failure

    if isinstance(exc, StartError):
        return str(exc)
    if (failed := database_failure(exc)) is not None:
        return failed
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        if isinstance(exc, FileExistsError | NotADirectoryError):
            return f"{exc.filename} is a file where a folder is needed; check the path"
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}; free some space and try again"
        return f"{exc.strerror}{where}; check the path and its permissions"
    return None


def _store(settings: Settings) -> Store:
    from bot.store.store import Store

    # A database that cannot be reached or written is turned into one line by main().
    return Store.open(settings.database_url, statement_timeout=settings.database_statement_timeout)


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.db import make_engine, upgrade

    engine = make_engine(
        settings.database_url, statement_timeout=settings.database_statement_timeout
    )
    before, after = upgrade(engine)
    engine.dispose()
    print(
        f"database at revision {after}"
        + (" (unchanged)" if before == after else f" (was {before})")
    )
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.ingest import IngestSummary, describe, expand_paths, read_report
    from digests import ReportError
    from digests.cards import kind_count

    missing = [p for p in args.paths if not p.exists()]
    # A missing path is rejected once, below, not also as an unreadable file.
    files = list(expand_paths([p for p in args.paths if p.exists()]))
    summary = IngestSummary()
    dry: list[dict[str, object]] = []
    store = None if args.dry_run else _store(settings)
    progress = _progress(len(files))
    for path in files:
        try:
            report, markdown = read_report(path, settings.max_report_bytes)
            if store is None:
                summary.files += 1
                summary.items.update(i.kind.value for i in report.items)
                summary.warnings += len(report.warnings)
                dry.append(_dry_run_json(report))
                counted = kind_count("item", len(report.items))
                progress(None if args.json else f"{path}: {counted} (dry run)")
                for warning in report.warnings:
                    print(f"{path}: warning: {warning}", file=sys.stderr)
            else:
                result = store.ingest(report, markdown, uploaded_by=args.uploader)
                summary.add(result)
                if args.json:
                    dry.append(dict(_dry_run_json(report), stored=result.status))
                progress(None if args.json else describe(result))
                for line in result.warnings:
                    print(f"{path}: warning: {line}", file=sys.stderr)
        except ReportError as exc:
            summary.rejected += 1
            progress(None)
            _note(f"digestbot: rejected {exc}")
    for path in missing:
        summary.rejected += 1
        _note(f"digestbot: rejected {path}: no such file or folder")
    if store is not None:
        store.close()
    if args.json:
        out: object = dry[0] if len(dry) == 1 else dry
        print(json.dumps(out, ensure_ascii=False, indent=2))
    print(summary.line(), file=sys.stderr if args.json else sys.stdout)
    return 1 if summary.rejected else 0


def _dry_run_json(report: Report) -> dict[str, object]:
    items = []
    for item in report.items:
        data = item.to_dict()
        data["url"] = item.url
        items.append(data)
    return {
        "report": {
            "source": report.source,
            "period": report.period,
            "title": report.title,
            "sha256": report.sha256,
            "meta": report.meta,
        },
        "items": items,
        "warnings": [{"line": w.line, "message": w.message} for w in report.warnings],
    }


def _note(line: str) -> None:
    """A line on stderr that stays above a progress bar when one is showing."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


def _progress(total: int) -> Callable[[str | None], None]:
    """A progress bar on a terminal, with each file's line kept above it; plain lines otherwise."""
    if total > 1 and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="file", file=sys.stderr, leave=False)

        def tick(line: str | None) -> None:
            if line:
                tqdm.write(line, file=sys.stdout)
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick

    def line(text: str | None) -> None:
        if text:
            print(text)

    return line


def _local() -> str:
    """The local platform (the console): the default sender of ``ask`` and chat of ``digest``."""
    return next(s.name for s in specs() if s.local)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from bot.commands.dispatch import Dispatcher
    from bot.commands.services import Services
    from channels.base import Incoming

    platform, _, user = args.sender.partition(":")
    sender = spec(platform)
    if not user or sender is None:
        names = ", ".join(s.name for s in specs())
        raise CliError(f"--as {args.sender!r} is not PLATFORM:USER with PLATFORM one of {names}")
    store = _store(settings)
    dispatcher = Dispatcher(Services.from_settings(settings, store))
    incoming = Incoming(
        platform=platform, chat_id=user, user_id=user, text=args.text, chat_kind=sender.direct_kind
    )
    reply = asyncio.run(dispatcher.on_command(incoming))
    store.close()
    if reply is None:
        return 0
    print(render_for(args.format, reply, images=settings.images))
    return 0


def render_for(fmt: str, message: Message, *, images: bool = True) -> str:
    """A reply as the chosen channel would receive it (no chat SDK involved); ``text`` is the
    local channel's rendering. ``images``: as ``DIGESTBOT_IMAGES`` says."""
    chosen = spec(fmt) if fmt != "text" else next(s for s in specs() if s.local)
    if chosen is None:
        raise CliError(f"--format {fmt!r} is not a platform")
    return chosen.render(message, images=images)


def cmd_digest(settings: Settings, args: argparse.Namespace) -> int:
    """Print the next digest of a theme for a chat, without using it up."""
    from bot.clock import utcnow
    from bot.commands.subscriptions import preview
    from bot.store.digests import known_themes
    from bot.web.links import WebLinks

    platform, _, chat = args.chat.partition(":")
    if not platform or not chat:
        raise CliError(f"--chat {args.chat!r} is not PLATFORM:CHAT, e.g. {_local()}:console")
    store = _store(settings)
    try:
        theme = args.theme.lower()
        with store.engine.connect() as conn:
            themes = known_themes(conn)
        if theme not in themes:
            listed = ", ".join(sorted(themes)) or "none yet (ingest a report first)"
            raise CliError(f"no theme {args.theme!r}; themes: {listed}")
        message = preview(
            store,
            platform,
            chat,
            theme,
            default_size=settings.digest_size,
            default_timezone=settings.timezone,
            now=utcnow(),
            web_url=web.theme_url if (web := WebLinks.from_settings(settings)) else None,
        )
    finally:
        store.close()
    print(render_for("text", message))
    return 0


def cmd_subscriptions(settings: Settings, args: argparse.Namespace) -> int:
    """List every subscription (inactive ones too) with its next run in its own timezone."""
    from bot.clock import utcnow
    from bot.commands.subscriptions import subscription_lines
    from bot.store.subscriptions import all_subscriptions

    store = _store(settings)
    try:
        with store.engine.connect() as conn:
            subs = all_subscriptions(conn, active_only=False)
    finally:
        store.close()
    if not subs:
        print("no subscriptions")
        return 0
    for line in subscription_lines(subs, utcnow()):
        print(line)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from bot.gateway import run_gateway

    return asyncio.run(run_gateway(settings))


def cmd_reparse(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.ingest import describe
    from digests import ReportError, parse_report
    from digests.cards import kind_count

    store = _store(settings)
    failed = 0
    try:
        for outcome in store.reparse(parse_report):
            if isinstance(outcome, ReportError):
                failed += 1
                print(f"digestbot: cannot re-derive {outcome}", file=sys.stderr)
            else:
                print(describe(outcome))
        print(f"search index rebuilt: {kind_count('item', store.reindex_search())}")
    finally:
        store.close()
    return 1 if failed else 0


def cmd_reports(settings: Settings, args: argparse.Namespace) -> int:
    if args.reports_command == "remove":
        return _remove_reports(settings, args)
    from digests.cards import kind_count

    store = _store(settings)
    try:
        reports = store.reports()
    finally:
        store.close()
    if not reports:
        print("no reports yet: digestbot ingest PATH")
    for r in reports:
        items = kind_count("item", r.item_count)
        warnings = f"{r.warning_count} warning" + ("" if r.warning_count == 1 else "s")
        print(
            f"{r.period}  {items:>10}  {warnings:>12}  "
            f"{r.uploaded_at:%Y-%m-%d %H:%M} by {r.uploaded_by}  {r.source}"
            + ("  (sample)" if r.sample else "")
        )
    return 0


def _remove_reports(settings: Settings, args: argparse.Namespace) -> int:
    from digests.cards import kind_count
    from digests.periods import parse_month

    if not args.periods and not args.samples:
        raise CliError(
            "say which months to remove: digestbot reports remove 2026-01 (or --samples)"
        )
    periods = []
    for value in args.periods:
        month = parse_month(value)
        if month is None:
            raise CliError(f"“{value}” is not a month; write it as 2026-01 (nothing removed)")
        periods.append(month)
    store = _store(settings)
    try:
        known = {r.period for r in store.reports()}
        missing = [p for p in periods if p not in known]
        if missing:
            raise CliError(
                f"no report for {', '.join(missing)}; digestbot reports lists the months "
                "(nothing removed)"
            )
        removed = store.remove_periods(periods)
        samples = store.remove_samples() if args.samples else []
    finally:
        store.close()
    for period, n in removed.items():
        print(f"removed {period}: {kind_count('item', n)}")
    if args.samples:
        print(
            f"removed the sample reports {', '.join(samples)}" if samples else "no sample reports"
        )
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    from bot.web.links import PREFIX, WebLinks

    links = WebLinks.from_settings(settings)
    if links is None:
        raise CliError("the web face is off: set DIGESTBOT_PUBLIC_URL (and DIGESTBOT_WEB_SECRET)")
    if args.web_command == "link":
        from urllib.parse import parse_qsl, quote, urlsplit

        # Signatures cover the path as the server sees it: percent-encoded (CJK names).
        parts = urlsplit(args.path)
        path = quote("/" + parts.path.lstrip("/"), safe="/%-._~")
        path = PREFIX + "/" if path == PREFIX else path
        if not path.startswith(PREFIX + "/"):
            raise CliError(f"{args.path!r} is not a web page: paths start with {PREFIX}/")
        days = settings.web_link_days if args.days is None else args.days
        if not 0 < days <= 3650:
            raise CliError(f"--days must be more than 0 and at most 3650, not {args.days:g}")
        params = {k: v for k, v in parse_qsl(parts.query) if k not in ("exp", "sig", "token")}
        print(dataclasses.replace(links, ttl_seconds=days * 86400.0).url(path, **params))
        return 0
    from bot.store.webtokens import all_tokens, revoke_token

    store = _store(settings)
    try:
        with store.engine.begin() as conn:
            if args.web_command == "tokens":
                for t in all_tokens(conn):
                    used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                    print(
                        f"{t.id}  {t.platform}:{t.user_id}  made {t.created_at:%Y-%m-%d}  used {used}"
                    )
                return 0
            token = revoke_token(conn, args.token_id)
    finally:
        store.close()
    if token is None:
        raise CliError(f"no feed token {args.token_id[:20]!r}: digestbot web tokens lists them")
    print(f"revoked {token.id} of {token.platform}:{token.user_id}")
    return 0


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "ask": cmd_ask,
    "db": cmd_db,
    "digest": cmd_digest,
    "ingest": cmd_ingest,
    "reparse": cmd_reparse,
    "reports": cmd_reports,
    "run": cmd_run,
    "subscriptions": cmd_subscriptions,
    "web": cmd_web,
}


if __name__ == "__main__":
    raise SystemExit(main())
