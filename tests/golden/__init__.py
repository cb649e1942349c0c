"""Golden files: expected renderer output, compared byte for byte.

Run with ``DIGESTBOT_UPDATE_GOLDEN=1`` to rewrite them after an intended change, then read the
diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``tests/golden/<name>``, or write it when updating.

    A missing golden file fails too (unless updating): a check that cannot fail is no check.
    """
    path = GOLDEN / name
    if os.environ.get("DIGESTBOT_UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with DIGESTBOT_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the golden file (DIGESTBOT_UPDATE_GOLDEN=1)"
