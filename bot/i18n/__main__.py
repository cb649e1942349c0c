"""``python -m bot.i18n update|check``: keep the catalogs in step with the code.

``update`` is the one command after adding, changing or merging strings: extract (pybabel
extract with ``babel.cfg``) into ``bot/i18n/locale/digestbot.pot``, merge into every language's
``.po`` (pybabel update) and compile the ``.mo`` files (pybabel compile). Translate what it
reports as missing in the ``.po``, then run it again. ``check`` changes nothing and exits 1 while
any string the code uses lacks a translation or a ``.mo`` is older than its ``.po``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bot.i18n.catalogs import ROOT, TEMPLATE, compile_all, problems, update_all


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    action = args[0] if args else ""
    if action == "update":
        update_all()
        compile_all()
        print(f"extracted into {TEMPLATE.relative_to(ROOT)}; catalogs merged and compiled")
    elif action != "check":
        print("usage: python -m bot.i18n update|check", file=sys.stderr)
        return 2
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
