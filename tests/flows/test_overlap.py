"""Extraction while the crawl runs gives the snapshot that extraction after the crawl gives:
the same template models (learned from a fixed prefix of the crawl) and the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flow_helpers import fixture_server_module

import flows.pipeline as pipeline
from crawlers.config import ResolvedSource, parse_config
from flows.pipeline import crawl_source
from storage.snapshots import list_snapshots
from storage.views import connect

ARTICLES = 40
#: Columns that depend on the page only (not on when it was fetched or stored).
COLUMNS = (
    "article_id, version, url, canonical_url, title, authors, published_at, language,"
    " sitename, description, categories, tags, image, text, word_count, content_hash,"
    " simhash, duplicate_of"
)

fixture_server = fixture_server_module()


def slow_site(base: str) -> ResolvedSource:
    """One request at a time, each article answered after 0.2 s: a deterministic fetch
    order, and a crawl (~8 s) that outlasts the crawler's first 5 s pages flush."""
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
        "download_timeout": 10.0,
    }
    return parse_config({"sources": {"site": body}}, "<test>").source("site")


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
    options = fixture_server.ServerOptions(
        generate=ARTICLES, realistic=True, slow_rate=1.0, slow_seconds=0.2
    )
    with fixture_server.FixtureServer(options=options) as srv:
        during = crawl_source(slow_site(srv.base), str(tmp_path / "during"))
        after = crawl_source(
            slow_site(srv.base), str(tmp_path / "after"), extract_during_crawl=False
        )
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
