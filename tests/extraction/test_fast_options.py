"""The Extractor built from a template equals, field by field, the one bare_extraction builds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trafilatura
from trafilatura import core
from trafilatura.settings import Extractor

from extraction import fast_options
from extraction.extract import parse_html

PAGE = (
    "<html><body><article><h1>Harbour ferry timetable</h1>"
    + "<p>The evening ferry will run twice as often from June, the operator said.</p>" * 8
    + "</article></body></html>"
)


def _fields(options: Extractor) -> dict[str, Any]:
    return {name: getattr(options, name) for name in Extractor.__slots__}


def _built_by_bare_extraction(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Extractor:
    """The Extractor bare_extraction builds itself from these arguments."""
    seen: list[Extractor] = []

    def capture(tree: Any, options: Extractor, url: str | None = None) -> Any:
        seen.append(options)
        raise ValueError("stop here")  # bare_extraction returns None

    monkeypatch.setattr(core, "trafilatura_sequence", capture)
    tree = parse_html(PAGE)
    assert trafilatura.bare_extraction(tree, deduplicate=False, **kwargs) is None
    monkeypatch.undo()
    assert len(seen) == 1
    return seen[0]


def test_template_is_active_for_the_installed_trafilatura() -> None:
    assert fast_options.active()


@pytest.mark.parametrize(
    "flags", list(itertools.product([False, True], repeat=5)), ids=lambda f: repr(f)
)
def test_same_fields_as_bare_extraction(
    monkeypatch: pytest.MonkeyPatch, flags: tuple[bool, ...]
) -> None:
    precision, recall, comments, tables, metadata = flags
    for url in ("http://example.com/a/b.html", "http://ex\udcffample.com/", "", None):
        kwargs: dict[str, Any] = {
            "url": url,
            "favor_precision": precision,
            "favor_recall": recall,
            "include_comments": comments,
            "include_tables": tables,
            "with_metadata": metadata,
            "date_extraction_params": {"original_date": True, "max_date": "2026-11-25"},
        }
        expected = _fields(_built_by_bare_extraction(monkeypatch, **kwargs))
        got = fast_options.extractor(**kwargs)
        assert got is not None
        assert _fields(got) == expected
        # per-call fields are the call's own: nothing shared with the template or other calls
        again = fast_options.extractor(**kwargs)
        assert again is not None and again is not got
        assert again.author_blacklist is not got.author_blacklist
        assert again.url_blacklist is not got.url_blacklist


def test_empty_date_parameters_are_left_to_bare_extraction() -> None:
    assert (
        fast_options.extractor(
            url=None,
            favor_precision=True,
            favor_recall=False,
            include_comments=False,
            include_tables=True,
            with_metadata=False,
            date_extraction_params={},
        )
        is None
    )
