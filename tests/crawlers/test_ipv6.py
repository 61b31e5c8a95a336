"""IPv6: a real crawl of a site served on [::1] (URL keys of IPv6 literals: tests/storage)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from crawl_helpers import site_source, static_site

from crawlers.runner import run_crawl
from storage.pages import read_pages
from storage.warc import read_record

ARTICLE = "<html><head><title>Tide</title></head><body><article><p>{}</p></article></body></html>"


def test_crawl_of_a_site_on_ipv6_loopback(tmp_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    site = tmp_path / "site"
    (site / "news").mkdir(parents=True)
    (site / "index.html").write_text(
        '<html><body><a href="/news/tide.html">Tide</a> <a href="/about">About</a></body></html>'
    )
    (site / "news" / "tide.html").write_text(ARTICLE.format("high water " * 150))
    settings = {
        "feeds": [],
        "sitemaps": [],
        "allowed_domains": ["::1"],
        "article_url_patterns": ["/news/"],
        "obey_robots": False,
        "max_depth": 1,
        "retry_times": 0,
    }
    with static_site(site, "::1") as (base, _hits):
        source = site_source(base, allow_private_addresses=["::1"], **settings)
        root = str(tmp_path / "archive")
        result = run_crawl(source, root)
        # The same site is refused without the allowance (::1 is not a public address).
        strict = site_source(base, allow_private_addresses=False, **settings)
        refused = run_crawl(strict, str(tmp_path / "strict"))
    rows = {r["url"]: r for r in read_pages(root, "site").to_pylist()}
    article = rows[base + "/news/tide.html"]
    assert article["status"] == 200 and rows[base + "/"]["status"] == 200
    assert rows[base + "/about"]["status"] == 404
    assert result.fetch_errors == 0
    record = read_record(root, article["warc_file"], article["warc_offset"], article["warc_length"])
    assert record.ip_address == "::1"
    assert b"high water" in record.payload
    assert refused.refused_private >= 1 and not refused.status_counts
