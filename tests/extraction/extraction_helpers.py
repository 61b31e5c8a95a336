"""The golden fixture cases of the extraction tests (a module name no other test folder uses)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Case:
    """One golden page: HTML bytes, how it was fetched, and what extraction must give."""

    name: str
    html: bytes
    url: str
    content_type: str | None
    fetched_at: datetime
    hints: dict[str, Any]
    meta: dict[str, Any]
    expected_text: str | None


def load_cases() -> list[Case]:
    """Every fixtures/<name>.json with its .html (and .txt for article pages)."""
    cases = []
    for meta_path in sorted(FIXTURES.glob("*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        txt = meta_path.with_suffix(".txt")
        cases.append(
            Case(
                name=meta_path.stem,
                html=meta_path.with_suffix(".html").read_bytes(),
                url=meta["url"],
                content_type=meta.get("content_type"),
                fetched_at=datetime.fromisoformat(meta["fetched_at"]),
                hints=meta.get("hints", {}),
                meta=meta,
                expected_text=txt.read_text(encoding="utf-8") if txt.exists() else None,
            )
        )
    return cases
