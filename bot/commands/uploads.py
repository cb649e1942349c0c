"""An admin's uploaded report: checked, downloaded, parsed and stored, answered with a summary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.commands.core import Request
from bot.store.ingest import decode_report, describe, markdown_text
from digests import ReportError
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_REFUSAL = "Only bot admins may upload reports; nothing was stored."
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
            f"{upload.filename} is not a Markdown report (.md); nothing was stored."
        )
    limit = services.max_report_bytes
    if upload.size is not None and upload.size > limit:
        return Message.text(
            f"Rejected {upload.filename}: {upload.size:,} bytes is over the "
            f"{limit:,}-byte limit; nothing was stored."
        )
    try:
        data = await upload.fetch()
    except Exception as exc:  # any download failure gets the same answer
        log.warning("upload download failed: %s: %s", upload.filename, exc)
        return Message.text(
            f"Could not download {upload.filename} ({type(exc).__name__}); "
            "nothing was stored. Please send it again."
        )
    who = f"{upload.platform}:{upload.user_id}"
    try:
        report = decode_report(data, upload.filename, limit)
        result = await asyncio.to_thread(
            services.store.ingest, report, markdown_text(data), uploaded_by=who
        )
    except ReportError as exc:
        return Message.text(f"Rejected {exc}; nothing was stored.")
    if on_stored is not None:
        on_stored(result.status)
    lines = [describe(result)]
    lines += [f"warning: {w}" for w in result.warnings[:MAX_WARNINGS]]
    if len(result.warnings) > MAX_WARNINGS:
        lines.append(f"… and {len(result.warnings) - MAX_WARNINGS} more warnings")
    return Message.text(*lines)
