"""Hypothesis fuzzing of the extraction entry point: an Article or a documented Rejection,
never an exception, whatever the bytes, headers and hints."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extraction.extract import REASONS, Article, Rejection, extract_article
from extraction.options import ExtractionOptions

OPTIONS = ExtractionOptions(time_limit=0)  # hypothesis runs in-thread; no SIGALRM games here

HTML_BITS = st.sampled_from(
    [
        b"<html>",
        b"<head>",
        b"<meta charset='windows-1251'>",
        b'<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
        b'<script type="application/ld+json">{"@type":"NewsArticle","articleBody":',
        b'{"@graph":[{"@type":["Article"],"datePublished":"2026-02-30"}]}</script>',
        b'<meta property="og:type" content="article">',
        b'<link rel="canonical" href="http://[::1">',
        b"<title>",
        b"</title>",
        b"<body>",
        b"<article>",
        b"<p>",
        b"</p>",
        b"<div class='comments'>Leave a Reply</div>",
        b"Join our Weekly Newsletter",
        b"<table><tr><td>",
        b"<![CDATA[",
        b"<!--",
        b"-->",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\xd0\xdf\xe8\xe2\xe5\xf2",
        b"&#0;&#xD800;&bogus;",
        b"The council met on Tuesday and approved the harbour plan after a long debate. ",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=2048),
    st.lists(HTML_BITS, max_size=60).map(b"".join),
)
CONTENT_TYPES = st.sampled_from(
    [None, "text/html", "text/html; charset=utf-8", "text/html; charset=bogus", "image/png", ""]
)
HINTS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "published_hint": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
            "title_hint": st.one_of(st.none(), st.text(max_size=50)),
        }
    ),
)
URLS = st.sampled_from(
    [
        "https://example.org/2026/01/02/harbour-plan/",
        "https://example.org/",
        "https://example.org/tag/harbour/page/2/",
        "http://127.0.0.1:8080/a?b=%ZZ#frag",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, content_type=CONTENT_TYPES, hints=HINTS, url=URLS)
def test_extract_article_never_raises(
    body: bytes, content_type: str | None, hints: dict[str, object] | None, url: str
) -> None:
    result = extract_article(
        body,
        url,
        fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
        source="fuzz",
        content_type=content_type,
        options=OPTIONS,
        hints=hints,
    )
    assert isinstance(result, Article | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
    else:
        assert result.text.strip() and result.word_count > 0
