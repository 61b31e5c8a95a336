"""Hypothesis fuzzing of the discovery parsers: only DiscoveryError may escape."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from crawlers import discovery

BASE = "http://news.test/feed"

XML_BITS = st.sampled_from(
    [
        b"<rss>",
        b"<channel>",
        b"<item>",
        b"<link>",
        b"</link>",
        b"<feed>",
        b"<entry>",
        b'<link href="',
        b'"/>',
        b"<urlset>",
        b"<sitemapindex>",
        b"<url>",
        b"<loc>",
        b"</loc>",
        b"<news:news>",
        b"<lastmod>",
        b"http://[::1",
        b"javascript:",
        b"2026-13-45T99:00",
        b"9999-12-31",
        b"0001-01-01T00:00:00+14:00",
        b"</lastmod>",
        b"&amp;",
        b"&x;",
        b"\x00",
        b"\xff\xfe",
        b"]]>",
        b"<!DOCTYPE x [<!ENTITY x 'y'>]>",
    ]
)
DOCS = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(XML_BITS, st.binary(max_size=20)), max_size=40).map(b"".join),
)


def _check(call: Callable[[], object]) -> None:
    with contextlib.suppress(discovery.DiscoveryError):
        call()


@settings(max_examples=150, deadline=None)
@given(DOCS, st.booleans())
def test_parsers_raise_only_discovery_error(data: bytes, gz: bool) -> None:
    if gz:
        data = gzip.compress(data)
    _check(lambda: discovery.parse_feed(data, BASE))
    _check(lambda: discovery.parse_sitemap(data, BASE))
    assert isinstance(discovery.find_feed_links(data, BASE), list)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_robots_and_dates_never_raise(text: str) -> None:
    assert isinstance(discovery.parse_robots_sitemaps(text, BASE), list)
    discovery.parse_date(text)
