"""Extraction while the crawl runs gives the snapshot that extraction after the crawl gives:
the same template models (learned from a fixed prefix of the crawl) and the same rows; a flow
takes over a crawl and an extraction pool its caller started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from flow_helpers import DemoServer, demo_source, fixture_server_module

import flows.pipeline as pipeline
from crawlers.config import ResolvedSource, parse_config
from crawlers.runner import start_crawl
from extraction.batch import make_pool
from flows.demo_site import load_site
from flows.pipeline import crawl_source, started_crawls, started_pools
from flows.prestart import pool_size, start_pool
from storage.pages import list_pages_files
from storage.snapshots import list_snapshots
from storage.views import connect

ARTICLES = 30
#: Columns that depend on the page only (not on when it was fetched or stored).
COLUMNS = (
    "article_id, version, url, canonical_url, title, authors, published_at, language,"
    " sitename, description, categories, tags, image, text, word_count, content_hash,"
    " simhash, duplicate_of"
)

fixture_server = fixture_server_module()


def slow_site(base: str) -> ResolvedSource:
    """One request every ~0.3 s (a download delay: Scrapy sends them one at a time), so the
    fetch order is the same in every crawl and the crawl (~9 s) outlasts the crawler's first
    5 s pages flush."""
    body = {
        "sitemaps": [base + "/gen/sitemap.xml"],
        "allowed_domains": ["127.0.0.1"],
        "allow_private_addresses": True,
        "article_url_patterns": ["/gen/2026/"],
        "max_depth": 1,
        "follow_links": False,
        "obey_robots": False,
        "autothrottle": False,
        "concurrency_per_domain": 1,
        "download_delay": 0.3,
        "download_timeout": 10.0,
    }
    return parse_config({"sources": {"site": body}}, "<test>").source("site")


def fetch_order(root: Path) -> list[str]:
    """URLs of the crawl's pages rows in the order its pages files were written."""
    files = sorted(list_pages_files(str(root)), key=pipeline._file_order)
    urls = [pq.read_table(root / f, columns=["url"])["url"].to_pylist() for f in files]
    return [str(u) for part in urls for u in part]


def stored(root: Path) -> list[tuple[Any, ...]]:
    con = connect(str(root))
    rows = con.sql(f"select {COLUMNS} from articles order by url").fetchall()
    con.close()
    return rows


