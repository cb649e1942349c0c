"""Fixtures the adapter tests share."""

from __future__ import annotations

import pytest

from tests.fakes import EchoHandler


@pytest.fixture
def handler() -> EchoHandler:
    """A gateway stand-in that echoes commands and records uploads."""
    return EchoHandler()
