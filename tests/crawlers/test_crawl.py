"""Real crawls of the fixture site on 127.0.0.1 via run_crawl: what was requested and archived."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from crawl_helpers import SITE, fixture_server, site_source
from warcio.archiveiterator import ArchiveIterator

from crawlers.runner import CrawlResult, new_crawl_id, run_crawl
from storage.pages import read_pages
from storage.warc import read_record

ARTICLES = {
    "/2026/11/harbour-ferry-returns.html",
    "/2026/11/library-late-hours.html",
    "/2026/11/orchard-cider-festival.html",
    "/2026/11/bridge-inspection-delay.html",
    "/2026/11/school-robotics-team.html",
    "/2026/11/council-budget-vote.html",
    "/2026/11/tunnel-art-project.html",
    "/2026/11/ferry-timetable.html",
    "/2026/10/market-square-lights.html",
    "/2026/10/river-cleanup-volunteers.html",
    "/2026/10/museum-lighthouse-lens.html",
    "/2026/09/weather-station-upgrade.html",
}
DISCOVERY = {
    "/robots.txt",
    "/feed.xml",
    "/atom.xml",
    "/",
    "/sitemap_index.xml",
    "/sitemap-news.xml",
    "/sitemap-archive.xml.gz",
}
LINKED_PAGES = {
    "/tag/science/",
    "/page/2/",
    "/about.html",
    "/calendar/2026/11/",
    "/calendar/2026/10/",
    "/calendar/2026/12/",
    "/redirect/start",
    "/redirect/hop",
    "/missing.html",
    "/error500",
    "/slow.html",
    "/busy.html",
    "/huge.html",
    "/gzip.html",
    "/report.pdf",
}


class Crawl:
    """One crawl's outputs: the result, its pages rows and what the server saw."""

    def __init__(self, result: CrawlResult, root: str, server: Any) -> None:
        self.result = result
        self.root = root
        self.base = server.base
        self.requests = [
            e for e in server.log.snapshot() if e["time"] >= getattr(server, "mark", 0.0)
        ]
        table = read_pages(root, "site", crawl_id=result.crawl_id)
        self.rows = sorted(table.to_pylist(), key=lambda r: r["fetched_at"])

    def paths(self) -> Counter[str]:
        return Counter(e["path"] for e in self.requests)

    def rows_for(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["url"] == self.base + path]


@pytest.fixture(scope="module")
def site() -> Iterator[Any]:
    srv = fixture_server.FixtureServer(SITE, fixture_server.ServerOptions(slow_seconds=2.0))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def first(site: Any, archive: str) -> Crawl:
    result = run_crawl(site_source(site.base), archive)
    return Crawl(result, archive, site)


@pytest.fixture(scope="module")
def second(first: Crawl, site: Any, archive: str) -> Crawl:
    import time

    site.mark = time.time()
    result = run_crawl(site_source(site.base), archive)
    return Crawl(result, archive, site)


def test_exactly_the_expected_urls_are_requested(first: Crawl) -> None:
    paths = first.paths()
    assert set(paths) == ARTICLES | DISCOVERY | LINKED_PAGES
    # Tracking-parameter duplicates (?utm_source=..., #comments) are fetched once.
    assert paths["/2026/11/orchard-cider-festival.html"] == 1
    assert paths["/2026/11/harbour-ferry-returns.html"] == 1
    # Retries are bounded: retry_times=1 -> two attempts; 429 retried once after waiting.
    assert paths["/error500"] == 2
    assert paths["/slow.html"] == 2
    assert paths["/busy.html"] == 2
    # robots.txt: once by the robots middleware, once as the configured sitemap source.
    assert paths["/robots.txt"] == 2


def test_robots_disallowed_offsite_and_non_http_are_never_requested(first: Crawl) -> None:
    assert not any(p.startswith("/private/") for p in first.paths())
    assert first.result.robots_forbidden == 1
    assert first.result.dropped_offsite >= 2  # elsewhere.example, social.example
    assert first.result.dropped_non_http >= 3  # mailto:, javascript:, ftp:
    assert all(
        e["headers"].get("user-agent", "").startswith("newsarchive/") for e in first.requests
    )


