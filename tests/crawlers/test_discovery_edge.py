"""URL discovery on real-world document shapes: byte order marks, gzip served every way,
sitemap loops, foreign news namespaces, xml:base, extra link elements, meta refresh."""

from __future__ import annotations

import codecs
import gzip
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from crawl_helpers import answering_site, site_source

from crawlers.runner import CrawlResult, run_crawl
from storage.pages import read_pages

BOM = codecs.BOM_UTF8
URLSET = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>{body}</urlset>'
ARTICLE = "<html><head><title>{0}</title></head><body><article><p>{0}</p></article></body></html>"

#: path -> (body, headers); `__BASE__` in a body becomes the server's base URL; the body
#: is gzipped when served for a `.gz` path or with `Content-Encoding: gzip`.
Routes = dict[str, tuple[bytes, dict[str, str]]]


@contextmanager
def routes_site(routes: Routes) -> Iterator[tuple[str, Counter[str]]]:
    """`routes` served on 127.0.0.1, port 0 (404 for any other path); yields the base URL
    and a Counter of the paths requested (with their query strings)."""
    base: list[str] = []

    def answer(path: str, attempt: int) -> tuple[int, dict[str, str], bytes]:
        if path not in routes:
            return 404, {"Content-Type": "text/html"}, b"<html><body>not found</body></html>"
        body, headers = routes[path]
        body = body.replace(b"__BASE__", base[0].encode())
        if headers.get("Content-Encoding") == "gzip" or path.endswith(".gz"):
            body = gzip.compress(body)
        return 200, {"Content-Type": "text/html", **headers}, body

    with answering_site(answer) as (url, hits):
        base.append(url)
        yield url, hits


def articles(*paths: str) -> Routes:
    return {p: (ARTICLE.format(p).encode(), {}) for p in paths}


def crawl(tmp_path: Path, base: str, **overrides: Any) -> tuple[CrawlResult, list[dict[str, Any]]]:
    settings: dict[str, Any] = {
        "start_urls": [],
        "feeds": [],
        "sitemaps": [],
        "obey_robots": False,
        "retry_times": 0,
        "max_depth": 1,
    }
    settings.update(overrides)
    root = str(tmp_path / "archive")
    result = run_crawl(site_source(base, **settings), root)
    rows = read_pages(root, "site", crawl_id=result.crawl_id).to_pylist()
    return result, rows


def by_path(base: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["url"].removeprefix(base): r for r in rows}


def test_sitemaps_with_bom_gzip_served_every_way_loops_and_foreign_news_namespace(
    tmp_path: Path,
) -> None:
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    index = xml + (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>__BASE__/index.xml</loc></sitemap>"  # itself
        b"<sitemap><loc> __BASE__/a.xml.gz </loc><lastmod>2026-11-20</lastmod></sitemap>"
        b"<sitemap><loc>__BASE__/b.xml</loc><lastmod>2026-11-20T08:00Z</lastmod></sitemap>"
        b"<sitemap><loc>__BASE__/loop.xml</loc><lastmod>garbage</lastmod></sitemap>"
        b"</sitemapindex>"
    )
    loop = xml + (  # a second index listing the first one again (A -> B -> A)
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>__BASE__/index.xml</loc></sitemap>"
        b"<sitemap><loc>__BASE__/loop.xml</loc></sitemap></sitemapindex>"
    )
    # A byte order mark, then a newline, before <?xml (libxml2 then dropped the `&amp;`).
    a = (
        BOM
        + b"\n"
        + xml
        + URLSET.format(
            ns="",
            body="<url><loc>\n   __BASE__/2026/11/a.html?id=1&amp;p=2\n   </loc>"
            "<lastmod>2026-11-20T08:00:00+01:00</lastmod></url>",
        ).encode()
    )
    b = URLSET.format(
        ns=' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"',
        body="<url><image:image><image:loc>__BASE__/img/b.jpg</image:loc></image:image>"
        "<loc>__BASE__/2026/11/b.html</loc></url>",
    ).encode()
    # Google News under another prefix and the old namespace URI: the URI is what counts.
    news = URLSET.format(
        ns=' xmlns:gn="http://www.google.com/schemas/sitemap-news/0.9"',
        body="<url><loc>__BASE__/2026/11/n.html</loc><gn:news><gn:publication>"
        "<gn:name>T</gn:name></gn:publication><gn:title>Ferry &amp; bridge</gn:title>"
        "<gn:publication_date>2026-11-21T09:00:00+01:00</gn:publication_date></gn:news></url>",
    ).encode()
    robots = (
        "\ufeffSitemap: /index.xml\r\nUser-agent: Googlebot\r\nDisallow: /x\r\n\r\n"
        "User-agent: *\r\nDisallow:\r\nsitemap: __BASE__/news.xml\r\n"
    ).encode()
    routes: Routes = {
        "/robots.txt": (robots, {"Content-Type": "text/plain"}),
        "/index.xml": (index, {"Content-Type": "text/xml"}),
        "/loop.xml": (loop, {"Content-Type": "application/xml"}),
        # A .xml.gz file as such, and a sitemap compressed on the wire.
        "/a.xml.gz": (a, {"Content-Type": "application/octet-stream"}),
        "/b.xml": (b, {"Content-Type": "application/xml", "Content-Encoding": "gzip"}),
        "/news.xml": (news, {"Content-Type": "application/xml"}),
        **articles("/2026/11/a.html?id=1&p=2", "/2026/11/b.html", "/2026/11/n.html"),
    }
    with routes_site(routes) as (base, hits):
        result, rows = crawl(tmp_path, base, sitemaps=[base + "/robots.txt"])
    assert hits == Counter({p: 1 for p in routes})  # each once, nothing else (no image)
    assert result.counts.get("bad_sitemap", 0) == 0
    pages = by_path(base, rows)
    assert {p: r["discovered_via"] for p, r in pages.items()} == {p: "sitemap" for p in routes}
    news_row = pages["/2026/11/n.html"]
    assert news_row["title_hint"] == "Ferry & bridge"
    assert news_row["published_hint"].isoformat() == "2026-11-21T08:00:00+00:00"


