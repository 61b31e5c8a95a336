"""Fixtures for crawler tests: a fresh fixture-site server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from crawl_helpers import SITE, fixture_server


@pytest.fixture
def server() -> Iterator[Any]:
    """A fresh fixture server per test (its request log starts empty)."""
    srv = fixture_server.FixtureServer(SITE, fixture_server.ServerOptions(slow_seconds=2.0))
    srv.start()
    yield srv
    srv.stop()