def test_calendar_trap_is_bounded_by_depth(first: Crawl) -> None:
    calendar = {p for p in first.paths() if p.startswith("/calendar/")}
    assert calendar == {"/calendar/2026/11/", "/calendar/2026/10/", "/calendar/2026/12/"}


def test_one_pages_row_per_fetch_attempt(first: Crawl) -> None:
    assert len(first.rows) == sum(first.paths().values())
    assert Counter(r["url"].removeprefix(first.base) for r in first.rows) == first.paths()
    assert first.result.pages_fetched == len(first.rows)
    assert {r["crawl_id"] for r in first.rows} == {first.result.crawl_id}
    assert {r["source"] for r in first.rows} == {"site"}


def test_error_rows(first: Crawl) -> None:
    assert [r["status"] for r in first.rows_for("/missing.html")] == [404]
    errors = first.rows_for("/error500")
    assert [r["status"] for r in errors] == [500, 500]
    backoff = (errors[1]["fetched_at"] - errors[0]["fetched_at"]).total_seconds()
    assert backoff >= 0.25  # retry_backoff
    slow = first.rows_for("/slow.html")
    assert [r["status"] for r in slow] == [None, None]
    assert all("Timeout" in r["error"] and r["warc_file"] is None for r in slow)
    (huge,) = first.rows_for("/huge.html")
    assert huge["status"] is None and "max size" in huge["error"]
    busy = first.rows_for("/busy.html")
    assert [r["status"] for r in busy] == [429, 200]
    waited = (busy[1]["fetched_at"] - busy[0]["fetched_at"]).total_seconds()
    assert waited >= 1.0  # Retry-After: 1 honoured


def test_redirect_chain_each_hop_archived_with_final_url(first: Crawl) -> None:
    target = first.base + "/2026/11/ferry-timetable.html"
    (start,) = first.rows_for("/redirect/start")
    (hop,) = first.rows_for("/redirect/hop")
    (end,) = first.rows_for("/2026/11/ferry-timetable.html")
    assert (start["status"], hop["status"], end["status"]) == (301, 302, 200)
    assert start["final_url"] == hop["final_url"] == end["final_url"] == target
    for row in (start, hop):
        rec = read_record(first.root, row["warc_file"], row["warc_offset"], row["warc_length"])
        assert rec.status == row["status"] and rec.header("Location")


def test_discovered_via_depth_referrer_and_hints(first: Crawl) -> None:
    (home,) = first.rows_for("/")
    assert (home["discovered_via"], home["depth"], home["referrer"]) == ("start", 0, None)
    (council,) = first.rows_for("/2026/11/council-budget-vote.html")
    assert council["discovered_via"] == "sitemap"
    assert council["referrer"] == first.base + "/sitemap-news.xml"
    assert council["title_hint"] == "Council approves budget with more money for roads"
    assert council["published_hint"].isoformat() == "2026-11-21T08:00:00+00:00"
    (tunnel,) = first.rows_for("/2026/11/tunnel-art-project.html")  # only in the Atom feed
    assert tunnel["discovered_via"] == "feed" and tunnel["referrer"] == first.base + "/atom.xml"
    assert tunnel["published_hint"].isoformat() == "2026-11-15T08:00:00+00:00"
    assert tunnel["title_hint"] == "Pupils paint the underpass beneath the railway"
    (school,) = first.rows_for("/2026/11/school-robotics-team.html")
    assert (school["discovered_via"], school["depth"]) == ("link", 2)
    (atom,) = first.rows_for("/atom.xml")
    assert atom["discovered_via"] == "feed" and atom["referrer"] == first.base + "/"
    robots = first.rows_for("/robots.txt")
    assert sorted(r["discovered_via"] for r in robots) == ["robots", "sitemap"]


