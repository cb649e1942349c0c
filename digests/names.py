"""Model names as people write them: a family, a version and the other words.

``GLM-4.7`` is family ``glm``, version ``4.7``; ``Kimi-K2-Thinking`` is ``kimi``, ``k2``,
``thinking``; ``Qwen3-Next-80B-A3B`` is ``qwen``, ``3``, ``next`` (sizes such as ``80b`` or
``a3b`` are left out); ``gpt-oss-120b`` is ``gpt`` with ``oss`` and no version. A query names a
model when its family is the model's (or a typo of it) and its version, when it has one, is the
model's written another way (``47``, ``v3.2`` for ``3.2``, ``4.77`` for ``4.7``) or the start of
it (``4`` for ``4.7``); ``4.8`` is not ``4.7``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from rapidfuzz import fuzz, process

_PART = re.compile(r"[^\W_]+(?:\.\d+)*", re.UNICODE)
_VERSION = re.compile(r"^(?:v|[a-z])?\d+(?:\.\d+)*$")
_SIZE = re.compile(r"^(?:a?\d+(?:\.\d+)?[bmkt])$")
_GLUED = re.compile(r"^([a-z]{2,}?)(v?\d+(?:\.\d+)*)$")
_LATIN = re.compile(r"^[a-z][a-z0-9]*$")
#: How alike (rapidfuzz ratio) a typed family must be to a model's: ``minmax`` is ``minimax``.
FAMILY_LIKE = 80.0
T = TypeVar("T")


@dataclass(frozen=True)
class ModelName:
    family: str  # '' when the name does not start with a Latin word
    version: str  # digits and dots, '' when none
    words: tuple[str, ...]  # the other words (``thinking``, ``oss``, or a query's ``思考模式``)

    def version_fits(self, model: ModelName) -> bool:
        """Whether this (a query's) version is ``model``'s: equal written any way, or its start."""
        if not self.version:
            return True
        if not model.version:
            return False
        mine, theirs = self.version.split("."), model.version.split(".")
        if mine == theirs[: len(mine)]:
            return True
        typed, real = "".join(mine), "".join(theirs)
        # the same digits without the dots (``47``), or with one key struck twice (``4.77``);
        # another digit (``4.8``) is another version
        return typed == real or any(
            typed[:n] + typed[n + 1 :] == real
            for n in range(1, len(typed))
            if typed[n] == typed[n - 1]
        )


def parse(name: str) -> ModelName:
    """``name`` as family, version and other words (see the module's docstring)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    parts = _PART.findall(folded)
    if not parts:
        return ModelName("", "", ())
    family, version = "", ""
    first = parts[0]
    glued = _GLUED.match(first)
    if glued and not _VERSION.match(first):
        family, version, rest = glued.group(1), _digits(glued.group(2)), parts[1:]
    elif _LATIN.match(first) and not _VERSION.match(first):
        family, rest = first, parts[1:]
    else:
        rest = parts
    words: list[str] = []
    for part in rest:
        if family and not version and _VERSION.match(part):
            version = _digits(part)
        elif not _SIZE.match(part):
            words.append(part)
    return ModelName(family, version, tuple(words))


def family_of(asked: ModelName, families: Mapping[str, T]) -> list[T]:
    """The entries of ``families`` (by family) whose family is ``asked``'s or a typo of it."""
    if not asked.family:
        return []
    found = [families[asked.family]] if asked.family in families else []
    if len(asked.family) >= 4:
        near = process.extract(
            asked.family, list(families), scorer=fuzz.ratio, score_cutoff=FAMILY_LIKE, limit=5
        )
        found.extend(families[f] for f, _score, _n in near if f != asked.family and len(f) >= 4)
    return found


def _digits(version: str) -> str:
    return version.lstrip("abcdefghijklmnopqrstuvwxyz")
