"""The one-way doors between the rooms, read from the source with ``ast``.

``digests`` (the domain) imports neither ``channels`` nor ``bot``; ``channels`` (the adapters)
does not import ``bot``; scheduling code imports no command module; and apart from the registry
(``bot/platforms.py``), no module of ``bot/`` names a specific platform: neither imports one nor
compares against its name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_PACKAGES = sorted(
    p.name for p in (ROOT / "channels").iterdir() if (p / "__init__.py").is_file()
)


def sources(package: str) -> list[Path]:
    return sorted(
        p for p in (ROOT / package).rglob("*.py") if "migrations/versions" not in p.as_posix()
    )


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (absolute names), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found: dict[tuple[Path, int], str] = {}
    for path in sources(package):
        for line, name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.setdefault((path, line), f"{path.relative_to(ROOT)}:{line} imports {name}")
    return list(found.values())


def test_the_domain_imports_neither_channels_nor_the_gateway() -> None:
    assert offenders("digests", ("channels", "bot")) == []


def test_channels_do_not_import_the_gateway() -> None:
    assert offenders("channels", ("bot",)) == []


def test_scheduling_imports_no_command_module() -> None:
    found = [
        f
        for f in offenders("bot", ("bot.commands",))
        if f.startswith(str(Path("bot") / "scheduling"))
    ]
    assert found == []


def _names_a_platform(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for line, name in imports(path):
        if any(
            name == f"channels.{p}" or name.startswith(f"channels.{p}.") for p in PLATFORM_PACKAGES
        ):
            found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            # A platform's name as a value (``platform == "x"``, ``"x:123"``); prose may say it.
            value = node.value.lower()
            for platform in PLATFORM_PACKAGES:
                if value == platform or value.startswith(platform + ":"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} names {platform!r}")
    return found


def test_only_the_registry_names_platforms_in_the_gateway() -> None:
    found = [
        f
        for path in sources("bot")
        if path != ROOT / "bot" / "platforms.py"
        for f in _names_a_platform(path)
    ]
    assert found == []


def test_the_registry_lists_every_platform_package() -> None:
    from bot.platforms import PLATFORMS, specs

    assert sorted(m.removeprefix("channels.") for m in PLATFORMS) == PLATFORM_PACKAGES
    assert [s.name for s in specs()] == [m.removeprefix("channels.") for m in PLATFORMS]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import bot.store\n", "digests/x.py:1 imports bot.store"),
        ("from channels.base import Channel\n", "digests/x.py:1 imports channels.base"),
    ],
)
def test_the_check_reports_the_file_and_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    (tmp_path / "digests").mkdir()
    (tmp_path / "digests" / "x.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert offenders("digests", ("channels", "bot")) == [expected]
