"""extract_pages over a real WARC: inline and process pool give the same rows and counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from extraction_helpers import load_cases

from extraction.batch import extract_pages, make_pool, warm_pool
from extraction.options import ExtractionOptions, extractor_id
from storage.dedup import content_hash, fingerprint
from storage.schemas import EXTRACTED_SCHEMA, PAGES_SCHEMA
from storage.urls import url_key
from storage.warc import WarcWriter

FETCHED = datetime(2025, 8, 20, 12, 0, tzinfo=UTC)
EXTRACTED = datetime(2025, 8, 21, 0, 0, tzinfo=UTC)


def _archive(root: Path) -> pa.Table:
    """Write every golden page (plus a PNG, a 404 and a feed) to a WARC; return pages rows."""
    rows = []
    items: list[tuple[str, int, str, bytes]] = [
        (c.url, 200, c.content_type or "text/html", c.html) for c in load_cases()
    ]
    items += [
        ("https://riverbend-courier.example/logo.png", 200, "image/png", b"\x89PNG\r\n\x1a\n"),
        ("https://riverbend-courier.example/missing", 404, "text/html", b"<html>gone</html>"),
        ("https://riverbend-courier.example/feed/", 200, "application/rss+xml", b"<rss/>"),
    ]
    with WarcWriter(str(root), "golden", "crawl1") as writer:
        for url, status, ctype, body in items:
            ref = writer.write_response(
                url, status, [("Content-Type", ctype)], body, fetched_at=FETCHED
            )
            rows.append(
                {
                    "url": url,
                    "final_url": url,
                    "url_key": url_key(url),
                    "source": "golden",
                    "crawl_id": "crawl1",
                    "status": status,
                    "content_type": ctype,
                    "fetched_at": FETCHED,
                    "discovered_via": "link",
                    "depth": 1,
                    "warc_file": ref.warc_file,
                    "warc_offset": ref.offset,
                    "warc_length": ref.length,
                }
            )
    return pa.Table.from_pylist(rows, schema=PAGES_SCHEMA)


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pa.Table]:
    root = tmp_path_factory.mktemp("archive")
    return str(root), _archive(root)


def test_inline_extraction_from_warc(archived: tuple[str, pa.Table]) -> None:
    root, pages = archived
    options = ExtractionOptions()
    result = extract_pages(root, pages, options, workers=1, extracted_at=EXTRACTED)
    n_articles = sum(1 for c in load_cases() if c.expected_text is not None)
    n_listings = sum(1 for c in load_cases() if "rejection" in c.meta)
    assert result.errors == []
    assert result.articles.schema.equals(EXTRACTED_SCHEMA)
    assert result.articles.num_rows == n_articles
    # The PNG and the feed are not HTML; the 404 is not a page to extract at all.
    assert result.rejected == {"listing_page": n_listings, "not_html": 2}
    rows = result.articles.to_pylist()
    assert {r["extractor"] for r in rows} == {extractor_id(options)}
    assert all(r["text"] and r["warc_length"] > 0 and r["fetched_at"] == FETCHED for r in rows)
    for r in rows:  # the whole 256-bit SimHash comes from the pool: storage need not redo it
        lanes = fingerprint(r["text"])
        assert r["content_hash"] == content_hash(r["text"])
        assert r["simhash"] == lanes[0]
        assert r["simhash_ext"] == b"".join(v.to_bytes(8, "little") for v in lanes[1:])
    wp = next(r for r in rows if "drip" in r["url"])
    assert wp["canonical_url"].endswith("/2025/08/14/valley-farmers-drip-irrigation/")
    assert "Leave a Reply" not in wp["text"]


def test_process_pool_gives_identical_rows(archived: tuple[str, pa.Table]) -> None:
    root, pages = archived
    options = ExtractionOptions()
    inline = extract_pages(root, pages, options, workers=1, extracted_at=EXTRACTED)
    pooled = extract_pages(root, pages, options, workers=2, batch_size=3, extracted_at=EXTRACTED)
    assert pooled.errors == []
    assert pooled.rejected == inline.rejected
    assert pooled.articles.equals(inline.articles)


def test_unreadable_record_is_an_error_not_a_crash(archived: tuple[str, pa.Table]) -> None:
    root, pages = archived
    broken = pages.slice(0, 1).set_column(
        pages.schema.get_field_index("warc_offset"), "warc_offset", pa.array([10**9], pa.int64())
    )
    result = extract_pages(root, broken, ExtractionOptions(), workers=1)
    assert result.articles.num_rows == 0
    assert len(result.errors) == 1 and "cannot read WARC record" in result.errors[0]


def test_learn_templates_from_the_archive_is_deterministic(
    archived: tuple[str, pa.Table],
) -> None:
    from extraction.batch import learn_templates

    root, pages = archived
    first = learn_templates(root, pages, min_pages=3)
    second = learn_templates(root, pages, min_pages=3)
    assert first == second
    # The golden pages share one source but several templates: the Riverbend pages share
    # their header and footer, which is exactly what a template model should learn.
    assert set(first) <= {"golden"}
    result = extract_pages(root, pages, ExtractionOptions(), workers=1, templates=first)
    assert result.articles.num_rows == sum(1 for c in load_cases() if c.expected_text)


@pytest.mark.timeout(180)
def test_pool_generations_replace_workers_without_hanging(
    archived: tuple[str, pa.Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Owned pools are replaced every few batches (flat memory) and the run still finishes."""
    import extraction.batch as batch

    root, pages = archived
    monkeypatch.setattr(batch, "_BATCHES_PER_WORKER", 2)
    inline = extract_pages(root, pages, ExtractionOptions(), workers=1, extracted_at=EXTRACTED)
    pooled = extract_pages(
        root, pages, ExtractionOptions(), workers=2, batch_size=1, extracted_at=EXTRACTED
    )
    assert pooled.errors == [] and pooled.rejected == inline.rejected
    assert pooled.articles.equals(inline.articles)


def test_warmed_pool_detects_languages_like_inline(archived: tuple[str, pa.Table]) -> None:
    """warm_pool no longer loads the language model: a worker loads it when a page first
    needs it, and the rows match an inline run's (languages included)."""
    root, pages = archived
    options = ExtractionOptions()
    inline = extract_pages(root, pages, options, workers=1, extracted_at=EXTRACTED)
    with make_pool(2) as pool:
        warm_pool(pool, 2)
        pooled = extract_pages(
            root, pages, options, executor=pool, batch_size=2, extracted_at=EXTRACTED
        )
    assert pooled.errors == []
    assert pooled.articles.equals(inline.articles)
    # These two pages declare no language: it is detected, in the workers.
    languages = set(pooled.articles.column("language").to_pylist())
    assert {"ar", "ru", "en"} <= languages


def test_unopenable_root_is_one_error_per_page(archived: tuple[str, pa.Table]) -> None:
    _, pages = archived
    html = pages.filter(pc.equal(pages.column("status"), 200)).slice(0, 3)
    result = extract_pages("", html, ExtractionOptions(), workers=1)
    assert result.articles.num_rows == 0
    assert len(result.errors) == 3
    assert all("cannot read WARC record" in e and "root" in e for e in result.errors)
