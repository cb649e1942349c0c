"""The error tree in digests/errors.py is the whole truth: every class it draws exists where it
says, derives from DigestbotError, and is raised (constructed) somewhere in the code."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import digests.errors
from digests.errors import DigestbotError

ROOT = Path(__file__).resolve().parents[1]
_ENTRY = re.compile(r"[├└]── (\w+)(?:\([^)]*\))?\s+(?:\(\w+\)\s+)?(?:(\S+\.py):)?")


def drawn() -> dict[str, str]:
    """Class name -> module file, from the docstring's tree (a child lives with its parent
    unless it names a file)."""
    doc = digests.errors.__doc__ or ""
    found: dict[str, str] = {}
    files = {0: "digests/errors.py"}
    for line in doc.splitlines():
        match = _ENTRY.search(line)
        if match is None:
            continue
        depth = match.start()
        parent = max((d for d in files if d < depth), default=0)
        file = match.group(2) or files[parent]
        files = {d: f for d, f in files.items() if d < depth} | {depth: file}
        found[match.group(1)] = file
    return found


def constructed() -> set[str]:
    names: set[str] = set()
    for package in ("bot", "channels", "digests"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    func = node.func
                    if isinstance(func, ast.Name):
                        names.add(func.id)
                    elif isinstance(func, ast.Attribute):
                        names.add(func.attr)
    return names


def test_every_drawn_error_exists_where_drawn_and_derives_from_the_root() -> None:
    tree = drawn()
    assert len(tree) >= 10
    for name, file in tree.items():
        module = importlib.import_module(file.removesuffix(".py").replace("/", "."))
        cls = getattr(module, name)
        assert issubclass(cls, DigestbotError), name


def test_every_drawn_error_is_raised_somewhere() -> None:
    assert sorted(set(drawn()) - constructed()) == []


def test_every_error_class_of_the_project_is_drawn() -> None:
    classes = set()
    for package in ("bot", "channels", "digests"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and (b.id.endswith("Error") or b.id in drawn())
                    for b in node.bases
                ):
                    classes.add(node.name)
    assert sorted(classes - set(drawn()) - {"DigestbotError"}) == []
