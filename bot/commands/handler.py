"""The gateway's side of the channel protocol: commands and admin uploads."""

from __future__ import annotations

import asyncio
import logging

from bot.commands.core import REGISTRY, CommandCore, parse
from bot.commands.services import Services
from bot.metrics import Metrics
from bot.store.ingest import decode_report, describe, markdown_text
from channels.base import Incoming, Upload
from digests import ReportError
from digests.message import Message

log = logging.getLogger(__name__)


class GatewayHandler:
    """Answers every channel: commands through the core, uploads through the store."""

    def __init__(self, services: Services, metrics: Metrics | None = None) -> None:
        self.services = services
        self.core = CommandCore(services)
        self.metrics = metrics

    async def on_command(self, incoming: Incoming) -> Message | None:
        try:
            reply = await self.core.handle(incoming)
        except Exception:
            # The boundary: log it whole, tell the user something useful, keep serving.
            log.exception(
                "command failed: platform=%s chat=%s", incoming.platform, incoming.chat_id
            )
            if self.metrics:
                self.metrics.commands.labels(incoming.platform, "error").inc()
            return Message.text(
                "Something went wrong on my side; the admins can see it in the log. "
                "Please try again in a minute."
            )
        if self.metrics and reply is not None:
            self.metrics.commands.labels(incoming.platform, _command_label(incoming.text)).inc()
        return reply

    async def on_upload(self, upload: Upload) -> Message:
        who = f"{upload.platform}:{upload.user_id}"
        if not self.services.is_admin(upload.platform, upload.user_id):
            return Message.text("Only bot admins may upload reports; nothing was stored.")
        if not upload.filename.lower().endswith((".md", ".markdown")):
            return Message.text(
                f"{upload.filename} is not a Markdown report (.md); nothing was stored."
            )
        limit = self.services.max_report_bytes
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
        try:
            report = decode_report(data, upload.filename, limit)
            result = await asyncio.to_thread(
                self.services.store.ingest, report, markdown_text(data), uploaded_by=who
            )
        except ReportError as exc:
            return Message.text(f"Rejected {exc}; nothing was stored.")
        if self.metrics:
            self.metrics.ingests.labels(result.status).inc()
        lines = [describe(result)]
        lines += [f"warning: {w}" for w in result.warnings[:10]]
        if len(result.warnings) > 10:
            lines.append(f"… and {len(result.warnings) - 10} more warnings")
        return Message.text(*lines)


def _command_label(text: str) -> str:
    """The command's name for metrics; anything else is "other" (labels must stay few)."""
    parsed = parse(text)
    if parsed is None or parsed[0] not in REGISTRY:
        return "other"
    return REGISTRY[parsed[0]].name
