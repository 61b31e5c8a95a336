"""NewsSpider callbacks without a reactor: responses built from the fixture files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any

import pytest
import scrapy
from crawl_helpers import SITE, site_source
from scrapy.http import HtmlResponse, Response, TextResponse, XmlResponse

from crawlers.spiders import NewsSpider, UrlPolicy
from storage.urls import url_key

BASE = "http://127.0.0.1:8999"


def spider(**kwargs: Any) -> NewsSpider:
    overrides = kwargs.pop("overrides", {})
    return NewsSpider(site_source(BASE, **overrides), **kwargs)


def response(path: str, meta: dict[str, Any] | None = None, body: bytes | None = None) -> Response:
    url = BASE + path
    if body is None:
        rel = path.lstrip("/") or "index.html"
        if rel.endswith("/"):
            rel += "index.html"
        body = (SITE / rel).read_bytes().replace(b"__BASE__", BASE.encode())
    request = scrapy.Request(url, meta={"na_depth": 0, **(meta or {})})
    cls: type[Response] = HtmlResponse
    if path.endswith((".xml", ".gz")):
        cls = XmlResponse
    elif path.endswith(".txt"):
        cls = TextResponse
    return cls(url=url, body=body, request=request, encoding="utf-8")


def urls(requests: Any) -> list[str]:
    return [r.url.removeprefix(BASE) for r in requests]


def test_initial_requests_sitemaps_feeds_then_start() -> None:
    reqs = list(spider().initial_requests())
    assert urls(reqs) == ["/robots.txt", "/feed.xml", "/"]
    assert [r.meta["na_via"] for r in reqs] == ["sitemap", "feed", "start"]
    assert [r.callback.__name__ for r in reqs] == ["parse_sitemap", "parse_feed", "parse_start"]


def test_start_page_autodiscovers_feeds_and_filters_links() -> None:
    sp = spider()
    reqs = list(sp.parse_start(response("/")))
    got = urls(reqs)
    assert got[:2] == ["/feed.xml", "/atom.xml"]
    assert "/2026/11/orchard-cider-festival.html" in got
    # tracking parameters and fragments fold onto one URL, requested in canonical form
    assert not any("utm_" in u or "#" in u for u in got)
    assert got.count("/2026/11/orchard-cider-festival.html") == 1
    assert not any("elsewhere.example" in u or "social.example" in u for u in got)
    assert sp.counts["dropped_offsite"] == 2
    assert sp.counts["dropped_non_http"] >= 3  # mailto (x2), javascript, ftp
    by_url = {r.url.removeprefix(BASE): r for r in reqs}
    article = by_url["/2026/11/library-late-hours.html"]
    assert article.meta["na_kind"] == "article" and article.meta["na_depth"] == 1
    assert article.meta["na_referrer"] == BASE + "/"
    assert by_url["/tag/science/"].meta["na_kind"] == "page"
    assert by_url["/feed.xml"].meta["na_via"] == "feed"


def test_feed_entries_become_article_requests_with_hints() -> None:
    sp = spider()
    reqs = list(sp.parse_feed(response("/feed.xml")))
    assert urls(reqs)[0] == "/2026/11/harbour-ferry-returns.html"
    first = reqs[0]
    assert first.meta["na_via"] == "feed" and first.meta["na_kind"] == "article"
    assert first.meta["na_title_hint"] == "Harbour ferry returns after winter repairs"
    assert first.meta["na_published_hint"] == datetime(2026, 11, 20, 8, tzinfo=UTC)


def test_robots_then_index_then_news_sitemap() -> None:
    sp = spider()
    assert urls(sp.parse_sitemap(response("/robots.txt"))) == ["/sitemap_index.xml"]
    assert urls(sp.parse_sitemap(response("/sitemap_index.xml"))) == [
        "/sitemap-news.xml",
        "/sitemap-archive.xml.gz",
    ]
    news = list(sp.parse_sitemap(response("/sitemap-news.xml")))
    assert news[0].meta["na_title_hint"].startswith("Council approves budget")
    gz = gzip.compress(
        (SITE / "sitemap-archive.xml").read_bytes().replace(b"__BASE__", BASE.encode())
    )
    assert urls(sp.parse_sitemap(response("/sitemap-archive.xml.gz", body=gz))) == [
        "/2026/10/river-cleanup-volunteers.html",  # newest first
        "/2026/09/weather-station-upgrade.html",
    ]


def test_sitemap_max_age_skips_old_entries() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    sp = spider(overrides={"sitemap_max_age": "7d"}, now=lambda: now)
    assert urls(sp.parse_sitemap(response("/sitemap_index.xml"))) == ["/sitemap-news.xml"]
    kept = urls(sp.parse_sitemap(response("/sitemap-news.xml")))
    assert kept == ["/2026/11/council-budget-vote.html", "/2026/11/library-late-hours.html"]
    assert sp.counts["sitemap_too_old"] == 1


def test_archived_articles_are_skipped_but_pages_are_not() -> None:
    archived = {
        url_key(BASE + "/2026/11/library-late-hours.html"),
        url_key(BASE + "/tag/science/"),
    }
    sp = spider(archived=archived)
    got = urls(sp.parse_start(response("/")))
    assert "/2026/11/library-late-hours.html" not in got
    assert "/tag/science/" in got  # not an article URL: always refetched for discovery
    assert sp.counts["skipped_archived"] == 1


def test_recrawl_window_refetches_recent_articles() -> None:
    key = url_key(BASE + "/2026/11/library-late-hours.html")
    sp = spider(archived={key}, recrawl_keys={key})
    assert "/2026/11/library-late-hours.html" in urls(sp.parse_start(response("/")))


def test_depth_limit_and_budget() -> None:
    deep = spider()
    assert list(deep.parse_page(response("/tag/science/", meta={"na_depth": 2}))) == []
    small = spider(max_pages=3)
    assert len(list(small.parse_start(response("/")))) == 3
    assert small.counts["dropped_budget"] > 0


def test_deny_patterns_and_follow_links_off() -> None:
    sp = spider(overrides={"deny_url_patterns": ["/calendar/"]})
    got = urls(sp.parse_start(response("/")))
    assert not any(u.startswith("/calendar/") for u in got) and sp.counts["dropped_denied"] >= 1
    nofollow = spider(overrides={"follow_links": False})
    assert urls(nofollow.parse_start(response("/"))) == ["/feed.xml", "/atom.xml"]


def test_conditional_headers_on_discovery_requests_only() -> None:
    conditional = {
        BASE + "/feed.xml": {"etag": '"abc"', "last_modified": "Wed, 12 Nov 2025 00:00:00 GMT"}
    }
    sp = spider(conditional=conditional)
    feed = next(r for r in sp.initial_requests() if r.url.endswith("/feed.xml"))
    assert feed.headers[b"If-None-Match"] == b'"abc"'
    assert feed.meta["handle_httpstatus_list"] == [304]


def test_bad_feed_is_counted_not_raised() -> None:
    sp = spider()
    assert list(sp.parse_feed(response("/feed.xml", body=b"<html>nope</html>"))) == []
    assert sp.counts["bad_feed"] == 1


@pytest.mark.parametrize(
    ("url", "verdict"),
    [
        ("http://127.0.0.1:1234/a", "ok"),
        ("https://sub.news.test/a", "ok"),
        ("https://news.test.evil.example/a", "offsite"),
        ("mailto:x@news.test", "non_http"),
        ("file:///etc/passwd", "non_http"),
        ("http://[::1", "invalid"),
        ("http://127.0.0.1:99999/a", "invalid"),
    ],
)
def test_url_policy(url: str, verdict: str) -> None:
    policy = UrlPolicy(allowed_domains=["127.0.0.1", "news.test"])
    assert policy.verdict(url) == verdict


def test_unparseable_hrefs_are_dropped_not_raised() -> None:
    body = b'<html><body><a href="http://[::1">x</a><a href="/ok.html">ok</a></body></html>'
    sp = spider()
    assert urls(sp.parse_page(response("/x.html", body=body))) == ["/ok.html"]


def test_allowed_domains_default_to_the_configured_hosts() -> None:
    source = site_source("http://news.test", allowed_domains=[])
    policy = UrlPolicy.from_source(source)
    assert policy.allowed_domains == ["news.test"]
    assert policy.verdict("http://news.test/a") == "ok"
    assert policy.verdict("http://elsewhere.test/a") == "offsite"


def test_feed_entries_are_articles_even_without_patterns() -> None:
    key = url_key(BASE + "/2026/11/harbour-ferry-returns.html")
    sp = spider(archived={key}, overrides={"article_url_patterns": []})
    assert "/2026/11/harbour-ferry-returns.html" not in urls(sp.parse_feed(response("/feed.xml")))
    assert sp.counts["skipped_archived"] == 1
