"""The Prefect flows end to end on the bundled demo site: WARC, pages, articles, snapshots,
a second crawl adding nothing, reextract with the site stopped, failures isolated per source."""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import DemoServer, demo_source, start_demo_server
from warcio.archiveiterator import ArchiveIterator

from extraction.options import ExtractionOptions
from flows.demo import DEMO_SOURCE
from flows.demo_site import load_site
from flows.pipeline import crawl_source, crawl_sources, reextract
from storage.views import connect

BOILERPLATE = [
    "Leave a Reply",
    "Your email address will not be published",
    "Required fields are marked",
    "fourteen",
    "Join our Weekly Newsletter",
    "follow us on Twitter",
    "You may also like",
    "Share this",
    "We use cookies",
    "All rights reserved",
    "Breaking:",
    "Post Comment",
]


@dataclass
class Crawled:
    root: str
    server: DemoServer
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def crawled(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """One crawl of the demo site through the real flow, shared by the tests of this module."""
    root = str(tmp_path_factory.mktemp("archive"))
    server = start_demo_server()
    try:
        summary = crawl_source(demo_source(server.base_url), root)
        yield Crawled(root, server, summary)
    finally:
        server.stop()


def _read_warc_slice(root: str, warc_file: str, offset: int, length: int) -> Any:
    with open(os.path.join(root, warc_file), "rb") as f:
        f.seek(offset)
        data = f.read(length)
    return next(iter(ArchiveIterator(io.BytesIO(data))))


def test_crawl_writes_readable_warc_for_every_fetch(crawled: Crawled) -> None:
    warc_dir = Path(crawled.root) / "warc" / f"source={DEMO_SOURCE}"
    files = sorted(warc_dir.glob("*.warc.gz"))
    assert files, "no WARC file written"
    responses: dict[str, int] = {}
    for path in files:
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    responses[uri] = record.http_headers.get_statuscode()
    con = connect(crawled.root)
    rows = con.sql(
        "select url, final_url, status, warc_file, warc_offset, warc_length from pages"
        " where status is not null"
    ).fetchall()
    assert len(rows) == crawled.summary["crawl"]["pages_fetched"]
    for url, final_url, status, warc_file, offset, length in rows:
        assert (final_url or url) in responses or url in responses
        record = _read_warc_slice(crawled.root, warc_file, offset, length)
        assert record.rec_headers.get_header("WARC-Target-URI") in (url, final_url)
        assert int(record.http_headers.get_statuscode()) == status


def test_pages_rows_match_the_crawl(crawled: Crawled) -> None:
    con = connect(crawled.root)
    by_status = dict(con.sql("select status, count(*) from pages group by 1").fetchall())
    assert {str(k): v for k, v in by_status.items()} == crawled.summary["crawl"]["status_counts"]
    assert by_status[200] >= len(load_site().articles)
    assert by_status.get(404, 0) >= 1  # the site links to pages that do not exist
    urls = [u for (u,) in con.sql("select url from pages").fetchall()]
    assert not [u for u in urls if "/search/" in u], "robots.txt Disallow: /search/ ignored"
    via = {v for (v,) in con.sql("select distinct discovered_via from pages").fetchall()}
    assert "start" in via
    assert via & {"feed", "sitemap"}


def test_every_demo_article_lands_once_without_boilerplate(crawled: Crawled) -> None:
    site = load_site()
    con = connect(crawled.root)
    rows = con.sql(
        "select url, title, text, word_count, language, authors, categories, published_at,"
        " warc_file, warc_offset, warc_length from latest_articles"
    ).fetchall()
    by_path = {r[0].removeprefix(crawled.server.base_url): r for r in rows}
    for article in site.articles:
        assert article.path in by_path, f"{article.path} did not become an article"
        (url, title, text, words, lang, authors, cats, published, wf, wo, wl) = by_path[
            article.path
        ]
        assert title == article.title
        assert article.paragraphs[0] in text
        assert article.paragraphs[-1] in text
        assert words >= 100
        for phrase in BOILERPLATE:
            assert phrase.lower() not in text.lower(), f"{phrase!r} left in {article.path}"
        for who, comment in article.comments:
            assert comment not in text, f"reader comment by {who} left in {article.path}"
        assert lang == article.lang
        assert authors == [article.author]
        assert cats == [site.sections[article.section]]
        assert published == article.published.astimezone(UTC)
        record = _read_warc_slice(crawled.root, wf, wo, wl)
        assert record.rec_headers.get_header("WARC-Target-URI") == url
    listing = [p for p in by_path if p == "/" or p.startswith(("/category/", "/tag/", "/page/"))]
    assert not listing, f"listing pages became articles: {listing}"
    assert len(rows) == con.sql("select count(*) from articles").fetchall()[0][0]


def test_snapshot_and_report_artifact(crawled: Crawled) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    snap = crawled.summary["snapshot"]
    assert snap["kind"] == "crawl"
    assert snap["new"] == snap["rows"] >= len(load_site().articles)
    assert (Path(crawled.root) / "snapshots" / f"{snap['snapshot_id']}.json").is_file()
    assert set(crawled.summary["durations"]) >= {"crawl", "extract", "commit", "total"}
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"crawl-{DEMO_SOURCE}"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[crawled.summary["flow_run_id"]]),
            )
        )
    assert len(artifacts) == 1
    markdown = str(artifacts[0].data)
    assert "| 200 |" in markdown and "| 404 |" in markdown
    assert "listing_page" in markdown  # rejections by reason
    assert snap["snapshot_id"] in markdown
    assert "bytes archived" in markdown