@pytest.mark.slow
def test_extraction_during_the_crawl_stores_what_extraction_after_it_stores(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A prefix shorter than the crawl: the models are fixed while it still runs.
    monkeypatch.setattr(pipeline, "TEMPLATE_CRAWL_PAGES", 12)
    options = fixture_server.ServerOptions(generate=ARTICLES, realistic=True)
    with fixture_server.FixtureServer(options=options) as srv:
        during = crawl_source(slow_site(srv.base), str(tmp_path / "during"))
        after = crawl_source(
            slow_site(srv.base), str(tmp_path / "after"), extract_during_crawl=False
        )
    # Both crawls fetched the same pages in the same order (what the template prefix is).
    assert fetch_order(tmp_path / "during") == fetch_order(tmp_path / "after")
    assert during["extraction"]["during_crawl"] > 0, during["durations"]  # it did overlap
    assert after["extraction"]["during_crawl"] == 0
    for summary in (during, after):
        assert summary["extraction"]["articles"] == ARTICLES
        assert summary["snapshot"]["new"] == ARTICLES
    (snap_during,) = list_snapshots(str(tmp_path / "during"))
    (snap_after,) = list_snapshots(str(tmp_path / "after"))
    models = snap_during.stats["templates"]
    assert set(models) == {"site"}  # a template model was learned...
    assert models == snap_after.stats["templates"]  # ...the same one both ways
    assert snap_during.counts == snap_after.counts
    rows = stored(tmp_path / "during")
    assert len(rows) == ARTICLES
    assert rows == stored(tmp_path / "after")


def test_a_flow_takes_over_the_crawl_its_caller_started(
    prefect_harness: None, demo_server: DemoServer, tmp_path: Path
) -> None:
    """The CLI starts the crawl and the extraction pool while its Prefect server boots; the
    flow run waits for that crawl (its first attempt) instead of crawling again, and
    extracts it with that pool."""
    root = str(tmp_path / "archive")
    source = demo_source(demo_server.base_url)
    pool = start_pool(None)
    with (
        start_crawl(source, root) as started,
        started_crawls({source.name: started}),
        started_pools({source.name: pool}),
    ):
        summary = crawl_source(source, root)
    with pytest.raises(RuntimeError, match="shutdown"):  # the run took the pool, shut it down
        pool.submit(int)
    assert summary["crawl"]["crawl_id"] == started.crawl_id
    assert started.poll() == 0
    crawl_ids = {f.rsplit("/", 1)[-1].rsplit("-", 1)[0] for f in list_pages_files(root)}
    assert crawl_ids == {started.crawl_id}  # no second crawl
    assert summary["snapshot"]["new"] >= len(load_site().articles)
    # Another budget is another crawl: not taken over (the started one is the caller's).
    other = demo_source(demo_server.base_url, max_pages=3)
    with start_crawl(source, str(tmp_path / "b")) as unused, started_crawls({source.name: unused}):
        assert pipeline._started_crawl(other, str(tmp_path / "b"), None) is None
        assert pipeline._started_crawl(source, str(tmp_path / "c"), None) is None
        assert pipeline._started_crawl(source, str(tmp_path / "b"), None) == unused.crawl_id
    # A pool of another size is not the run's: it stays the caller's (no worker started).
    other_pool = make_pool(pool_size(None) + 1)
    with started_pools({source.name: other_pool}):
        assert pipeline._started_pool(source.name, None) is None
        assert pipeline._started_pool(source.name, pool_size(None) + 1) is other_pool
        assert pipeline._started_pool(source.name, pool_size(None) + 1) is None  # taken once
    other_pool.shutdown()


@pytest.mark.slow
def test_a_worn_pool_is_replaced_without_a_drain_and_every_pool_is_shut_down(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool worn out by its pages gets a successor started as soon as its last task is
    in (tasks still running on it); each pool is shut down and the snapshot is complete."""
    pools: list[Any] = []
    predecessor_open: list[bool] = []  # at each replacement: the old pool not shut down yet

    def counted(workers: int | None) -> Any:
        if pools:
            predecessor_open.append(not pools[-1]._shutdown_thread)
        pools.append(start_pool(workers))
        return pools[-1]

    monkeypatch.setattr(pipeline, "TEMPLATE_CRAWL_PAGES", 12)
    monkeypatch.setattr(pipeline, "POOL_PAGES_PER_WORKER", 1)  # worn by any pages file
    monkeypatch.setattr(pipeline, "_start_pool", counted)
    options = fixture_server.ServerOptions(generate=ARTICLES, realistic=True)
    with fixture_server.FixtureServer(options=options) as srv:
        summary = crawl_source(slow_site(srv.base), str(tmp_path / "a"))
    files = list_pages_files(str(tmp_path / "a"))
    assert len(files) >= 2, files  # the crawl flushed more than one pages file
    assert summary["extraction"]["during_crawl"] > 0
    assert len(pools) >= 2  # replaced at least once while the crawl ran
    assert all(predecessor_open), predecessor_open  # no drain first: it ran on meanwhile
    for pool in pools:
        with pytest.raises(RuntimeError, match="shutdown"):
            pool.submit(int)
    assert summary["extraction"]["articles"] == ARTICLES
    assert summary["snapshot"]["new"] == ARTICLES
    rows = stored(tmp_path / "a")
    assert len(rows) == ARTICLES and all(r[13] for r in rows)  # every text stored
