"""Reading a webhook body as one JSON object, whatever a hostile sender puts in it.

Python's ``json`` recurses once per level, so ``[[[[…]]]]`` a hundred thousand deep raises
``RecursionError`` (not ``ValueError``); a body that parses but nests hundreds of levels would
recurse again in the platform SDK. Both are refused here, as a :class:`ValueError` naming why.
The Telegram webhook and the Slack events route share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: Real updates and events nest about ten levels (a message, a reply in it, its blocks…).
MAX_DEPTH = 64


def json_object(text: str, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The JSON object in ``text``.

    Raises:
        ValueError: ``bad JSON``, ``JSON that is not an object`` or ``too deeply nested JSON``.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("too deeply nested JSON") from None
    except ValueError:
        raise ValueError("bad JSON") from None
    if not isinstance(value, dict):
        raise ValueError("JSON that is not an object")
    if nested_deeper(value, max_depth):
        raise ValueError("too deeply nested JSON")
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
