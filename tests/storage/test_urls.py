"""URL keys: one key per URL whatever form it was found in, the form Scrapy requests it in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Request
from w3lib.url import safe_url_string

from storage.urls import _ALREADY_SAFE, _canonicalize, canonicalize_url, url_key

FORMS = [
    # (as found in a page / feed / sitemap, the same URL as sent and stored)
    (
        "https://ru.example/новости/2026/статья",
        "https://ru.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/2026/%D1%81%D1%82%D0%B0%D1%82%D1%8C%D1%8F",
    ),
    ("http://bücher.example/a", "http://xn--bcher-kva.example/a"),
    ("https://wp.example/%d0%bd%d0%be/", "https://wp.example/%D0%BD%D0%BE/"),
    ("http://x.example/café au lait?q=é", "http://x.example/caf%C3%A9%20au%20lait?q=%C3%A9"),
    ("http://[2001:DB8::1]:8080/a?utm_source=x", "http://[2001:db8::1]:8080/a"),
]


@pytest.mark.parametrize(("found", "sent"), FORMS)
def test_a_url_has_one_key_in_every_form(found: str, sent: str) -> None:
    assert url_key(found) == url_key(sent)
    assert canonicalize_url(found) == canonicalize_url(sent)


def test_ipv6_literal_urls_keep_their_brackets() -> None:
    assert canonicalize_url("https://[::1]:443/") == "https://[::1]/"
    assert url_key("http://[::1]:8080/news/") == "[::1]:8080/news"


URL_TEXT = st.lists(
    st.sampled_from([*"aé/?=&%-~ #!+н中B0", "%d0", "%BD", "%2f", "%7e", "%e4%b8%ad"]),
    max_size=20,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    host=st.sampled_from(["news.example", "bücher.example", "[::1]:8080", "x.example:81"]),
    rest=URL_TEXT,
)
def test_the_key_the_spider_skips_by_is_the_key_the_pages_row_stores(host: str, rest: str) -> None:
    """The spider keys `canonicalize_url(found)`; the pages row keys the URL of the request
    made from it. They must agree, or an archived article is fetched again every run."""
    try:
        target = canonicalize_url(f"http://{host}/{rest}")
    except ValueError:
        return  # an invalid URL is dropped before any request
    assert canonicalize_url(target) == target  # canonical twice is canonical
    assert url_key(Request(target).url) == url_key(target)


SAFE_TEXT = st.lists(
    # Mostly characters of the fast path, a few that send a URL the slow way.
    st.sampled_from([*"aZ09-._~!$&'()*+,;=:@/?", "%41", "%d0", "./", "../", "%", "#", " ", "|"]),
    max_size=25,
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.sampled_from(["news.example", "NEWS.Example", "a..b", "x.example:8080", "x:80"]),
    rest=SAFE_TEXT,
)
def test_the_fast_path_gives_what_w3lib_would(scheme: str, host: str, rest: str) -> None:
    """URLs that skip `safe_url_string` (already in request form) canonicalize exactly as
    if they had gone through it."""
    url = f"{scheme}://{host}/{rest}"
    if not _ALREADY_SAFE.fullmatch(url):
        return
    assert _canonicalize(url) == _canonicalize(safe_url_string(url))
