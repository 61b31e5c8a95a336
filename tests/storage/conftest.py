"""Fixtures of the storage tests."""

from __future__ import annotations

import pytest
from storage_helpers import load_stories


@pytest.fixture(scope="session")
def stories() -> dict[str, str]:
    return load_stories()
