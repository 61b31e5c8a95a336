"""Crawl progress: pages counted from the pages files the crawl child flushes, with a rate."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flows.progress import PROGRESS_LOGGER, watch_crawl
from storage.pages import write_pages


def _rows(crawl_id: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    return [
        {
            "url": f"http://127.0.0.1/a/{i}",
            "url_key": f"127.0.0.1/a/{i}",
            "source": "s",
            "crawl_id": crawl_id,
            "status": 200,
            "fetched_at": now,
        }
        for i in range(start, start + n)
    ]


def test_watch_crawl_counts_this_crawls_pages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = str(tmp_path)
    caplog.set_level(logging.INFO, logger=PROGRESS_LOGGER)
    with watch_crawl(root, "s", "crawl-1", interval=0.05, budget=100):
        write_pages(root, "s", "crawl-1", _rows("crawl-1", 20))
        time.sleep(0.4)
        write_pages(root, "s", "crawl-1", _rows("crawl-1", 30, start=20))
        write_pages(root, "s", "crawl-2", _rows("crawl-2", 7))  # another crawl: not counted
    updates = [r for r in caplog.records if hasattr(r, "progress")]
    final = updates[-1].progress  # type: ignore[attr-defined]  # set via `extra`
    assert (final.completed, final.total, final.unit, final.done) == (50, 50, "pages", True)
    assert "50 pages fetched" in updates[-1].getMessage()
    running = [u.getMessage() for u in updates[:-1]]
    assert any("20 pages fetched" in m and "100-page budget" in m for m in running)
