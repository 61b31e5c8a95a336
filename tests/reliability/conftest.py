"""Fixtures for reliability tests: a fresh fixture-site server on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rel_helpers import SITE, fixture_server


@pytest.fixture
def server() -> Iterator[Any]:
    """A fresh fixture server per test; endless bodies give up after 10 s."""
    options = fixture_server.ServerOptions(slow_seconds=2.0, endless_seconds=10.0)
    srv = fixture_server.FixtureServer(SITE, options)
    srv.start()
    yield srv
    srv.stop()
