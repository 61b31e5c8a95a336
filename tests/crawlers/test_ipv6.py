"""IPv6: a real crawl of a site served on [::1] (URL keys of IPv6 literals: tests/storage)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crawlers.config import parse_config
from crawlers.runner import run_crawl
from storage.pages import read_pages
from storage.warc import read_record

ARTICLE = "<html><head><title>Tide</title></head><body><article><p>{}</p></article></body></html>"


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def v6_site(tmp_path: Path) -> Iterator[str]:
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
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = _V6Server(("::1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://[::1]:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_crawl_of_a_site_on_ipv6_loopback(v6_site: str, tmp_path: Path) -> None:
    body = {
        "start_urls": [v6_site + "/"],
        "allowed_domains": ["::1"],
        "article_url_patterns": ["/news/"],
        "allow_private_addresses": ["::1"],
        "obey_robots": False,
        "max_depth": 1,
        "retry_times": 0,
    }
    source = parse_config({"sources": {"v6": body}}, "<test>").source("v6")
    root = str(tmp_path / "archive")
    result = run_crawl(source, root)
    rows = {r["url"]: r for r in read_pages(root, "v6").to_pylist()}
    article = rows[v6_site + "/news/tide.html"]
    assert article["status"] == 200 and rows[v6_site + "/"]["status"] == 200
    assert rows[v6_site + "/about"]["status"] == 404
    assert result.fetch_errors == 0
    record = read_record(root, article["warc_file"], article["warc_offset"], article["warc_length"])
    assert record.ip_address == "::1"
    assert b"high water" in record.payload
    # The same site is refused without the allowance (::1 is not a public address).
    body["allow_private_addresses"] = False
    strict = parse_config({"sources": {"v6": body}}, "<test>").source("v6")
    refused = run_crawl(strict, str(tmp_path / "strict"))
    assert refused.refused_private >= 1 and not refused.status_counts
