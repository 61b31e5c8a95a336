"""Fixtures of the extraction tests."""

from __future__ import annotations

import pytest
from extraction_helpers import Case, load_cases


@pytest.fixture(scope="session")
def cases() -> list[Case]:
    """All golden cases."""
    return load_cases()