def test_feeds_with_xml_base_extra_link_elements_and_relative_autodiscovery(
    tmp_path: Path,
) -> None:
    home = (
        b'<html><head><base href="/news/"><link rel="alternate" type="application/atom+xml"'
        b' href="atom.xml"><link rel="Alternate" type="application/rss+xml; charset=utf-8"'
        b' href="//127.0.0.1:__PORT__/rss"></head><body></body></html>'
    )
    atom = BOM + (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"'
        b' xml:base="__BASE__/2026/"><entry xml:base="11/"><title>A</title>'
        b'<link rel="self" href="/api/a"/><link href="a.html"/></entry>'
        b'<entry><link rel="edit" href="/edit/b"/><link rel="enclosure" href="/b.mp3"/>'
        b'<link rel="alternate" type="text/html" href="11/b.html"/></entry></feed>'
    )
    rss = (
        b'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        b'<atom:link href="__BASE__/rss" rel="self"/>'
        b'<item><title>C</title><atom:link rel="related" href="/elsewhere"/>'
        b'<link>/2026/11/c.html</link><guid isPermaLink="false">c-1</guid></item>'
        b"<item><link><![CDATA[ __BASE__/2026/11/d.html?a=1&b=2 ]]></link></item>"
        b"<item><guid>__BASE__/2026/11/e.html</guid></item>"
        b"</channel></rss>"
    )
    found = ["/2026/11/a.html", "/2026/11/b.html", "/2026/11/c.html"]
    found += ["/2026/11/d.html?a=1&b=2", "/2026/11/e.html"]
    routes: Routes = {
        "/": (home, {}),
        "/news/atom.xml": (atom, {"Content-Type": "text/xml"}),
        "/rss": (rss, {"Content-Type": "application/octet-stream"}),
        **articles(*found),
    }
    with routes_site(routes) as (base, hits):
        port = base.rsplit(":", 1)[1].encode()
        routes["/"] = (home.replace(b"__PORT__", port), {})
        result, rows = crawl(tmp_path, base, start_urls=[base + "/"])
    assert hits == Counter({p: 1 for p in routes})
    assert result.counts.get("bad_feed", 0) == 0
    vias = {p: r["discovered_via"] for p, r in by_path(base, rows).items()}
    assert vias == {"/": "start", **{p: "feed" for p in routes if p != "/"}}


def test_meta_refresh_is_followed_like_a_redirect(tmp_path: Path) -> None:
    def refresh(target: str, delay: str = "0") -> bytes:
        return (
            f'<html><head><meta http-equiv="Refresh" content="{delay}; URL=\'{target}\'">'
            "</head><body>moved</body></html>"
        ).encode()

    feed = (
        b"<rss><channel><item><title>Moved</title><link>/2026/11/old.html</link>"
        b"<pubDate>Sat, 21 Nov 2026 08:00:00 GMT</pubDate></item></channel></rss>"
    )
    routes: Routes = {
        "/": (refresh("/en/"), {}),  # the start URL is a landing page
        # A refresh only for browsers without JavaScript: not a move.
        "/en/": (
            b'<html><head><noscript><meta http-equiv="refresh" content="0;url=/nojs">'
            b'</noscript></head><body><a href="/2026/11/linked.html">x</a></body></html>',
            {},
        ),
        "/feed": (feed, {"Content-Type": "application/rss+xml"}),
        "/2026/11/old.html": (refresh("/2026/11/new.html"), {}),  # an article moved
        # A live page reloading itself every 5 minutes: not a move either.
        "/2026/11/linked.html": (refresh("/2026/11/reload.html", delay="300"), {}),
        **articles("/2026/11/new.html"),
    }
    with routes_site(routes) as (base, hits):
        _, rows = crawl(
            tmp_path, base, start_urls=[base + "/"], feeds=[base + "/feed"], max_depth=1
        )
    assert hits == Counter({p: 1 for p in routes})
    pages = by_path(base, rows)
    assert (pages["/en/"]["discovered_via"], pages["/en/"]["depth"]) == ("start", 0)
    moved = pages["/2026/11/new.html"]
    assert (moved["discovered_via"], moved["referrer"]) == ("feed", base + "/2026/11/old.html")
    assert moved["title_hint"] == "Moved" and moved["published_hint"] is not None


