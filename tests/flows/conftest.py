"""Fixtures for flow tests: the bundled demo site served on 127.0.0.1 (port 0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flow_helpers import DemoServer, start_demo_server


@pytest.fixture
def demo_server() -> Iterator[DemoServer]:
    server = start_demo_server()
    yield server
    server.stop()
