"""Pages index: staged Parquet files per crawl_date, incremental flushes, archived-key lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.pages import PagesError, archived_url_keys, read_pages, write_pages
from storage.schemas import PAGES_SCHEMA

T0 = datetime(2026, 5, 1, 23, 58, tzinfo=UTC)


def _row(i: int, status: int | None = 200, when: datetime = T0, crawl: str = "c1") -> dict:
    return {
        "url": f"https://news.test/a/{i}?utm_source=x",
        "final_url": f"https://news.test/a/{i}",
        "url_key": f"news.test/a/{i}",
        "source": "news",
        "crawl_id": crawl,
        "status": status,
        "content_type": "text/html",
        "fetched_at": when,
        "discovered_via": "link",
        "depth": 1,
        "warc_file": "warc/source=news/c1-00000.warc.gz",
        "warc_offset": i * 100,
        "warc_length": 100,
        "error": None if status else "timeout",
    }


def test_incremental_flushes_split_by_day(tmp_path: Path) -> None:
    root = str(tmp_path)
    first = write_pages(root, "news", "c1", [_row(0), _row(1, when=T0 + timedelta(minutes=5))])
    assert first == [
        "pages/source=news/crawl_date=2026-05-01/c1-00000.parquet",
        "pages/source=news/crawl_date=2026-05-02/c1-00001.parquet",
    ]
    second = write_pages(root, "news", "c1", [_row(2, status=None)])
    assert second == ["pages/source=news/crawl_date=2026-05-01/c1-00002.parquet"]
    assert write_pages(root, "news", "c1", []) == []
    assert not list((tmp_path / ".staging").glob("*"))  # nothing left in staging

    t = read_pages(root)
    assert t.schema == PAGES_SCHEMA and t.num_rows == 3
    assert sorted(t["warc_offset"].to_pylist()) == [0, 100, 200]
    assert read_pages(root, since="2026-05-02").num_rows == 1
    assert read_pages(root, crawl_id="other").num_rows == 0
    assert read_pages(root, source="news", crawl_id="c1").num_rows == 3

    glob = f"{tmp_path}/pages/**/*.parquet"
    n = duckdb.sql(
        "select count(*), count(distinct crawl_date) from read_parquet("
        f"'{glob}', hive_partitioning=true, union_by_name=true)"
    ).fetchall()
    assert n == [(3, 2)]


def test_bad_rows_write_nothing(tmp_path: Path) -> None:
    root = str(tmp_path)
    bad = _row(0)
    del bad["url_key"]
    with pytest.raises(PagesError, match="url_key"):
        write_pages(root, "news", "c1", [bad])
    with pytest.raises(PagesError, match="unknown column"):
        write_pages(root, "news", "c1", [{**_row(0), "bogus": 1}])
    with pytest.raises(PagesError, match="source other than"):
        write_pages(root, "other", "c1", [_row(0)])
    with pytest.raises(ValueError):
        write_pages(root, "../x", "c1", [_row(0)])
    assert read_pages(root).num_rows == 0
    assert not (tmp_path / "pages").exists()


def test_archived_keys_only_successful_pages(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert len(archived_url_keys(root, "news")) == 0
    write_pages(root, "news", "c1", [_row(i) for i in range(50)] + [_row(99, status=404)])
    write_pages(root, "news", "c2", [_row(1, crawl="c2"), _row(100, status=None, crawl="c2")])
    keys = archived_url_keys(root, "news")
    assert len(keys) == 50
    assert "news.test/a/7" in keys and "news.test/a/49" in keys
    assert "news.test/a/99" not in keys and "news.test/a/100" not in keys
    assert "news.test/a/0x" not in keys and "" not in keys
    assert keys.contains_many(["news.test/a/3", "news.test/a/99", "zzz"]) == [True, False, False]


def test_old_file_without_new_columns_reads(tmp_path: Path) -> None:
    old_schema = pa.schema(
        [f for f in PAGES_SCHEMA if f.name not in ("title_hint", "published_hint")]
    )
    old = pa.Table.from_pylist([_row(5)], schema=old_schema)
    d = tmp_path / "pages/source=news/crawl_date=2026-05-01"
    d.mkdir(parents=True)
    pq.write_table(old, d / "c0-00000.parquet")
    write_pages(str(tmp_path), "news", "c1", [{**_row(6), "title_hint": "Hi"}])
    t = read_pages(str(tmp_path)).sort_by("warc_offset")
    assert t["title_hint"].to_pylist() == [None, "Hi"]