def test_warc_records_readable_by_offset_and_by_iteration(first: Crawl) -> None:
    archived = [r for r in first.rows if r["warc_file"]]
    assert len(archived) == len([r for r in first.rows if r["status"] is not None])
    for row in archived:
        rec = read_record(first.root, row["warc_file"], row["warc_offset"], row["warc_length"])
        assert rec.record_type == "response"
        assert rec.target_uri == row["url"]
        assert rec.status == row["status"]
        assert rec.ip_address == "127.0.0.1"
        assert rec.payload_digest == row["payload_digest"]
    (home,) = first.rows_for("/")
    rec = read_record(first.root, home["warc_file"], home["warc_offset"], home["warc_length"])
    assert rec.payload == (SITE / "index.html").read_bytes().replace(
        b"__BASE__", first.base.encode()
    )
    kinds: Counter[str] = Counter()
    offsets = set()
    for warc in first.result.warc_files:
        with open(Path(first.root) / warc, "rb") as fh:
            it = ArchiveIterator(fh)
            for record in it:
                kinds[record.rec_type] += 1
                if record.rec_type == "response":
                    offsets.add((warc, it.get_record_offset()))
    assert kinds["response"] == len(archived)
    assert kinds["request"] == len(first.rows)  # failures keep their request record too
    assert offsets == {(r["warc_file"], r["warc_offset"]) for r in archived}


def test_raw_bytes_archived_before_decompression(first: Crawl) -> None:
    (row,) = first.rows_for("/gzip.html")
    raw = (Path(first.root) / row["warc_file"]).read_bytes()
    chunk = raw[row["warc_offset"] : row["warc_offset"] + row["warc_length"]]
    record = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    assert record.http_headers.get_header("Content-Encoding") == "gzip"
    assert record.raw_stream.read().startswith(b"\x1f\x8b")  # bytes as sent on the wire


def test_result_summary(first: Crawl) -> None:
    res = first.result
    assert res.crawl_id and res.finish_reason == "finished"
    assert res.status_counts["200"] >= len(ARTICLES)
    assert res.status_counts["404"] == 1 and res.status_counts["500"] == 2
    assert res.fetch_errors == 3  # two timeouts, one oversized
    assert res.bytes_archived == sum(
        (Path(first.root) / f).stat().st_size for f in res.warc_files
    ) - _warcinfo_bytes(first)
    assert all((Path(first.root) / f).exists() for f in res.pages_files)


def _warcinfo_bytes(crawl: Crawl) -> int:
    """Bytes of everything that is not a response record (warcinfo, request, metadata)."""
    total = 0
    for warc in crawl.result.warc_files:
        with open(Path(crawl.root) / warc, "rb") as fh:
            it = ArchiveIterator(fh)
            for record in it:
                rec_type = record.rec_type
                it.read_to_end(record)
                if rec_type != "response":
                    total += it.get_record_length()
    return total


def test_second_crawl_skips_archived_articles(second: Crawl) -> None:
    paths = second.paths()
    assert not ARTICLES & set(paths)  # redirect targets included
    assert {"/redirect/start", "/redirect/hop"} <= set(paths)  # not articles: refetched
    assert second.result.skipped_archived >= len(ARTICLES)
    assert set(paths) >= DISCOVERY  # feeds, sitemaps and start pages are always refetched


def test_second_crawl_uses_conditional_get(second: Crawl) -> None:
    by_path = {e["path"]: e["headers"] for e in second.requests}
    assert by_path["/feed.xml"]["if-none-match"].startswith('"')
    assert "if-modified-since" in by_path["/feed.xml"]
    statuses = {r["url"].removeprefix(second.base): r["status"] for r in second.rows}
    for path in ("/feed.xml", "/atom.xml", "/", "/sitemap_index.xml", "/sitemap-news.xml"):
        assert statuses[path] == 304, path
    # Discovery still worked from the stored bodies: the 304 start page's links were followed.
    assert "/tag/science/" in second.paths()
    assert second.result.counts.get("not_modified", 0) >= 5


def test_pages_rows_conform_to_schema(first: Crawl) -> None:
    table = read_pages(first.root, "site")
    assert isinstance(table, pa.Table) and table.num_rows >= len(first.rows)
    assert set(table.column("discovered_via").to_pylist()) <= {
        "start",
        "feed",
        "sitemap",
        "link",
        "robots",
    }


def test_crawl_id_is_sortable() -> None:
    from datetime import UTC, datetime

    a = new_crawl_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    b = new_crawl_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert a.startswith("20260102T030405Z-") and len(a) == 23 and a < b


def test_recrawl_window_refetches_recent_articles(second: Crawl, site: Any, archive: str) -> None:
    import time

    site.mark = time.time()
    result = run_crawl(site_source(site.base, recrawl_window="1d"), archive)
    third = Crawl(result, archive, site)
    assert set(third.paths()) >= ARTICLES  # all first seen minutes ago: inside the window
    assert third.result.skipped_archived == 0
