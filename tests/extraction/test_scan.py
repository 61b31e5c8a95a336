"""The shared tree walk finds exactly what each reader's own walk finds, in the same order."""

from __future__ import annotations

import functools
import operator
from typing import Any

from extraction_helpers import Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.html import HtmlElement

from extraction import metadata
from extraction.extract import parse_html
from extraction.metadata import (
    _BYLINE_XPATH,
    PageSignals,
    _text_pieces,
    byline_elements,
    element_text,
    read_signals,
)
from extraction.pagetype import listing_reason
from extraction.prune import PRUNE_CLASSES, PRUNE_IDS, prune_candidates, prune_tree
from extraction.scan import scan_tree
from extraction.split_body import body_chunks

TAGS = [
    "div", "p", "span", "form", "article", "h1", "title", "meta", "link", "script", "a",
    "section", "body", "P",
]  # fmt: skip
ATTRS = ["id", "class", "rel", "itemprop", "name", "content", "href", "property", "type"]
TOKENS = [
    "", "x", "author", "byline", "Author", "post-author", "respond", "comments", "comment",
    "newsletter", "newsletters", "related-posts", "sharedaddy", "cookie-notice", "canonical",
    "og:type", "article", "application/ld+json", "a b c d e", "one two three four five",
    "\u00a0", "\t",
]  # fmt: skip
VALUES = st.lists(st.sampled_from(TOKENS), max_size=3).flatmap(
    lambda parts: st.sampled_from(["", " ", "-", "\n"]).map(lambda sep: sep.join(parts))
)
ATTRIBUTES = st.lists(
    st.tuples(st.sampled_from(ATTRS), VALUES), max_size=4, unique_by=lambda a: a[0]
)
TEXTS = st.sampled_from(["", "x", "one two three four five six", "a b c d e f g h i j k l"])
NODES: st.SearchStrategy[Any] = st.recursive(
    st.tuples(st.sampled_from(TAGS), ATTRIBUTES, TEXTS, st.just([])),
    lambda children: st.tuples(
        st.sampled_from(TAGS), ATTRIBUTES, TEXTS, st.lists(children, max_size=4)
    ),
    max_leaves=30,
)
IDS, CLASSES = frozenset(PRUNE_IDS), frozenset(PRUNE_CLASSES)


def _build(parent: etree._Element, node: tuple[str, list[tuple[str, str]], str, list[Any]]) -> None:
    tag, attributes, text, children = node
    el = etree.SubElement(parent, tag)
    for name, value in attributes:
        el.set(name, value)
    el.text = text
    if text == "x":
        el.append(etree.Comment("a comment"))  # not an element: never counted or matched
    for child in children:
        _build(el, child)


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _assert_scan_matches(tree: HtmlElement) -> None:
    scan = scan_tree(tree, IDS, CLASSES)
    assert not scan.truncated
    assert scan.elements == sum(1 for el in tree.iter() if isinstance(el.tag, str))
    if tree.getparent() is None:
        assert scan.elements == int(tree.xpath("count(//*)"))
    expected_prune = prune_candidates(tree, IDS, CLASSES)
    assert _same([el for el, _ in scan.prune], [el for el, _ in expected_prune])
    assert [hit for _, hit in scan.prune] == [hit for _, hit in expected_prune]
    assert _same(scan.bylines, byline_elements(tree))
    assert _same(scan.bylines, etree.XPath(_BYLINE_XPATH)(tree))
    for tag, found in scan.by_tag.items():
        assert _same(found, list(tree.iter(tag))), tag
    assert scan.title is tree.find(".//title")
    assert scan.h1 is next(tree.iter("h1"), None)
    assert scan.articles == sum(1 for _ in tree.iter("article"))
    for el in tree.iter(etree.Element):  # element_text is text_content, faster
        assert element_text(el) == el.text_content()
        _assert_body_words(el)
    url = "http://example.com/news/story.html"
    assert read_signals(tree, url, scan) == read_signals(tree, url)
    assert body_chunks(tree, scan.by_tag["p"]) == body_chunks(tree)
    if scan.elements > 1:
        limited = scan_tree(tree, IDS, CLASSES, limit=scan.elements - 1)
        assert limited.truncated
        assert limited.elements == scan.elements  # stopped at the element past the limit
    assert not scan_tree(tree, IDS, CLASSES, limit=scan.elements).truncated
    assert scan_tree(tree, IDS, CLASSES, limit=0).truncated


def _assert_body_words(el: HtmlElement) -> None:
    """The body word count in pieces: the whole count, or (stopped early) a count that is
    enough and no more than the whole one."""
    for depth in (1, 2, 3, 5):
        assert "".join(_text_pieces(el, depth)) == element_text(el)
    full = len(element_text(el).split())
    assert PageSignals(body=el).count_body_words() == full
    default = metadata._MAX_PIECES
    try:
        for cap in (2, 5, default):  # then the whole text at once
            metadata._MAX_PIECES = cap
            for least in (1, 2, 3, 5, 8, full, full + 1):
                signals = PageSignals(body=el)
                got = signals.count_body_words(functools.partial(operator.le, least))
                assert got == full or least <= got <= full
                assert signals.count_body_words() == full  # a stopped count is not kept
    finally:
        metadata._MAX_PIECES = default


def _assert_prune_matches(markup: str) -> None:
    one, two = parse_html(markup), parse_html(markup)
    assert one is not None and two is not None
    removed = prune_tree(one, IDS, CLASSES, scan_tree(one, IDS, CLASSES).prune)
    assert removed == prune_tree(two, IDS, CLASSES)
    assert etree.tostring(one) == etree.tostring(two)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(NODES, min_size=1, max_size=4))
def test_scan_matches_each_reader_on_random_trees(nodes: list[Any]) -> None:
    root = parse_html("<html><head></head><body><p>x</p></body></html>")
    assert root is not None
    body = root.find("body")
    for node in nodes:
        _build(body, node)
    _assert_scan_matches(root)
    for subtree in body:  # subtrees: the tree itself is never a byline or a title
        _assert_scan_matches(subtree)
    markup = etree.tostring(root, method="html", encoding="unicode")
    reparsed = parse_html(markup)
    assert reparsed is not None
    _assert_scan_matches(reparsed)
    _assert_prune_matches(markup)


def test_scan_matches_each_reader_on_fixture_pages(cases: list[Case]) -> None:
    for case in cases:
        markup = case.html.decode("utf-8", "replace")
        tree = parse_html(markup)
        if tree is not None:
            _assert_scan_matches(tree)
            _assert_prune_matches(markup)


def test_link_share_decision_matches_the_whole_count() -> None:
    """listing_reason's body word count stops early only when more words cannot change
    the decision: pages around the 0.55 link share, words split over nested pieces."""
    url = "http://example.com/news/story.html"
    for links in (1, 3, 10, 40):
        for prose in (0, 5, 20, 40, 80, 200):
            anchors = "".join(
                f"<li><a href='/s/{i}'>Headline number {i} with words</a></li>"
                for i in range(links)
            )
            words = " ".join(f"w{i}" for i in range(prose))
            markup = (
                f"<html><body><div><ul>{anchors}</ul><div><p>{words}</p>"
                f"<p>x<b>y</b>z {words}</p></div></div><footer>a b</footer></body></html>"
            )
            tree = parse_html(markup)
            assert tree is not None
            signals = read_signals(tree, url)
            share = signals.headline_link_words
            whole = len(element_text(tree.find("body")).split())
            expected = "structure:links" if whole and share > 0.55 * whole else None
            assert listing_reason(signals, url, url) == expected
