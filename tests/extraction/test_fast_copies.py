"""Leaving out trafilatura's unneeded tree copies changes no extraction result."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trafilatura
from extraction_helpers import Case
from lxml import etree
from trafilatura import core

from extraction import extract as extract_module
from extraction import fast_copies
from extraction.extract import extract_article, parse_html
from extraction.fast_xpaths import fast_prunes
from extraction.options import ExtractionOptions


def _fixture_server() -> ModuleType:
    """tests/fixtures/server.py (its generated pages), imported by path."""
    name = "newsarchive_fixture_server"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "fixtures" / "server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


MODES = [
    {"favor_precision": True},
    {},
    {"favor_recall": True},
    {"favor_precision": True, "include_comments": True},
]


def _pages(cases: list[Case]) -> list[str]:
    pages = [case.html.decode("utf-8", "replace") for case in cases]
    server = _fixture_server()
    pages += [server.gen_article_realistic(i).decode() for i in range(3)]
    pages += [server.gen_article(i).decode() for i in range(2)]
    # short pages: the balanced fallback and trafilatura's rescue paths
    pages += [
        "<html><body><article><h1>Title here</h1><p>Only a few words in this one.</p>"
        "</article><div class='comments'><p>A comment with some words in it.</p></div>"
        "</body></html>",
        "<html><body><div>" + "<p>Line of text number {i} in a list of lines.</p>" * 8 + "</div>"
        "<ul><li><a href='/a'>Link one here</a></li><li><a href='/b'>Link two</a></li></ul>"
        "</body></html>",
    ]
    return pages


def _run(markup: str, lend: bool, **kwargs: Any) -> Any:
    tree = parse_html(markup)
    assert tree is not None
    with fast_prunes(), fast_copies.lean_copies(tree if lend else None):
        doc: Any = trafilatura.bare_extraction(tree, url="http://example.com/a", **kwargs)
    return None if doc is None else (doc.text, etree.tostring(doc.body))


def _plain(markup: str, **kwargs: Any) -> Any:
    tree = parse_html(markup)
    assert tree is not None
    with fast_prunes():
        doc: Any = trafilatura.bare_extraction(tree, url="http://example.com/a", **kwargs)
    return None if doc is None else (doc.text, etree.tostring(doc.body))


def test_stand_ins_are_active_for_the_installed_trafilatura() -> None:
    # A trafilatura upgrade that changes these functions disables the stand-ins (correct
    # but slower): this test says so, so that they get checked and re-enabled.
    assert fast_copies.active(), trafilatura.__version__


def test_bare_extraction_unchanged_with_lean_copies(cases: list[Case]) -> None:
    for markup in _pages(cases):
        for kwargs in MODES:
            expected = _plain(markup, **kwargs)
            assert _run(markup, False, **kwargs) == expected, kwargs
            assert _run(markup, True, **kwargs) == expected, kwargs


def test_lean_copies_restores_and_copies_unlent_trees() -> None:
    original_copy, original_compare = core.copy, core._extract_and_compare
    tree = parse_html("<html><body><p>x</p></body></html>")
    assert tree is not None
    with pytest.raises(RuntimeError), fast_copies.lean_copies(tree):
        assert core.copy(tree) is tree  # lent once: bare_extraction's own copy is skipped
        assert core.copy(tree) is not tree  # every later copy is a real one
        raise RuntimeError("a failure inside trafilatura")
    assert core.copy is original_copy and core._extract_and_compare is original_compare
    fragment = parse_html("<p>one</p><p>two</p>")  # not a document root: never lent
    assert fragment is not None and fragment.getparent() is not None
    with fast_copies.lean_copies(fragment):
        assert core.copy(fragment) is not fragment


@contextlib.contextmanager
def _no_lean_copies(lend: Any = None) -> Iterator[None]:
    yield


def test_extract_article_unchanged_with_lean_copies(
    cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = datetime(2026, 6, 1, tzinfo=UTC)
    variants = [
        ExtractionOptions(),
        ExtractionOptions(favor_precision=False),
        ExtractionOptions(trafilatura_metadata=True),
        ExtractionOptions(reject_listings=False, min_words=10**6),  # balanced pass: tree rebuilt
    ]

    def run_all() -> list[Any]:
        out = []
        for markup in _pages(cases):
            for options in variants:
                result = extract_article(
                    markup.encode(),
                    "http://example.com/news/2026/05/a-story.html",
                    fetched_at=fetched,
                    source="s",
                    content_type="text/html",
                    options=options,
                )
                out.append(asdict(result))
        return out

    fast = run_all()
    monkeypatch.setattr(extract_module, "lean_copies", _no_lean_copies)
    assert run_all() == fast


def test_a_lent_tree_is_used_up_and_rebuilt_as_it_was(cases: list[Case]) -> None:
    options = ExtractionOptions()
    ids, classes = frozenset(options.prune_ids), frozenset(options.prune_classes)
    markup = _pages(cases)[0]

    def pruned() -> Any:
        tree = parse_html(markup)
        assert tree is not None
        extract_module.prune_tree(tree, ids, classes)
        return tree

    tree = pruned()
    before = etree.tostring(tree)
    extract_module._trafilatura(
        tree, "http://example.com/a", options, {}, precision=True, lend=tree
    )
    assert etree.tostring(tree) != before  # trafilatura worked on the tree itself
    rebuilt = extract_module._rebuild_tree(markup, tree, ids, classes)
    assert etree.tostring(rebuilt) == before == etree.tostring(pruned())
