"""What a webhook request's body must be before python-telegram-bot reads it: a JSON object in
UTF-8, nested no deeper than any real update.

Python's ``json`` recurses once per level, so ``[[[[…]]]]`` a hundred thousand deep raises
``RecursionError`` (no ``ValueError``); and a body that parses but nests hundreds of levels would
recurse again in ``Update.de_json``. Both are refused here, as a ``ValueError`` naming why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: Real updates nest about eight levels (an update, its message, a reply in it, its entities…).
MAX_DEPTH = 64


def update_object(body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``.

    Raises:
        ValueError: with a short reason, when ``body`` is not UTF-8, not JSON, not an object,
            or nested deeper than :data:`MAX_DEPTH`.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("JSON that is not an object")
    if nested_deeper(value, MAX_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def nested_deeper(value: object, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in ``value``, without recursing."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False
