"""Builders of EXTRACTED_SCHEMA batches for the storage tests (imported by test modules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from storage.dedup import content_hash, simhash
from storage.schemas import EXTRACTED_SCHEMA
from storage.urls import url_key

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def article_row(
    url: str,
    text: str,
    *,
    source: str = "daily",
    fetched_at: datetime = T0,
    title: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One extracted-article row with fingerprints computed the way extraction does."""
    row = {
        "url": url,
        "canonical_url": url,
        "url_key": url_key(url),
        "source": source,
        "title": title or text.split(".")[0][:60],
        "authors": ["A. Writer"],
        "published_at": fetched_at - timedelta(hours=1),
        "modified_at": None,
        "language": "en",
        "sitename": source.title(),
        "description": None,
        "categories": ["news"],
        "tags": [],
        "image": None,
        "text": text,
        "word_count": len(text.split()),
        "content_hash": content_hash(text),
        "simhash": simhash(text),
        "fetched_at": fetched_at,
        "extracted_at": fetched_at + timedelta(seconds=5),
        "extractor": "test-extractor/1",
        "warc_file": f"warc/source={source}/c-00000.warc.gz",
        "warc_offset": 0,
        "warc_length": 100,
    }
    row.update(extra)
    return row


def batch(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EXTRACTED_SCHEMA)


def load_stories() -> dict[str, str]:
    """Ten original short news stories (distinct topics) for dedup tests."""
    return json.loads((Path(__file__).parent / "fixtures" / "stories.json").read_text())
