"""extract_pages' page selection (vectorised) against the row-by-row rule it replaced."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from extraction.batch import _batches, _html_pages, _is_html

_TYPES = [
    None,
    "",
    "text/html",
    "text/html; charset=utf-8",
    " TEXT/HTML ;x",
    "application/xhtml+xml",
    "application/pdf",
    "image/png",
    "text/plain",
]


def _reference(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    todo, rejected = [], Counter[str]()
    for page in rows:
        if page.get("status") != 200 or not page.get("warc_file"):
            continue
        if not _is_html(page.get("content_type")):
            rejected["not_html"] += 1
            continue
        todo.append(page)
    return todo, rejected


_rows = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from([None, 200, 404, 301, 500]),
            "warc_file": st.sampled_from([None, "", "warc/a.warc.gz", "warc/b.warc.gz"]),
            "content_type": st.sampled_from(_TYPES),
            "warc_offset": st.integers(0, 10**9),
        }
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_rows)
def test_selection_equals_the_row_rule(rows: list[dict[str, Any]]) -> None:
    n = len(rows)
    table = pa.table(
        {
            "url": [f"http://x/{i}" for i in range(n)],
            "status": pa.array([r["status"] for r in rows], pa.int32()),
            "content_type": pa.array([r["content_type"] for r in rows], pa.string()),
            "warc_file": pa.array([r["warc_file"] for r in rows], pa.string()),
            "warc_offset": pa.array([r["warc_offset"] for r in rows], pa.int64()),
            "url_key": pa.array(["k"] * n, pa.string()),  # not an extraction column: dropped
        }
    )
    rejected: Counter[str] = Counter()
    got = _html_pages(table, rejected)
    expected, expected_rejected = _reference(table.to_pylist())
    assert got.to_pylist() == [{k: v for k, v in r.items() if k != "url_key"} for r in expected]
    assert rejected == expected_rejected
    assert ("not_html" in rejected) == bool(expected_rejected["not_html"])


def test_selection_without_status_or_content_type_columns() -> None:
    table = pa.table({"url": ["a", "b"], "warc_file": ["w", "w"], "warc_offset": [1, 2]})
    assert _html_pages(table, Counter()).num_rows == 0  # no status: nothing was fetched
    table = table.append_column("status", pa.array([200, 404], pa.int32()))
    rejected: Counter[str] = Counter()
    assert _html_pages(table, rejected)["url"].to_pylist() == ["a"]  # unknown type: sniffed
    assert not rejected


def test_batches_cover_the_rows_in_order() -> None:
    pages = pa.table({"url": [str(i) for i in range(1003)]})
    for workers in (1, 2, 3):
        chunks = list(_batches(pages, 50, workers))
        assert [u for c in chunks for u in c["url"].to_pylist()] == pages["url"].to_pylist()
        assert max(c.num_rows for c in chunks) == 50
