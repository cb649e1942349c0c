"""The error tree in digests/errors.py is the whole truth: every class it draws exists where it
says, derives from DigestbotError, and is raised (constructed) somewhere in the code."""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from pathlib import Path

import pytest

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


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return ""


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def tree_violations(root: Path, tree: set[str]) -> list[str]:
    """Every error class under ``root``'s packages that the drawn ``tree`` does not hold, and
    every one that derives from a built-in exception (``Exception``, ``ValueError``…) without a
    class of the tree: a new root. An error class is one with a base from the tree, a built-in
    exception or a name ending in Error/Exception."""
    ours = tree | {"DigestbotError"}
    found: list[str] = []
    for package in ("bot", "channels", "digests"):
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef) or node.name == "DigestbotError":
                    continue
                bases = [_base_name(b) for b in node.bases]
                builtin = [b for b in bases if _builtin_exception(b)]
                in_tree = [b for b in bases if b in ours]
                if not (
                    builtin or in_tree or any(b.endswith(("Error", "Exception")) for b in bases)
                ):
                    continue
                if node.name not in tree:
                    found.append(
                        f"{where}:{node.lineno} {node.name} is not drawn in digests/errors.py"
                    )
                elif builtin and not in_tree:
                    found.append(f"{where}:{node.lineno} {node.name} is a new root ({builtin[0]})")
    return found


def test_every_error_class_of_the_project_is_drawn_and_in_the_tree() -> None:
    assert tree_violations(ROOT, set(drawn())) == []


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("class Oops(Exception):\n    pass\n", "Oops is not drawn"),
        ("class Oops(BaseException):\n    pass\n", "Oops is not drawn"),
        ("import httpx\nclass Oops(httpx.HTTPError):\n    pass\n", "Oops is not drawn"),
        ("class Oops(SendError):\n    pass\n", "Oops is not drawn"),
        ("def f():\n    class Oops(ValueError):\n        pass\n", "Oops is not drawn"),
        # Drawn, but hung on a built-in exception instead of the tree: a second root.
        ("class SettingsError(Exception):\n    pass\n", "SettingsError is a new root (Exception)"),
    ],
)
def test_the_guard_fails_on_a_planted_error_class(tmp_path: Path, source: str, says: str) -> None:
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "planted.py").write_text(source, encoding="utf-8")
    found = tree_violations(tmp_path, set(drawn()))
    assert len(found) == 1
    assert found[0].startswith("bot/planted.py:")
    assert says in found[0]


def test_the_guard_passes_a_class_in_the_tree(tmp_path: Path) -> None:
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "fine.py").write_text(
        "class ReportTooLarge(ReportError):\n    pass\n"
        "class ScheduleError(DigestbotError, ValueError):\n    pass\n"
        "class Plain:\n    pass\n",
        encoding="utf-8",
    )
    assert tree_violations(tmp_path, set(drawn())) == []
