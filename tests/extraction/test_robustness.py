"""Encodings, garbage input, limits and determinism: a Rejection or an Article, never a crash."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from extraction.encoding import decode_html
from extraction.extract import Article, Rejection, extract_article, time_limit
from extraction.options import ExtractionOptions

FETCHED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PARAS = [
    "The regional council approved a new plan for the harbour district on Tuesday evening.",
    "Under the plan, three empty warehouses will become flats, a school and a covered market.",
    "Residents who spoke at the meeting welcomed the school but worried about parking.",
    "Work is expected to start next spring and last about two and a half years in total.",
]


def _page(body: str, head: str = "") -> str:
    paras = "".join(f"<p>{p}</p>" for p in PARAS)
    return (
        f"<html><head>{head}<title>Harbour plan approved</title>"
        '<meta property="og:type" content="article"></head>'
        f"<body><article><h1>Harbour plan approved</h1>{body}{paras}</article></body></html>"
    )


def _run(
    html: bytes, content_type: str | None = "text/html", **opts: object
) -> Article | Rejection:
    return extract_article(
        html,
        "https://example.org/2025/05/30/harbour-plan/",
        fetched_at=FETCHED,
        source="t",
        content_type=content_type,
        options=ExtractionOptions(**opts),  # type: ignore[arg-type]  # test-only overrides
    )


# --- encodings -------------------------------------------------------------------------------


def test_utf8_bom_wins_over_a_wrong_header() -> None:
    text = _page("<p>Café crème à la française, naïve façade.</p>")
    decoded = decode_html(b"\xef\xbb\xbf" + text.encode("utf-8"), "text/html; charset=iso-8859-1")
    assert decoded.reason == "bom" and "Café crème" in decoded.text


def test_utf16_bom() -> None:
    text = _page("<p>Zürich Straße</p>")
    decoded = decode_html(b"\xff\xfe" + text.encode("utf-16-le"), None)
    assert "Zürich Straße" in decoded.text


def test_wrong_charset_header_is_overruled_by_valid_utf8() -> None:
    text = _page("<p>Ελληνικά και Русский текст</p>")
    decoded = decode_html(text.encode("utf-8"), "text/html; charset=windows-1252")
    assert "Ελληνικά και Русский" in decoded.text


def test_meta_charset_declares_windows_1256() -> None:
    body = "<p>قال رئيس البلدية إن السوق سيفتح أبوابه كل يوم جمعة وسبت من الساعة السابعة صباحا</p>"
    html = _page(body, '<meta charset="windows-1256">').encode("cp1256")
    result = _run(html, "text/html")
    assert isinstance(result, Article)
    assert "رئيس البلدية" in result.text


def test_shift_jis_without_any_declaration_is_detected() -> None:
    body = (
        "<p>東京都は本日、新しい交通計画を発表しました。"
        "市民の生活を改善するための取り組みです。</p>"
    )
    decoded = decode_html(_page(body).encode("shift_jis"), "text/html")
    assert "新しい交通計画" in decoded.text


def test_windows_1251_under_a_lying_latin1_header() -> None:
    body = "<p>Городская библиотека после двух лет ремонта снова открыла свои двери.</p>"
    decoded = decode_html(_page(body).encode("cp1251"), "text/html; charset=iso-8859-1")
    assert "Городская библиотека" in decoded.text


def test_invalid_utf8_bytes_are_replaced_not_fatal() -> None:
    html = _page("<p>caf\xe9 ok</p>").encode("utf-8").replace(b"caf\xc3\xa9", b"caf\xff\xfe")
    result = _run(html, "text/html; charset=utf-8")
    assert isinstance(result, Article)
    assert "regional council" in result.text


# --- garbage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", "text/html", "empty"),
        (b"   \n\t  ", "text/html", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "text/html", "not_html"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html", "not_html"),
        (b"<html><body><p>hello</p></body></html>", "application/pdf", "not_html"),
        (b"\x00" * 5000, "text/html", "not_html"),
        (b"just some words, no markup at all", "text/html", "not_html"),
        (b"<html><body></body></html>", "text/html", "no_body"),
    ],
)
def test_garbage_becomes_a_rejection(body: bytes, content_type: str, reason: str) -> None:
    result = _run(body, content_type)
    assert isinstance(result, Rejection) and result.reason == reason


def test_random_bytes_never_crash() -> None:
    rng = __import__("random").Random(7)
    for _ in range(30):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 20000)))
        assert isinstance(_run(blob), Rejection)


def test_nul_bytes_inside_html_are_tolerated() -> None:
    html = _page("<p>before\x00after</p>").encode("utf-8")
    assert isinstance(_run(html), Article)


def test_deeply_nested_markup_is_bounded() -> None:
    depth = 100_000
    html = ("<html><body>" + "<div>" * depth + "<p>deep</p>" + "</div>" * depth).encode()
    start = time.monotonic()
    result = _run(html)
    assert isinstance(result, Rejection | Article)
    assert time.monotonic() - start < 30


def test_huge_page_is_rejected_as_too_large() -> None:
    html = _page("<p>" + "word " * 2_000_000 + "</p>").encode()
    result = _run(html, max_html_bytes=5_000_000)
    assert isinstance(result, Rejection) and result.reason == "too_large"


def test_tree_size_limit() -> None:
    html = _page("<ul>" + "<li>x</li>" * 30_000 + "</ul>").encode()
    result = _run(html, max_tree_size=10_000)
    assert isinstance(result, Rejection) and result.reason == "too_large"


def test_time_limit_interrupts_long_work() -> None:
    start = time.monotonic()
    with pytest.raises(BaseException) as info, time_limit(0.2):
        while True:
            sum(range(1000))
    assert type(info.value).__name__ == "_Timeout"
    assert time.monotonic() - start < 2


class _SlowFinalizer:
    """Busy in ``__del__`` until `until`: an alarm landing there is dropped by Python."""

    def __init__(self, until: float) -> None:
        self.until = until

    def __del__(self) -> None:
        while time.monotonic() < self.until:
            sum(range(1000))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_time_limit_survives_an_alarm_swallowed_by_a_finalizer() -> None:
    # The first alarm fires inside __del__, where Python prints and drops the exception
    # (this once made a timeout test pass extraction through to the end on a loaded machine).
    start = time.monotonic()
    with pytest.raises(BaseException) as info, time_limit(0.05):
        finalizer: _SlowFinalizer | None = _SlowFinalizer(start + 0.2)
        del finalizer  # runs __del__ now, for 0.2 s: the first alarm lands in it
        while time.monotonic() < start + 3:
            sum(range(1000))
    assert type(info.value).__name__ == "_Timeout"
    assert time.monotonic() - start < 1


def test_time_limit_turns_into_a_timeout_rejection() -> None:
    html = _page("".join(f"<p>Paragraph {i} " + "text " * 40 + "</p>" for i in range(3000)))
    result = _run(html.encode(), time_limit=0.01)
    assert isinstance(result, Rejection) and result.reason == "timeout"


# --- determinism ------------------------------------------------------------------------------


def test_same_input_twice_gives_the_same_article() -> None:
    html = _page("<p>Published 30 May 2025.</p>").encode()
    first, second = _run(html), _run(html)
    assert isinstance(first, Article) and first == second
    assert first.content_hash == second.content_hash and first.simhash == second.simhash


def test_fetched_at_pins_dates_not_today() -> None:
    """A page without dates gets none after the fetch time, whatever today's date is."""
    html = _page("<p>Next meeting: 12 December 2099.</p>").encode()
    result = extract_article(
        html,
        "https://example.org/news/harbour-plan",
        fetched_at=datetime(2020, 1, 1, tzinfo=UTC),
        source="t",
        content_type="text/html",
        options=ExtractionOptions(),
    )
    assert isinstance(result, Article)
    assert result.published_at is None or result.published_at <= datetime(2020, 1, 2, tzinfo=UTC)


def test_unrelated_env_does_not_change_output(monkeypatch: pytest.MonkeyPatch) -> None:
    html = _page("").encode()
    before = _run(html)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    if hasattr(time, "tzset"):
        time.tzset()
    try:
        assert _run(html) == before
    finally:
        monkeypatch.delenv("TZ")
        if hasattr(time, "tzset"):
            time.tzset()


def test_random_bytes_sample_is_reproducible() -> None:
    blob = os.urandom(64)
    assert _run(blob) == _run(blob)


def _plain_page(head: str = "") -> bytes:
    paras = "".join(f"<p>{p}</p>" for p in PARAS[:2])
    return (
        f"<html><head>{head}<title>About us</title></head>"
        f"<body><main><h1>About us</h1>{paras}</main></body></html>"
    ).encode()


def test_short_page_without_article_markup_is_not_an_article() -> None:
    result = _run(_plain_page())
    assert isinstance(result, Rejection)
    assert result.reason == "no_body"
    assert "no article markup" in result.detail


def test_short_page_that_declares_itself_an_article_is_kept() -> None:
    result = _run(_plain_page('<meta property="og:type" content="article">'))
    assert isinstance(result, Article)
    assert result.word_count < ExtractionOptions().min_words_unmarked