@pytest.mark.parametrize("encoding", [{}, {"Content-Encoding": "gzip"}])
def test_sitemap_larger_than_download_maxsize_is_read(
    tmp_path: Path, encoding: dict[str, str]
) -> None:
    # 15,000 URLs, ~1.4 MB: over this source's 1 MB download_maxsize for pages, inside the
    # sitemaps protocol's 50 MB (a 50,000-URL news sitemap with image tags is ~20 MB).
    entries = "".join(
        f"<url><loc>__BASE__/2026/11/a{i}.html</loc><lastmod>2026-11-20</lastmod></url>"
        for i in range(15_000)
    )
    routes: Routes = {
        "/sitemap.xml": (URLSET.format(ns="", body=entries).encode(), encoding),
        **articles("/2026/11/a0.html", "/2026/11/a1.html", "/2026/11/a2.html"),
    }
    assert len(routes["/sitemap.xml"][0]) > 1024 * 1024
    with routes_site(routes) as (base, hits):
        result, rows = crawl(
            tmp_path,
            base,
            sitemaps=[base + "/sitemap.xml"],
            download_maxsize=1024 * 1024,
            max_pages=4,
        )
    assert hits == Counter({p: 1 for p in routes})
    assert result.status_counts == {"200": 4}
    # The sitemap's row is checked against the sitemap's limit too (it said "decoded body
    # exceeds download_maxsize" for the gzip-encoded one although it was read).
    assert [r["error"] for r in rows] == [None] * 4


def test_feeds_and_sitemaps_with_raw_ampersands_and_html_entities(tmp_path: Path) -> None:
    # Not well-formed XML, as many CMSes write it: libxml2's recovery alone read the
    # first link as /a.html?id=1=2 and dropped every later `&amp;` (/b.html?id=2p=3).
    rss = (
        b"<rss><channel><title>Caf&eacute;&nbsp;news</title>"
        b"<item><title>Ferry&nbsp;&amp; bridge</title><link>/2026/11/a.html?id=1&p=2</link></item>"
        b"<item><title>R&D</title><link>/2026/11/b.html?id=2&amp;p=3</link></item>"
        b"<item><link><![CDATA[/2026/11/c.html?id=3&p=4]]></link></item></channel></rss>"
    )
    news = URLSET.format(
        ns=' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"',
        body="<url><loc>__BASE__/2026/11/d.html?id=4&p=5</loc><news:news>"
        "<news:title>Stra&szlig;e &ndash; Caf&eacute;</news:title></news:news></url>"
        "<url><loc>__BASE__/2026/11/e.html?id=5&amp;p=6</loc></url>",
    ).encode()
    routes: Routes = {
        "/feed": (rss, {"Content-Type": "application/rss+xml"}),
        "/sitemap.xml": (news, {"Content-Type": "application/xml"}),
        **articles(*(f"/2026/11/{c}.html?id={i + 1}&p={i + 2}" for i, c in enumerate("abcde"))),
    }
    with routes_site(routes) as (base, hits):
        _, rows = crawl(tmp_path, base, feeds=[base + "/feed"], sitemaps=[base + "/sitemap.xml"])
    assert hits == Counter({p: 1 for p in routes})
    titles = {p: r["title_hint"] for p, r in by_path(base, rows).items()}
    assert titles["/2026/11/a.html?id=1&p=2"] == "Ferry\xa0& bridge"
    assert titles["/2026/11/b.html?id=2&p=3"] == "R&D"
    assert titles["/2026/11/d.html?id=4&p=5"] == "Straße – Café"