def test_second_crawl_adds_no_article_rows(crawled: Crawled) -> None:
    con = connect(crawled.root)
    before = con.sql("select count(*) from articles").fetchall()
    again = crawl_source(demo_source(crawled.server.base_url), crawled.root)
    assert again["snapshot"]["new"] == 0
    assert again["snapshot"]["changed"] == 0
    assert again["snapshot"]["rows"] == 0
    assert connect(crawled.root).sql("select count(*) from articles").fetchall() == before


def test_reextract_reads_only_stored_warc(crawled: Crawled) -> None:
    crawled.server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(crawled.server.base_url + "/", timeout=2)
    con = connect(crawled.root)
    (stored,) = con.sql("select count(distinct article_id) from articles").fetchall()[0]
    snapshots = reextract(crawled.root, options=ExtractionOptions(min_words=10))
    assert [s["kind"] for s in snapshots] == ["reextract"]
    snap = snapshots[0]
    assert snap["source"] == DEMO_SOURCE
    assert snap["unchanged"] == stored
    assert snap["new"] == 0 and snap["changed"] == 0
    listed = connect(crawled.root).sql("select kind from snapshots order by created_at").fetchall()
    assert listed[-1] == ("reextract",)
    assert "opts=" in str(snap["extractor"])


def test_sources_fail_independently(
    prefect_harness: None, demo_server: DemoServer, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    # A file where the source's WARC directory must go: its crawl process fails for real.
    (root / "warc").mkdir(parents=True)
    (root / "warc" / "source=broken").write_text("not a directory")
    good = demo_source(demo_server.base_url, max_pages=12)
    broken = good.model_copy(update={"name": "broken"})
    results = crawl_sources(root=str(root), sources=[broken, good], crawl_retries=0)
    by_source = {r["source"]: r for r in results}
    assert by_source["broken"]["ok"] is False
    assert "broken" in by_source["broken"]["error"]
    assert by_source[DEMO_SOURCE]["ok"] is True
    assert by_source[DEMO_SOURCE]["crawl"]["pages_fetched"] > 0
    # Which 12 pages come first varies, so the snapshot may hold no article: it still commits.
    sources = connect(str(root)).sql("select source, kind from snapshots").fetchall()
    assert sources == [(DEMO_SOURCE, "crawl")]


def test_reextract_since_selects_by_fetch_date(crawled: Crawled) -> None:
    before = connect(crawled.root).sql("select count(*) from snapshots").fetchall()
    assert reextract(crawled.root, since="2999-01-01") == []
    assert connect(crawled.root).sql("select count(*) from snapshots").fetchall() == before
    today = datetime.now(UTC).date().isoformat()
    snaps = reextract(crawled.root, source=DEMO_SOURCE, since=today)
    assert len(snaps) == 1
    assert snaps[0]["unchanged"] >= len(load_site().articles)
    assert snaps[0]["new"] == 0 and snaps[0]["changed"] == 0


@pytest.mark.scale
def test_reextract_batches_run_on_a_dask_cluster(crawled: Crawled) -> None:
    from prefect_dask import DaskTaskRunner

    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 1, "processes": False, "threads_per_worker": 1}
    )
    flow = reextract.with_options(task_runner=runner)  # type: ignore[arg-type]
    snapshots = flow(crawled.root, batch_pages=10, workers=1)
    assert [s["kind"] for s in snapshots] == ["reextract"]
    assert snapshots[0]["new"] == 0 and snapshots[0]["changed"] == 0
    assert snapshots[0]["unchanged"] >= len(load_site().articles)


def test_pages_of_a_run_killed_before_its_commit_are_extracted_by_the_next_run(
    prefect_harness: None, demo_server: DemoServer, tmp_path: Path
) -> None:
    from crawlers.runner import run_crawl
    from flows.pipeline import uncommitted_crawl_ids

    root = str(tmp_path / "archive")
    source = demo_source(demo_server.base_url)
    killed = run_crawl(source, root)  # the crawl stage of a run that then died
    assert uncommitted_crawl_ids.fn(root, DEMO_SOURCE) == [killed.crawl_id]
    summary = crawl_source(source, root)
    # The incremental crawler skipped the archived articles; they came from the killed run.
    assert summary["crawl"]["pages_fetched"] < killed.pages_fetched
    urls = {u for (u,) in connect(root).sql("select url from latest_articles").fetchall()}
    assert {demo_server.base_url + a.path for a in load_site().articles} <= urls
    assert uncommitted_crawl_ids.fn(root, DEMO_SOURCE) == []
