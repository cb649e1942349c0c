"""Issue 23: the sender takes every turn of every message, replies and outbox rows alike; the
outbox worker used to take each row's first turn itself, before calling the channel."""

from __future__ import annotations

import ast
from pathlib import Path

from channels.base import EveryPart
from channels.sender import ErrorTable, Sender

WORKER = Path(__file__).resolve().parents[2] / "bot" / "delivery" / "worker.py"


async def _sent_with(pace_kind: type | None) -> list[str]:
    events: list[str] = []

    async def wait() -> None:
        events.append("turn")

    async def post(n: int, part: str) -> str:
        events.append(part)
        return part

    pace = None if pace_kind is None else (EveryPart(wait) if pace_kind is EveryPart else wait)
    await Sender("x", ErrorTable("x", ())).send(["a", "b", "c"], post, skip=1, pace=pace)
    return events


async def test_the_sender_takes_the_first_turn_when_told_every_part() -> None:
    assert await _sent_with(EveryPart) == ["turn", "b", "turn", "c"]
    assert await _sent_with(object) == ["b", "turn", "c"]  # between parts only
    assert await _sent_with(None) == ["b", "c"]


def _acquire_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "acquire"
        and "limiter" in ast.unparse(node.func.value)
    ]


def test_the_outbox_worker_takes_no_turn_but_through_the_sender() -> None:
    """Every limiter turn in the worker is inside the pace it hands the channel as EveryPart."""
    tree = ast.parse(WORKER.read_text(encoding="utf-8"))
    paces = {
        arg.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "EveryPart"
        for arg in node.args
        if isinstance(arg, ast.Name)
    }
    assert paces, "the worker hands the channel no EveryPart pace"
    inside = {
        id(call)
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncFunctionDef) and node.name in paces
        for call in _acquire_calls(node)
    }
    outside = [ast.unparse(c) for c in _acquire_calls(tree) if id(c) not in inside]
    assert outside == [], f"the worker takes turns itself: {outside}"
