"""What a webhook request's body must be before python-telegram-bot reads it: a JSON object in
UTF-8, nested no deeper than any real update (see :mod:`channels.jsonbody`)."""

from __future__ import annotations

from typing import Any

from channels.jsonbody import json_object


def update_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``.

    Raises:
        ValueError: with a short reason, when ``body`` is not UTF-8, not JSON, not an object,
            or nested too deep.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    return json_object(text)
