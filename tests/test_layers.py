"""The one-way doors between the rooms, read from the source with ``ast``.

``digests`` (the domain) imports neither ``channels`` nor ``bot``, nor SQLAlchemy, nor a platform
SDK; ``channels`` (the adapters) does not import ``bot``, and no platform package imports
another (nor another's SDK); scheduling, the store and delivery import no command module; only
``bot/store`` imports SQLAlchemy (and Alembic, and the database drivers) or writes an SQL
statement; ``bot/`` imports no platform SDK (the adapters own them); nothing but the registry
imports through ``importlib`` or ``__import__`` (which these checks could not see); and apart
from the registry (``bot/platforms.py``), no module of ``bot/`` names a specific platform:
neither imports one nor compares against its name; and no module is over 600 lines. Each check is a function over the tree under
``ROOT``, and a test plants a violation in a tree of its own to prove the check fails on it.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The platform SDKs, by the platform package that owns each (the adapters import them).
SDKS = {
    "telegram": ("telegram",),
    "slack": ("slack_sdk", "slack_bolt"),
    "lark": ("lark_oapi",),
    "discord": ("discord",),
}
ALL_SDKS = tuple(sdk for names in SDKS.values() for sdk in names)
#: What talks to the database: only ``bot/store`` imports these.
DATABASE = ("sqlalchemy", "alembic", "psycopg", "sqlite3")
#: Calls that import a module by name, out of the sight of these checks.
DYNAMIC_IMPORTS = frozenset({"__import__", "import_module", "spec_from_file_location"})
#: No module is longer: a longer one holds more than one thing.
MAX_LINES = 600
#: The one module that imports by name: the registry, whose names test_the_registry_... checks.
REGISTRY = Path("bot") / "platforms.py"


def platform_packages() -> list[str]:
    return sorted(p.name for p in (ROOT / "channels").iterdir() if (p / "__init__.py").is_file())


PLATFORM_PACKAGES = platform_packages()


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


def _outside(found: list[str], allowed: Path) -> list[str]:
    return [f for f in found if not Path(f.split(":", 1)[0]).is_relative_to(allowed)]


def domain_imports() -> list[str]:
    """``digests`` importing the other rooms, the database or a platform SDK."""
    return offenders("digests", ("channels", "bot", *DATABASE, *ALL_SDKS))


def channel_imports() -> list[str]:
    """``channels`` importing ``bot``, or the database."""
    return offenders("channels", ("bot", *DATABASE))


def command_imports() -> list[str]:
    """Scheduling, the store or delivery importing a command module."""
    return [
        f
        for room in ("scheduling", "store", "delivery")
        for f in offenders(f"bot/{room}", ("bot.commands",))
    ]


def sdk_imports() -> list[str]:
    """``bot/`` importing a platform SDK: the adapters under ``channels/`` own them."""
    return offenders("bot", ALL_SDKS)


def database_imports() -> list[str]:
    """SQLAlchemy, Alembic or a database driver imported outside ``bot/store``."""
    return _outside(offenders("bot", DATABASE), Path("bot") / "store")


def cross_platform_imports() -> list[str]:
    """A platform package importing another platform's package or SDK; a module of
    ``channels/`` outside the platform packages importing any of them."""
    packages = platform_packages()
    found = []
    for name in packages:
        others = [p for p in packages if p != name]
        forbidden = [f"channels.{p}" for p in others] + [s for p in others for s in SDKS.get(p, ())]
        found += offenders(f"channels/{name}", tuple(forbidden))
    shared = tuple(f"channels.{p}" for p in packages) + ALL_SDKS
    found += [
        f
        for f in offenders("channels", shared)
        if not any(Path(f.split(":", 1)[0]).is_relative_to(Path("channels", p)) for p in packages)
    ]
    return found


def long_modules() -> list[str]:
    """Modules of ``bot``, ``channels`` and ``digests`` over :data:`MAX_LINES` lines."""
    found = []
    for package in ("bot", "channels", "digests"):
        for path in sources(package):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})")
    return found


_SQL = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE|DROP|ALTER|SET)\s")


def sql_text() -> list[str]:
    """A string that is an SQL statement outside ``bot/store`` (even one run without
    SQLAlchemy, on a driver's connection)."""
    found = []
    for package in ("bot", "channels", "digests"):
        for path in sources(package):
            if path.relative_to(ROOT).is_relative_to(Path("bot") / "store"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and _SQL.match(node.value)
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} holds SQL")
    return found


def dynamic_imports() -> list[str]:
    """Imports by name (``importlib.import_module``, ``__import__``) outside the registry."""
    found = []
    for package in ("bot", "channels", "digests"):
        for path in sources(package):
            if path.relative_to(ROOT) == REGISTRY:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in DYNAMIC_IMPORTS:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports by name")
    return found


def test_the_domain_imports_neither_channels_nor_the_gateway() -> None:
    assert domain_imports() == []


def test_channels_do_not_import_the_gateway() -> None:
    assert channel_imports() == []


def test_scheduling_store_and_delivery_import_no_command_module() -> None:
    assert command_imports() == []


def test_the_gateway_imports_no_platform_sdk() -> None:
    assert sdk_imports() == []


def test_only_the_store_imports_sqlalchemy() -> None:
    assert database_imports() == []


def test_no_platform_package_imports_another() -> None:
    assert cross_platform_imports() == []


def test_no_module_is_over_600_lines() -> None:
    assert long_modules() == []


def test_no_sql_outside_the_store() -> None:
    assert sql_text() == []


def test_nothing_imports_by_name_but_the_registry() -> None:
    assert dynamic_imports() == []


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
    ("check", "planted", "source", "expected"),
    [
        (domain_imports, "digests/x.py", "import bot.store\n", "digests/x.py:1 imports bot.store"),
        (
            domain_imports,
            "digests/x.py",
            "from channels.base import Channel\n",
            "digests/x.py:1 imports channels.base",
        ),
        (
            domain_imports,
            "digests/x.py",
            "def f():\n    from sqlalchemy import select\n",
            "digests/x.py:2 imports sqlalchemy",
        ),
        (domain_imports, "digests/x.py", "import telegram\n", "digests/x.py:1 imports telegram"),
        (channel_imports, "channels/x.py", "from bot import cli\n", "channels/x.py:1 imports bot"),
        (
            command_imports,
            "bot/scheduling/x.py",
            "from bot.commands.core import Request\n",
            "bot/scheduling/x.py:1 imports bot.commands.core",
        ),
        (
            command_imports,
            "bot/store/x.py",
            "from ..commands import core\n",
            "bot/store/x.py:1 imports bot.commands",
        ),
        (
            command_imports,
            "bot/delivery/x.py",
            "import bot.commands.dispatch\n",
            "bot/delivery/x.py:1 imports bot.commands.dispatch",
        ),
        (
            sdk_imports,
            "bot/x.py",
            "from telegram.error import Forbidden\n",
            "bot/x.py:1 imports telegram.error",
        ),
        (
            sdk_imports,
            "bot/web/x.py",
            "from slack_bolt.async_app import AsyncApp\n",
            "bot/web/x.py:1 imports slack_bolt.async_app",
        ),
        (sdk_imports, "bot/x.py", "import lark_oapi as lark\n", "bot/x.py:1 imports lark_oapi"),
        (sdk_imports, "bot/x.py", "import discord.errors\n", "bot/x.py:1 imports discord.errors"),
        (
            database_imports,
            "bot/web/x.py",
            "from sqlalchemy import select\n",
            "bot/web/x.py:1 imports sqlalchemy",
        ),
        (
            database_imports,
            "bot/scheduling/x.py",
            "def f():\n    import psycopg\n",
            "bot/scheduling/x.py:2 imports psycopg",
        ),
        (
            cross_platform_imports,
            "channels/slack/x.py",
            "from channels.telegram.render import render\n",
            "channels/slack/x.py:1 imports channels.telegram.render",
        ),
        (
            cross_platform_imports,
            "channels/slack/x.py",
            "from telegram import Bot\n",
            "channels/slack/x.py:1 imports telegram",
        ),
        (
            cross_platform_imports,
            "channels/x.py",
            "from .telegram import SPEC\n",
            "channels/x.py:1 imports channels.telegram",
        ),
        (
            long_modules,
            "channels/x.py",
            "x = 1\n" * 601,
            "channels/x.py has 601 lines (at most 600)",
        ),
        (
            sql_text,
            "bot/scheduling/x.py",
            "async def f(conn):\n    await conn.execute('SELECT pg_try_advisory_lock(1)')\n",
            "bot/scheduling/x.py:2 holds SQL",
        ),
        (
            dynamic_imports,
            "bot/x.py",
            "import importlib\nm = importlib.import_module('channels.slack')\n",
            "bot/x.py:2 imports by name",
        ),
        (
            dynamic_imports,
            "channels/x.py",
            "m = __import__('bot.cli')\n",
            "channels/x.py:1 imports by name",
        ),
    ],
)
def test_each_check_fails_on_a_planted_violation(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[], list[str]],
    planted: str,
    source: str,
    expected: str,
) -> None:
    _plant(tmp_path, planted, source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert check() == [expected]


@pytest.mark.parametrize(
    ("check", "planted", "source"),
    [
        (database_imports, "bot/store/x.py", "from sqlalchemy import select\n"),
        (database_imports, "bot/store/migrations/env.py", "from alembic import context\n"),
        (sdk_imports, "bot/x.py", "from channels.telegram import SPEC\n"),
        (cross_platform_imports, "channels/slack/x.py", "from slack_sdk import WebClient\n"),
        (cross_platform_imports, "channels/x.py", "from channels.base import Channel\n"),
        (dynamic_imports, "bot/platforms.py", "import importlib\nimportlib.import_module('x')\n"),
        (dynamic_imports, "bot/x.py", "from importlib import resources\n"),
        (sql_text, "bot/store/x.py", "Q = 'SELECT 1'\n"),
        (long_modules, "digests/x.py", "x = 1\n" * 600),
        (sql_text, "bot/x.py", "HELP = 'Select a theme, then update it'\n"),
    ],
)
def test_the_checks_let_the_allowed_through(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    check: Callable[[], list[str]],
    planted: str,
    source: str,
) -> None:
    _plant(tmp_path, planted, source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert check() == []


def _plant(root: Path, planted: str, source: str) -> None:
    """A tree with the platform packages and rooms the checks walk, and ``source`` at
    ``planted``."""
    for package in ("bot", "bot/store", "bot/scheduling", "bot/delivery", "channels", "digests"):
        (root / package).mkdir(parents=True, exist_ok=True)
    for name in ("telegram", "slack"):
        (root / "channels" / name).mkdir(exist_ok=True)
        (root / "channels" / name / "__init__.py").write_text("", encoding="utf-8")
    path = root / planted
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