def test_sitemap_max_age_reads_a_date_without_time_as_the_whole_day(tmp_path: Path) -> None:
    # A daily crawl with sitemap_max_age 1d: a date-only lastmod of yesterday was read as
    # yesterday 00:00 UTC, older than "now - 1 day", so everything published yesterday
    # after the time of day of this run was never fetched by any run.
    now = datetime.now(UTC)
    day = timedelta(days=1)
    yesterday, three_days_ago = (now - day).date(), (now - 3 * day).date()
    recent, old = (now - timedelta(hours=2)).isoformat(), (now - 2 * day).isoformat()
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>__BASE__/day.xml</loc><lastmod>{yesterday}</lastmod></sitemap>"
        f"<sitemap><loc>__BASE__/old.xml</loc><lastmod>{three_days_ago}</lastmod></sitemap>"
        "</sitemapindex>"
    ).encode()
    entries = [
        ("kept-date", f"<lastmod>{yesterday}</lastmod>"),
        ("kept-news", f"<n:news><n:publication_date>{yesterday}</n:publication_date></n:news>"),
        ("kept-time", f"<lastmod>{recent}</lastmod>"),
        ("old-date", f"<lastmod>{three_days_ago}</lastmod>"),
        ("old-time", f"<lastmod>{old}</lastmod>"),
        # An old article updated since: its publication date decides.
        (
            "old-news",
            f"<lastmod>{recent}</lastmod><n:news><n:publication_date>{three_days_ago}"
            "</n:publication_date></n:news>",
        ),
    ]
    day_sitemap = URLSET.format(
        ns=' xmlns:n="http://www.google.com/schemas/sitemap-news/0.9"',
        body="".join(f"<url><loc>__BASE__/2026/11/{n}.html</loc>{e}</url>" for n, e in entries),
    ).encode()
    routes: Routes = {
        "/index.xml": (index, {"Content-Type": "application/xml"}),
        "/day.xml": (day_sitemap, {"Content-Type": "application/xml"}),
        **articles(*(f"/2026/11/{n}.html" for n, _ in entries if n.startswith("kept"))),
    }
    with routes_site(routes) as (base, hits):
        result, _ = crawl(tmp_path, base, sitemaps=[base + "/index.xml"], sitemap_max_age="1d")
    assert hits == Counter({p: 1 for p in routes})
    assert result.counts["sitemap_too_old"] == 4


def test_text_sitemap(tmp_path: Path) -> None:
    # sitemaps.org's third format: one URL per line (here CRLF, a blank line, gzip).
    text = BOM + b"__BASE__/2026/11/a.html\r\n\r\n  __BASE__/2026/11/b.html?x=1&y=2  \r\n"
    text += b"mailto:desk@example.org\r\nhttp://offsite.example/2026/11/c.html\r\n"
    routes: Routes = {
        "/robots.txt": (b"Sitemap: /sitemap.txt.gz\n", {"Content-Type": "text/plain"}),
        "/sitemap.txt.gz": (text, {"Content-Type": "application/gzip"}),
        **articles("/2026/11/a.html", "/2026/11/b.html?x=1&y=2"),
    }
    with routes_site(routes) as (base, hits):
        result, _ = crawl(tmp_path, base, sitemaps=[base + "/robots.txt"])
    assert hits == Counter({p: 1 for p in routes})
    assert result.dropped_offsite == 1  # (the mailto: line is left out by the parser)


def test_sitemap_budget_goes_to_the_newest_entries(tmp_path: Path) -> None:
    # WordPress (Yoast) lists its post sitemaps oldest first, and their posts oldest first:
    # max_pages was spent on the oldest archives and today's news never fetched.
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>__BASE__/post-sitemap1.xml</loc><lastmod>2019-03-01</lastmod></sitemap>"
        b"<sitemap><loc>__BASE__/post-sitemap2.xml</loc><lastmod>2026-11-20T10:00:00Z</lastmod>"
        b"</sitemap><sitemap><loc>__BASE__/page-sitemap.xml</loc></sitemap></sitemapindex>"
    )
    posts = URLSET.format(
        ns="",
        body="".join(
            f"<url><loc>__BASE__/2026/11/post-{day}.html</loc>"
            f"<lastmod>2026-11-{day}T09:00:00+01:00</lastmod></url>"
            for day in ("01", "10", "19", "20")
        ),
    ).encode()
    routes: Routes = {
        "/index.xml": (index, {"Content-Type": "application/xml"}),
        # Undated first (it may be the newest), then the newest dated: the budget ends there.
        "/page-sitemap.xml": (URLSET.format(ns="", body="").encode(), {}),
        "/post-sitemap2.xml": (posts, {}),
        **articles("/2026/11/post-20.html", "/2026/11/post-19.html"),
    }
    with routes_site(routes) as (base, hits):
        crawl(tmp_path / "index", base, sitemaps=[base + "/index.xml"], max_pages=3)
        assert set(hits) == {"/index.xml", "/page-sitemap.xml", "/post-sitemap2.xml"}
        hits.clear()
        crawl(tmp_path / "posts", base, sitemaps=[base + "/post-sitemap2.xml"], max_pages=3)
    assert hits == Counter(
        {"/post-sitemap2.xml": 1, "/2026/11/post-20.html": 1, "/2026/11/post-19.html": 1}
    )
