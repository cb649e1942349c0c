"""An admin's uploaded report: checked, downloaded, parsed and stored, answered with a summary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.commands.core import Request
from bot.i18n import N_
from bot.store.ingest import decode_report, describe, markdown_text
from digests import ReportError
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_REFUSAL = N_("Only bot admins may upload reports; nothing was stored.")
MAX_WARNINGS = 10


async def ingest_upload(
    request: Request, on_stored: Callable[[str], None] | None = None
) -> Message:
    """The reply to an upload; nothing is stored unless the whole report is accepted.

    ``on_stored`` gets the ingest's status (``new``, ``changed``, ``unchanged``) for metrics.
    """
    upload = request.upload
    assert upload is not None
    services = request.services
    if not upload.filename.lower().endswith((".md", ".markdown")):
        return Message.text(
            request._("{file} is not a Markdown report (.md); nothing was stored.").format(
                file=upload.filename
            )
        )
    limit = services.max_report_bytes
    if upload.size is not None and upload.size > limit:
        return Message.text(
            request._(
                "Rejected {file}: {size} bytes is over the {limit}-byte limit; nothing was stored."
            ).format(
                file=upload.filename,
                size=request.words.number(upload.size),
                limit=request.words.number(limit),
            )
        )
    try:
        data = await upload.fetch()
    except Exception as exc:  # any download failure gets the same answer
        log.warning("upload download failed: %s: %s", upload.filename, exc)
        return Message.text(
            request._(
                "Could not download {file} ({error}); nothing was stored. Please send it again."
            ).format(file=upload.filename, error=type(exc).__name__)
        )
    who = f"{upload.platform}:{upload.user_id}"
    try:
        # Decoding and parsing a report of megabytes takes seconds: in a worker thread, so every
        # other chat's commands are answered meanwhile (issue 30).
        report = await asyncio.to_thread(decode_report, data, upload.filename, limit)
        markdown = await asyncio.to_thread(markdown_text, data)
        result = await asyncio.to_thread(services.store.ingest, report, markdown, uploaded_by=who)
    except ReportError as exc:
        # The parser's own reason stays in English: it names lines and fields of the file.
        return Message.text(request._("Rejected {reason}; nothing was stored.").format(reason=exc))
    if on_stored is not None:
        on_stored(result.status)
    lines = [describe(result, request.words)]
    lines += [request._("warning: {text}").format(text=w) for w in result.warnings[:MAX_WARNINGS]]
    if len(result.warnings) > MAX_WARNINGS:
        more = len(result.warnings) - MAX_WARNINGS
        lines.append(
            request.ngettext("… and {n} more warning", "… and {n} more warnings", more).format(
                n=more
            )
        )
    return Message.text(*lines)
