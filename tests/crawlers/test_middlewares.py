"""Politeness and safety: SSRF guard, Crawl-delay, Retry-After parsing, header archiving."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from crawl_helpers import SITE, fixture_server, site_source
from scrapy.http import Headers

from crawlers.middlewares import _is_public, archived_headers, parse_retry_after
from crawlers.runner import run_crawl
from storage.pages import read_pages


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412470.0  # 10 s before the HTTP date above
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
    ],
)
def test_is_public(ip: str, public: bool) -> None:
    assert _is_public(ip) is public


def test_archived_headers_keep_repeats_and_rename_transfer_encoding() -> None:
    headers = Headers()
    headers.appendlist(b"Set-Cookie", b"a=1")
    headers.appendlist(b"Set-Cookie", b"b=2")
    headers[b"Transfer-Encoding"] = b"chunked"
    pairs = archived_headers(headers)
    assert [v for k, v in pairs if k.lower() == b"set-cookie"] == [b"a=1", b"b=2"]
    assert (b"X-Archive-Orig-Transfer-Encoding", b"chunked") in pairs


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_ssrf_guard_refuses_private_addresses(server: Any, tmp_path: Path, host: str) -> None:
    base = server.base.replace("127.0.0.1", host)
    source = site_source(base, allowed_domains=[host], allow_private_addresses=False)
    result = run_crawl(source, str(tmp_path))
    assert server.requested_paths() == []  # not even robots.txt went out
    assert result.refused_private >= 3  # robots.txt sitemap, feed and start page
    assert read_pages(str(tmp_path), "site").num_rows == 0


def test_crawl_delay_from_robots_txt(tmp_path: Path) -> None:
    options = fixture_server.ServerOptions(crawl_delay=0.4)
    with fixture_server.FixtureServer(SITE, options) as srv:
        source = site_source(srv.base, feeds=[], sitemaps=[], max_pages=5, concurrency_per_domain=4)
        run_crawl(source, str(tmp_path))
        times = sorted(e["time"] for e in srv.log.snapshot())
    assert len(times) == 6  # robots.txt + 5 pages
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.35, gaps


def test_redirect_loops_are_bounded_and_every_hop_recorded(server: Any, tmp_path: Path) -> None:
    starts = [server.base + "/redirect/loop", server.base + "/redirect/chain/0"]
    source = site_source(server.base, start_urls=starts, feeds=[], sitemaps=[])
    result = run_crawl(source, str(tmp_path))
    paths = server.requested_paths()
    assert paths.count("/redirect/loop") == 1  # a self-redirect is a duplicate request
    chain = [p for p in paths if p.startswith("/redirect/chain/")]
    assert len(chain) == 11  # the first request + REDIRECT_MAX_TIMES (10) redirects
    rows = read_pages(str(tmp_path), "site", crawl_id=result.crawl_id).to_pylist()
    chain_rows = [r for r in rows if "/redirect/chain/" in r["url"]]
    assert len(chain_rows) == 11 and {r["status"] for r in chain_rows} == {302}
    # Redirects gave out at the 10th hop: the chain ends at the last URL fetched.
    assert {r["final_url"] for r in chain_rows} == {server.base + "/redirect/chain/10"}
    (loop,) = [r for r in rows if r["url"].endswith("/redirect/loop")]
    assert loop["status"] == 302 and loop["final_url"] == server.base + "/redirect/loop"


def test_decompression_bomb_is_archived_raw_and_flagged(server: Any, tmp_path: Path) -> None:
    starts = [server.base + "/bomb.html", server.base + "/gzip.html"]
    source = site_source(server.base, start_urls=starts, feeds=[], sitemaps=[])
    result = run_crawl(source, str(tmp_path))
    rows = {r["url"]: r for r in read_pages(str(tmp_path), "site").to_pylist()}
    bomb = rows[server.base + "/bomb.html"]
    assert bomb["status"] == 200 and "exceeds download_maxsize" in bomb["error"]
    assert bomb["warc_length"] < 1024 * 1024  # the compressed bytes, not 64 MB
    assert rows[server.base + "/gzip.html"]["error"] is None
    assert result.bytes_archived < 2 * 1024 * 1024


def test_connection_refused_is_a_row_with_error_and_no_status(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    source = site_source(base, feeds=[], sitemaps=[], obey_robots=False, retry_times=0)
    result = run_crawl(source, str(tmp_path))
    (row,) = read_pages(str(tmp_path), "site").to_pylist()
    assert row["url"] == base + "/" and row["status"] is None
    assert "ConnectionRefused" in row["error"] and row["warc_file"] is None
    assert result.fetch_errors == 1 and result.status_counts == {}


def test_preset_referer_is_kept_and_others_get_scrapys_policy() -> None:
    from scrapy import Request
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from crawlers.middlewares import PresetRefererMiddleware

    mw = PresetRefererMiddleware.from_crawler(get_crawler())
    page = HtmlResponse("https://news.test/a.html?x=1#frag", body=b"<html></html>")
    ours = Request("https://news.test/b.html", headers={"Referer": "https://news.test/list"})
    assert mw.get_processed_request(ours, page) is ours
    assert ours.headers[b"Referer"] == b"https://news.test/list"
    # Without one (a redirect hop after RedirectMiddleware dropped it): Scrapy's policy.
    hop = Request("https://news.test/c.html")
    mw.get_processed_request(hop, page)
    assert hop.headers[b"Referer"] == b"https://news.test/a.html?x=1"
    downgrade = Request("http://news.test/d.html")  # https -> http: no Referer
    mw.get_processed_request(downgrade, page)
    assert b"Referer" not in downgrade.headers


def test_warc_writer_backlog_stays_bounded_when_responses_outrun_the_writer(
    tmp_path: Path,
) -> None:
    """Responses that arrive faster than the writer thread writes must wait: the jobs
    handed over and not done (each holds a body) stay near MAX_QUEUED. Waiting only for
    the oldest batch let 16 waiting responses add 16 jobs per batch done (2,157 bodies,
    479 MB in a 20,000-page crawl of a fast site)."""
    import asyncio

    from scrapy.utils.test import get_crawler

    from crawlers.middlewares import WarcArchiveMiddleware
    from crawlers.settings import build_settings

    source = site_source("http://127.0.0.1:9", feeds=[], sitemaps=[])
    settings = build_settings(source, root=str(tmp_path), crawl_id="20261126T000000Z-backlog")
    mw = WarcArchiveMiddleware(get_crawler(settings_dict=dict(settings)))
    seen: list[int] = []

    def slow_job() -> None:
        time.sleep(0.0005)  # the writer is the slower side

    async def response() -> None:
        for _ in range(40):
            await mw._submit(slow_job)
            seen.append(mw.outstanding)
            await asyncio.sleep(0)  # the next response arrives at once

    async def crawl() -> None:
        await asyncio.gather(*(response() for _ in range(16)))  # 16 concurrent downloads
        await mw._submit(lambda: None, wait=True)

    try:
        asyncio.run(crawl())
    finally:
        mw.executor.shutdown(wait=True)
    assert len(seen) == 640 and not mw.broken
    assert max(seen) <= mw.MAX_QUEUED + 16, max(seen)


def test_crawled_message_is_built_only_when_debug_is_logged(tmp_path: Path) -> None:
    """A crawl's Scrapy builds its per-response 'Crawled (200)' DEBUG message only when
    LOG_LEVEL lets it through; at DEBUG it is Scrapy's own message."""
    import logging

    from scrapy import Request
    from scrapy.http import HtmlResponse
    from scrapy.logformatter import LogFormatter
    from scrapy.utils.misc import load_object
    from scrapy.utils.test import get_crawler

    from crawlers.middlewares import QuietLogFormatter
    from crawlers.settings import build_settings

    source = site_source("http://127.0.0.1:9", feeds=[], sitemaps=[])
    for log_level in ("WARNING", "INFO", "DEBUG"):
        settings = build_settings(source, root=str(tmp_path), crawl_id="c1", log_level=log_level)
        assert load_object(settings["LOG_FORMATTER"]) is QuietLogFormatter
        formatter = QuietLogFormatter.from_crawler(get_crawler(settings_dict=dict(settings)))
        request = Request("http://127.0.0.1:9/a.html", headers={"Referer": "http://x.test/"})
        response = HtmlResponse(request.url, body=b"<html></html>", request=request)
        message = formatter.crawled(request, response, None)  # type: ignore[arg-type]
        if log_level == "DEBUG":
            expected = LogFormatter().crawled(request, response, None)  # type: ignore[arg-type]
            assert message == expected and message["level"] == logging.DEBUG
        else:
            assert message is None
    for level, built in ((logging.DEBUG, True), (logging.ERROR, False), ("debug", True)):
        crawler = get_crawler(settings_dict={"LOG_LEVEL": level})
        assert QuietLogFormatter.from_crawler(crawler).debug is built
