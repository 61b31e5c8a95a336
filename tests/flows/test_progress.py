"""Crawl progress: pages counted from the pages files the crawl child flushes, with a rate."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.progress import PROGRESS_LOGGER, recent_pages_files, watch_crawl
from storage.fs import open_root
from storage.pages import write_pages


def _rows(
    crawl_id: str, n: int, start: int = 0, fetched_at: datetime | None = None
) -> list[dict[str, Any]]:
    now = fetched_at or datetime.now(UTC)  # a crawl's pages: fetched since it started
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


def test_recent_pages_files_lists_the_partitions_a_crawl_started_now_writes(
    tmp_path: Path,
) -> None:
    """A run polls the pages files of its crawl: the partitions of its start day (less a
    day of margin) and later, never the whole history of the source."""
    root = str(tmp_path)
    now = datetime.now(UTC)
    written = {}
    for days_ago in (400, 2, 1, 0):
        crawl_id = f"crawl-{days_ago}"
        fetched = now - timedelta(days=days_ago)
        written[days_ago] = write_pages(root, "s", crawl_id, _rows(crawl_id, 3, 0, fetched))
    recent = recent_pages_files(open_root(root), "s", now)
    assert sorted(recent) == sorted(written[1] + written[0])
    assert sorted(recent_pages_files(open_root(root), "s", now - timedelta(days=3))) == sorted(
        written[2] + written[1] + written[0]
    )
    assert recent_pages_files(open_root(root), "nothing-yet", now) == []
