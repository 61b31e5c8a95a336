"""Metadata rules: author cleaning, date parsing, canonical URLs, page-type URL shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extraction.metadata import (
    PageSignals,
    canonical_url,
    clean_authors,
    count_split_words,
    parse_datetime,
    url_date,
)
from extraction.pagetype import url_listing_reason


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("By Jane Doe", ["Jane Doe"]),
        ("By JANE DOE and John Roe", ["JANE DOE", "John Roe"]),
        ("Jane Doe, Staff Writer", ["Jane Doe"]),
        ("By Jane Doe, Transport Correspondent, and John Roe", ["Jane Doe", "John Roe"]),
        ("Jane Doe | Updated March 3, 2025 10:00 am", ["Jane Doe"]),
        ([{"@type": "Person", "name": "Ana Lima"}, {"name": "Bo Chen"}], ["Ana Lima", "Bo Chen"]),
        ("Von Max Mustermann", ["Max Mustermann"]),
        ("admin", []),
        ("https://example.org/author/jane", []),
    ],
)
def test_clean_authors(raw: object, want: list[str]) -> None:
    assert clean_authors(raw) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2025-03-03T06:15:00Z", datetime(2025, 3, 3, 6, 15, tzinfo=UTC)),
        ("2025-03-03T08:15:00+0200", datetime(2025, 3, 3, 6, 15, tzinfo=UTC)),
        ("2025-03-03", datetime(2025, 3, 3, tzinfo=UTC)),
        ("2025-03-03 junk", datetime(2025, 3, 3, tzinfo=UTC)),
        ("not a date", None),
        ("1890-01-01", None),
    ],
)
def test_parse_datetime_is_aware_utc(value: str, want: datetime | None) -> None:
    got = parse_datetime(value)
    assert got == want
    if got is not None:
        assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_url_date() -> None:
    assert url_date("https://x.example/2024/02/29/leap/") == datetime(2024, 2, 29, tzinfo=UTC)
    assert url_date("https://x.example/2023/02/30/nope/") is None


def test_canonical_only_inside_the_same_site() -> None:
    signals = PageSignals(canonical="https://www.site.example/story?utm_source=x")
    assert canonical_url(signals, "https://site.example/s/1") == "https://www.site.example/story"
    signals = PageSignals(canonical="https://aggregator.example/copy")
    assert canonical_url(signals, "https://site.example/s/1") == "https://site.example/s/1"
    signals = PageSignals(canonical="/relative/path")
    assert (
        canonical_url(signals, "https://site.example/s/1") == "https://site.example/relative/path"
    )


@pytest.mark.parametrize(
    ("url", "listing"),
    [
        ("https://s.example/", True),
        ("https://s.example/index.html", True),
        ("https://s.example/tag/water/", True),
        ("https://s.example/category/politics/", True),
        ("https://s.example/author/jane-doe/", True),
        ("https://s.example/news/page/2/", True),
        ("https://s.example/?s=flood", True),
        ("https://s.example/category/politics/council-approves-new-harbour-plan/", False),
        ("https://s.example/2025/05/30/harbour-plan/", False),
        ("https://s.example/news/world-12345678", False),
        ("https://s.example/?p=123", False),
    ],
)
def test_listing_url_shapes(url: str, listing: bool) -> None:
    assert (url_listing_reason(url) is not None) is listing


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*map(chr, range(128)), "\u00e9", "\u00a0", "\u3000"])))
def test_count_split_words_is_len_of_split(text: str) -> None:
    assert count_split_words(text) == len(text.split())


def test_a_broken_canonical_link_falls_back_to_the_page_url() -> None:
    """A junk rel=canonical (port out of range) must not turn the article into a parse
    error: the page's own URL is the canonical one then."""
    signals = PageSignals(canonical="https://site.example:99999/story")
    assert canonical_url(signals, "https://site.example/s/1") == "https://site.example/s/1"
    # A non-ASCII canonical link is kept in the form it is requested in (one URL key).
    signals = PageSignals(canonical="https://site.example/новости/1")
    assert canonical_url(signals, "https://site.example/s/1") == (
        "https://site.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1"
    )
