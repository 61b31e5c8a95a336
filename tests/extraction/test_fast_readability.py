"""The readability stand-in removes exactly what readability's own method removes."""

from __future__ import annotations

import copy
from typing import Any

from extraction_helpers import Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.html import HtmlElement
from trafilatura import htmlprocessing, readability_lxml, xpaths

from extraction import fast_readability
from extraction.extract import parse_html
from extraction.fast_xpaths import RawPrunes
from extraction.prune import PRUNE_CLASSES, PRUNE_IDS, prune_tree
from extraction.scan import scan_tree

TAGS = ["div", "p", "span", "section", "body", "html", "ul", "li", "article", "a"]
TOKENS = [
    "", "x", "comment", "comments", "sidebar", "footer", "menu", "main", "article",
    "content", "header", "Sidebar", "COMMENT", "community", "twitter", "and", "body", "x ",
]  # fmt: skip
VALUES = st.lists(st.sampled_from(TOKENS), max_size=3).map(" ".join)
NODES: st.SearchStrategy[Any] = st.recursive(
    st.tuples(st.sampled_from(TAGS), st.one_of(st.none(), VALUES), st.one_of(st.none(), VALUES)),
    lambda children: st.tuples(
        st.sampled_from(TAGS),
        st.one_of(st.none(), VALUES),
        st.one_of(st.none(), VALUES),
        st.lists(children, max_size=3),
    ),
    max_leaves=25,
)


def _build(parent: etree._Element, node: tuple[Any, ...]) -> None:
    tag, cls, ident, *rest = node
    el = etree.SubElement(parent, tag)
    if cls is not None:
        el.set("class", cls)
    if ident is not None:
        el.set("id", ident)
    el.text = "t"
    el.tail = "tail"
    for child in rest[0] if rest else []:
        _build(el, child)


def _assert_same(tree: HtmlElement) -> None:
    mine, theirs = copy.copy(tree), copy.copy(tree)
    fast_readability.remove_unlikely_candidates(readability_lxml.Document(mine))
    readability_lxml.Document(theirs).remove_unlikely_candidates()
    assert etree.tostring(mine) == etree.tostring(theirs)
    _assert_seeded_same(tree)


def _assert_seeded_same(tree: HtmlElement) -> None:
    """The list our walk collected, used after the tree lost elements as it does before
    readability runs (our prune, trafilatura's raw-tree prunes, readability's scripts)."""
    mine, theirs = copy.copy(tree), copy.copy(tree)
    raw = RawPrunes()
    scan = scan_tree(mine, PRUNE_IDS, PRUNE_CLASSES, raw=raw)
    prune_tree(mine, PRUNE_IDS, PRUNE_CLASSES, scan.prune)
    prune_tree(theirs, PRUNE_IDS, PRUNE_CLASSES)
    for one in (mine, theirs):
        htmlprocessing.prune_unwanted_nodes(one, xpaths.OVERALL_DISCARD_XPATH)
    with fast_readability.fast_readability((mine, raw.classed)):
        readability_lxml.Document(copy.copy(mine)).remove_unlikely_candidates()  # not seeded
        readability_lxml.Document(mine).remove_unlikely_candidates()
    readability_lxml.Document(theirs).remove_unlikely_candidates()  # the original
    assert etree.tostring(mine) == etree.tostring(theirs)


def test_stand_in_is_active_for_the_installed_trafilatura() -> None:
    assert fast_readability.active()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(NODES, min_size=1, max_size=4))
def test_same_removals_on_random_trees(nodes: list[Any]) -> None:
    root = parse_html("<html><body><p>x</p></body></html>")
    assert root is not None
    body = root.find("body")
    for node in nodes:
        _build(body, node)
    _assert_same(root)


def test_same_removals_on_fixture_pages(cases: list[Case]) -> None:
    for case in cases:
        tree = parse_html(case.html.decode("utf-8", "replace"))
        if tree is not None:
            _assert_same(tree)


def test_swapped_only_inside_the_block() -> None:
    original = readability_lxml.Document.remove_unlikely_candidates
    with fast_readability.fast_readability():
        assert (
            readability_lxml.Document.remove_unlikely_candidates
            is fast_readability.remove_unlikely_candidates
        )
        with fast_readability.fast_readability():  # re-entry: no change, no restore
            pass
        assert (
            readability_lxml.Document.remove_unlikely_candidates
            is fast_readability.remove_unlikely_candidates
        )
    assert readability_lxml.Document.remove_unlikely_candidates is original


def test_seeded_list_skips_elements_gone_from_the_tree() -> None:
    # A removed subtree's root has no parent: readability's list would not hold it, and
    # dropping it would fail; an element inside a removed subtree is dropped there only.
    markup = (
        "<html><body><div id='comments'><div class='sidebar'><p>x</p></div></div>"
        "<div class='menu'>m</div><div class='content'><p>text</p></div></body></html>"
    )
    tree = parse_html(markup)
    assert tree is not None
    _assert_seeded_same(tree)
    raw = RawPrunes()
    scan_tree(tree, PRUNE_IDS, PRUNE_CLASSES, raw=raw)
    gone = tree.find(".//div[@class='menu']")
    assert gone is not None
    gone.drop_tree()
    fast_readability.remove_listed_candidates(readability_lxml.Document(tree), raw.classed)
    assert etree.tostring(tree) == (
        b'<html><body><div class="content"><p>text</p></div></body></html>'
    )


_WORDS = sorted(
    {
        piece
        for name in ("unlikelyCandidatesRe", "okMaybeItsACandidateRe")
        for word in readability_lxml.REGEXES[name].pattern.split("|")
        for piece in (word, word[:3], word[2:], word.upper())
    }
    | {" ", "-", "x", "ary"}
)


@settings(max_examples=2000, deadline=None)
@given(parts=st.lists(st.sampled_from(_WORDS), max_size=5))
def test_unlikely_verdict_is_readabilitys(parts: list[str]) -> None:
    regexes = readability_lxml.REGEXES
    for separator in ("", " "):
        attrs = separator.join(parts)
        low = attrs.lower()
        expected = bool(regexes["unlikelyCandidatesRe"].search(low)) and not regexes[
            "okMaybeItsACandidateRe"
        ].search(low)
        assert fast_readability._unlikely.__wrapped__(attrs) == expected, attrs


def test_unlikely_searches_are_grouped_for_the_installed_regexes() -> None:
    # plain alternations of words: grouped (a changed regex would fall back to its search)
    for search in fast_readability._candidate_searches():
        assert "(?:" in search.__self__.pattern  # type: ignore[attr-defined]
