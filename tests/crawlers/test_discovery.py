"""Pure discovery parsers: feeds, sitemaps (index, gzip, news), robots.txt, feed autodiscovery."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from crawl_helpers import SITE

from crawlers import discovery

BASE = "http://news.test"


def site_file(name: str) -> bytes:
    return (SITE / name).read_bytes().replace(b"__BASE__", BASE.encode())


def test_rss_feed_links_titles_and_dates() -> None:
    entries = discovery.parse_feed(site_file("feed.xml"), BASE + "/feed.xml")
    assert [e.url for e in entries] == [
        BASE + "/2026/11/harbour-ferry-returns.html",
        BASE + "/2026/11/library-late-hours.html",
        BASE + "/2026/11/bridge-inspection-delay.html",
        BASE + "/2026/11/orchard-cider-festival.html?utm_source=rss",
    ]
    assert entries[0].title == "Harbour ferry returns after winter repairs"
    assert entries[0].published == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_atom_feed() -> None:
    entries = discovery.parse_feed(site_file("atom.xml"), BASE + "/atom.xml")
    assert [e.url for e in entries] == [
        BASE + "/2026/11/tunnel-art-project.html",
        BASE + "/2026/11/harbour-ferry-returns.html",
    ]
    assert entries[0].published == datetime(2026, 11, 15, 8, 0, tzinfo=UTC)
    assert entries[0].lastmod == datetime(2026, 11, 15, 9, 30, tzinfo=UTC)


def test_rss_guid_permalink_and_relative_links() -> None:
    doc = b"""<rss version="2.0"><channel>
      <item><guid>https://news.test/a.html</guid><title>A</title></item>
      <item><guid isPermaLink="false">tag:x</guid><title>no link</title></item>
      <item><link>/b.html</link><pubDate>not a date</pubDate></item>
      <item><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    entries = discovery.parse_feed(doc, BASE + "/feed")
    assert [e.url for e in entries] == ["https://news.test/a.html", BASE + "/b.html"]
    assert entries[1].published is None


def test_sitemap_index() -> None:
    sm = discovery.parse_sitemap(site_file("sitemap_index.xml"), BASE + "/sitemap_index.xml")
    assert sm.kind == "sitemapindex" and sm.urls == []
    assert [s.url for s in sm.sitemaps] == [
        BASE + "/sitemap-news.xml",
        BASE + "/sitemap-archive.xml.gz",
    ]
    assert sm.sitemaps[1].lastmod == datetime(2026, 10, 1, tzinfo=UTC)


def test_news_sitemap_keeps_news_title_and_date() -> None:
    sm = discovery.parse_sitemap(site_file("sitemap-news.xml"), BASE + "/sitemap-news.xml")
    assert sm.kind == "urlset"
    first = sm.urls[0]
    assert first.url == BASE + "/2026/11/council-budget-vote.html"
    assert first.title == "Council approves budget with more money for roads"
    assert first.published == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def test_gzip_sitemap() -> None:
    data = gzip.compress(site_file("sitemap-archive.xml"))
    sm = discovery.parse_sitemap(data, BASE + "/sitemap-archive.xml.gz")
    assert [e.url for e in sm.urls] == [
        BASE + "/2026/09/weather-station-upgrade.html",
        BASE + "/2026/10/river-cleanup-volunteers.html",
    ]
    assert sm.urls[0].lastmod == datetime(2026, 9, 28, tzinfo=UTC)


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (3 * 1024 * 1024))
    with pytest.raises(discovery.DiscoveryError, match="expands past"):
        discovery.maybe_gunzip(bomb, limit=1024 * 1024)


def test_not_a_sitemap_or_feed() -> None:
    with pytest.raises(discovery.DiscoveryError):
        discovery.parse_sitemap(b"<html><body>hi</body></html>", BASE)
    with pytest.raises(discovery.DiscoveryError):
        discovery.parse_feed(b"", BASE)
    with pytest.raises(discovery.DiscoveryError):
        discovery.parse_sitemap(b"\x1f\x8bnot really gzip", BASE)


def test_xml_entities_are_not_expanded() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
    <urlset><url><loc>http://news.test/&x;</loc></url></urlset>"""
    sm = discovery.parse_sitemap(xxe, BASE)
    assert all("root:" not in e.url for e in sm.urls)


def test_sitemap_dates_at_the_end_of_time() -> None:
    doc = b"<urlset><url><loc>/a</loc><lastmod>9999-12-31</lastmod></url></urlset>"
    (entry,) = discovery.parse_sitemap(doc, BASE).urls
    assert entry.latest == entry.lastmod == datetime(9999, 12, 31, tzinfo=UTC)


def test_robots_sitemap_lines() -> None:
    text = "User-agent: *\nDisallow: /private/\nsitemap: /s1.xml\n"
    text += "SITEMAP:  https://news.test/s2.xml # c\n"
    assert discovery.parse_robots_sitemaps(text, BASE + "/robots.txt") == [
        BASE + "/s1.xml",
        "https://news.test/s2.xml",
    ]
    assert discovery.parse_robots_sitemaps(site_file("robots.txt").decode()) == [
        BASE + "/sitemap_index.xml"
    ]


def test_feed_autodiscovery() -> None:
    html = site_file("index.html")
    assert discovery.find_feed_links(html, BASE + "/") == [BASE + "/feed.xml", BASE + "/atom.xml"]
    assert discovery.find_feed_links(b"", BASE) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fri, 20 Nov 2026 08:00:00 GMT", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T10:00:00+02:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: datetime | None) -> None:
    assert discovery.parse_date(text) == expected
