"""The Python stand-ins select exactly what trafilatura's XPaths select, in the same order."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import trafilatura
from extraction_helpers import Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml.html import HtmlElement
from trafilatura import core, external, htmlprocessing, main_extractor, xpaths

from extraction import fast_xpaths
from extraction.extract import parse_html
from extraction.metadata import _BYLINE_XPATH, byline_elements
from extraction.prune import PRUNE_CLASSES, PRUNE_IDS, prune_tree
from extraction.scan import scan_tree

TAGS = [
    "div", "item", "list", "p", "section", "span", "aside", "details", "ol", "ul", "h1", "a",
    "form", "article", "main", "DIV",
]  # fmt: skip
ATTRS = [
    "id", "class", "style", "role", "aria-hidden", "data-component",
    "data-lp-replacement-content", "title", "itemprop", "rel",
]  # fmt: skip
#: Fragments of the regexes' tokens, near misses and case variants.
TOKENS = [
    "", "x", "cookie", "Cookie", "share-", "shar", "Share", "social", "nav", "Nav", "N",
    "navigation", "menu", "bar", "ad", "ad-", " ad ", "dfpAd", "widget", "footer", "meta",
    "comment", "Comment", "comments", "commentary", "Comments", "comol", "disqus_thread",
    "dsq-comments", "article-comments", "post-comments", "comments-title", "reply-", "-reply-",
    "hidden", "hide-", " hide", "display:none", "display: none", "true", "false",
    "reader-comments", "akismet", "message", "mvp-post-add-box", "mvp-post-add-wrap",
    "infinite-scroll", "infinitescroll", "elementor-share-buttons", "MostPopularStories",
    "yin", "related", "elated", "tags", "tag-list", "ZendeskForm", "\u00e9", " ", "post",
    "entry", "articleBody", "articleContent", "article-content", "article__container",
    "post-entry", "body", "author", "byline", "Author", "bottom", "link", "border", "teaser",
    "Teaser", "caption", "bottom\tlink",
]  # fmt: skip

VALUES = st.lists(st.sampled_from(TOKENS), max_size=3).flatmap(
    lambda parts: st.sampled_from(["", " ", "-", "_", "\t"]).map(lambda sep: sep.join(parts))
)
ATTRIBUTES = st.lists(
    st.tuples(st.sampled_from(ATTRS), VALUES), max_size=4, unique_by=lambda a: a[0]
)
NODES: st.SearchStrategy[Any] = st.recursive(
    st.tuples(st.sampled_from(TAGS), ATTRIBUTES, st.just([])),
    lambda children: st.tuples(
        st.sampled_from(TAGS), ATTRIBUTES, st.lists(children, max_size=3).map(lambda c: c + c[:1])
    ),
    max_leaves=25,
)


def _build(parent: etree._Element, node: tuple[str, list[tuple[str, str]], list[Any]]) -> None:
    tag, attributes, children = node
    el = etree.SubElement(parent, tag)
    for name, value in attributes:  # in order: the source order decides @a|@b
        el.set(name, value)
    el.text = "text"
    for child in children:
        _build(el, child)


Pairs = list[tuple[str, etree.XPath, fast_xpaths.Matcher]]


def _pairs() -> Pairs:
    """Each XPath with its stand-in as fast_prunes installs it (with its verdict memo)."""
    pairs = []
    for name, (_, matchers) in fast_xpaths.EXPECTED.items():
        for xpath, matcher in zip(getattr(xpaths, name), matchers, strict=True):
            if matcher is not None:
                pairs.append((name, xpath, fast_xpaths._bind(matcher)))
    return [*pairs, ("bylines", etree.XPath(_BYLINE_XPATH), byline_elements)]


def _assert_same(tree: HtmlElement, pairs: Pairs | None = None) -> None:
    for name, xpath, matcher in pairs or _pairs():
        expected = xpath(tree)
        got = matcher(tree)
        assert len(got) == len(expected), name
        assert all(a is b for a, b in zip(got, expected, strict=True)), name
    # the raw tree's shared walk: the three lists, and the pruned tree as trafilatura prunes
    walked = fast_xpaths.raw_tree_walk(tree)
    xpath_lists = [*xpaths.RAW_TREE_PRUNE_XPATH, *xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH]
    for got, xpath in zip(walked, xpath_lists, strict=True):
        expected = xpath(tree)
        assert len(got) == len(expected), xpath.path
        assert all(a is b for a, b in zip(got, expected, strict=True)), xpath.path
    mine, theirs = copy.copy(tree), copy.copy(tree)
    walk = fast_xpaths.RawTreeWalk()
    htmlprocessing.prune_unwanted_nodes(mine, [walk.scroll, walk.share])
    htmlprocessing.prune_unwanted_nodes(mine, [walk.comments])
    htmlprocessing.prune_unwanted_nodes(theirs, xpaths.RAW_TREE_PRUNE_XPATH)
    htmlprocessing.prune_unwanted_nodes(theirs, xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH)
    assert etree.tostring(mine) == etree.tostring(theirs)
    _assert_seed_matches(tree)


def _assert_seed_matches(tree: HtmlElement) -> None:
    """scan_tree's RawPrunes: the five lists of the walks they replace and, used as
    _extract uses them (scan, our prune, then trafilatura's raw-tree prunes in precision
    mode), the same pruned tree as trafilatura's XPaths."""
    if tree.getparent() is not None:
        return  # _extract collects them for a document's root only
    raw = fast_xpaths.RawPrunes()
    scan_tree(tree, PRUNE_IDS, PRUNE_CLASSES, raw=raw)
    separate = [
        fast_xpaths.raw_tree_scroll(tree),
        fast_xpaths.raw_tree_share(tree),
        fast_xpaths.comment_blocks_and_lists(tree),
        fast_xpaths.overall_discard_blocks(tree),
        fast_xpaths.overall_discard_hidden(tree),
    ]
    collected = [raw.scroll_matches(), raw.share, raw.comments, raw.blocks, raw.hidden]
    for got, expected in zip(collected, separate, strict=True):
        assert len(got) == len(expected)
        assert all(a is b for a, b in zip(got, expected, strict=True))
    for overall in (False, True):
        mine, theirs = copy.copy(tree), copy.copy(tree)
        raw = fast_xpaths.RawPrunes()
        scan = scan_tree(mine, PRUNE_IDS, PRUNE_CLASSES, raw=raw)
        prune_tree(mine, PRUNE_IDS, PRUNE_CLASSES, scan.prune)  # the tree loses elements
        prune_tree(theirs, PRUNE_IDS, PRUNE_CLASSES)
        walk = fast_xpaths.RawTreeWalk((mine, raw), overall=overall)
        htmlprocessing.prune_unwanted_nodes(mine, [walk.scroll, walk.share])
        htmlprocessing.prune_unwanted_nodes(mine, [walk.comments])
        htmlprocessing.prune_unwanted_nodes(theirs, xpaths.RAW_TREE_PRUNE_XPATH)
        htmlprocessing.prune_unwanted_nodes(theirs, xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH)
        assert etree.tostring(mine) == etree.tostring(theirs)
        # the cleaned tree is pruned first (with the text guard): walked, the lists stay
        other = copy.copy(mine)
        htmlprocessing.prune_unwanted_nodes(other, [walk.blocks, walk.hidden], with_backup=True)
        htmlprocessing.prune_unwanted_nodes(
            copy.copy(theirs), xpaths.OVERALL_DISCARD_XPATH, with_backup=True
        )
        htmlprocessing.prune_unwanted_nodes(mine, [walk.blocks, walk.hidden])
        htmlprocessing.prune_unwanted_nodes(theirs, xpaths.OVERALL_DISCARD_XPATH)
        assert etree.tostring(mine) == etree.tostring(theirs)
        assert walk.pending_blocks is None and walk.pending_hidden is None


def test_every_stand_in_is_active_for_the_installed_trafilatura() -> None:
    # A trafilatura upgrade that changes an XPath disables its stand-in (correct but slower):
    # this test says so, so that the stand-in gets rewritten rather than silently dropped.
    assert fast_xpaths.active_lists() == list(fast_xpaths.EXPECTED), trafilatura.__version__
    # trafilatura's modules use the very list objects fast_prunes swaps in place.
    for module in (core, external, main_extractor):
        for name in fast_xpaths.EXPECTED:
            if hasattr(module, name):
                assert getattr(module, name) is getattr(xpaths, name), (module, name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(NODES, min_size=1, max_size=4))
def test_stand_ins_match_xpaths_on_random_trees(nodes: list[Any]) -> None:
    root = parse_html("<html><body><p>x</p></body></html>")
    assert root is not None
    body = root.find("body")
    for node in nodes:
        _build(body, node)
    pairs = _pairs()  # one memo for both trees, as for trafilatura's raw and cleaned trees
    _assert_same(root, pairs)
    # the same markup through the HTML parser (attribute order and tag case as parsed)
    reparsed = parse_html(etree.tostring(root, method="html", encoding="unicode"))
    assert reparsed is not None
    _assert_same(reparsed, pairs)


def test_stand_ins_match_xpaths_on_fixture_pages(cases: list[Case]) -> None:
    for case in cases:
        tree = parse_html(case.html.decode("utf-8", "replace"))
        if tree is not None:
            _assert_same(tree)


def test_fast_prunes_swaps_and_restores_the_lists() -> None:
    before = {name: list(getattr(xpaths, name)) for name in fast_xpaths.EXPECTED}
    blocks = fast_xpaths.RawTreeWalk.blocks
    with pytest.raises(RuntimeError), fast_xpaths.fast_prunes():
        assert xpaths.OVERALL_DISCARD_XPATH[0].__func__ is blocks
        with fast_xpaths.fast_prunes():  # re-entry changes nothing and restores nothing
            assert xpaths.OVERALL_DISCARD_XPATH[0].__func__ is blocks
        assert xpaths.OVERALL_DISCARD_XPATH[0].__func__ is blocks
        raise RuntimeError("a failure inside trafilatura")
    after = {name: list(getattr(xpaths, name)) for name in fast_xpaths.EXPECTED}
    assert all(all(a is b for a, b in zip(before[n], after[n], strict=True)) for n in before)


def test_raw_tree_walk_keeps_its_lists_for_the_same_tree_only() -> None:
    markup = (
        "<html><body><div class='elementor-share-buttons'>s</div>"
        "<div id='comments'>c</div><ul class='comment-list'><li>x</li></ul></body></html>"
    )
    one, two = parse_html(markup), parse_html(markup)
    assert one is not None and two is not None
    walk = fast_xpaths.RawTreeWalk()
    walk.scroll(one)
    got_share, got_comments = walk.share(two), walk.comments(two)  # walked anew
    assert got_share == xpaths.RAW_TREE_PRUNE_XPATH[1](two)
    assert got_comments == xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH[0](two)
    walk.scroll(one)
    assert walk.share(one) == xpaths.RAW_TREE_PRUNE_XPATH[1](one)
    assert walk.comments(one) == xpaths.REMOVE_COMMENTS_AND_LISTS_XPATH[0](one)
    assert walk.share(one) == xpaths.RAW_TREE_PRUNE_XPATH[1](one)  # kept once only


def test_seeded_scroll_reads_the_tree_as_pruned_then() -> None:
    # "no <h1> inside" is structural: an <h1> our prune removes (inside a small form or a
    # comments block) no longer keeps its infinite-scroll container, as with the XPath.
    markup = (
        "<html><body><h1>Story</h1><p>Lead.</p>"
        "<div class='infinite-scroll'><form><h1>Reply</h1></form><p>Next story</p></div>"
        "<div id='infinite-scroll'><div id='comments'><h1>Comments</h1></div></div>"
        "<div class='infinite-scroll'><h1>Kept: an article</h1></div>"
        "<section class='mvp-post-add-box'><h1>Ad</h1></section></body></html>"
    )
    tree = parse_html(markup)
    assert tree is not None
    _assert_seed_matches(tree)
    raw = fast_xpaths.RawPrunes()
    scan = scan_tree(tree, PRUNE_IDS, PRUNE_CLASSES, raw=raw)
    assert len(raw.scroll_matches()) == 1  # only the mvp box before our prune
    prune_tree(tree, PRUNE_IDS, PRUNE_CLASSES, scan.prune)
    assert len(raw.scroll_matches()) == 3


#: The regexes the string tests of fast_xpaths stand for, and those tests.
_PREDICATES = [
    (fast_xpaths.OVERALL_ID_PATTERN, fast_xpaths._OVERALL_ID),
    (fast_xpaths.OVERALL_CLASS_PATTERN, fast_xpaths._OVERALL_CLASS),
    (fast_xpaths.HIDDEN_CLASS_PATTERN, fast_xpaths._HIDDEN_CLASS),
    (fast_xpaths.COMMENTS_CLASS_PATTERN, fast_xpaths._COMMENTS_CLASS),
    (fast_xpaths.BODY_ID_PATTERN, fast_xpaths._BODY_ID),
    (fast_xpaths.BODY_CLASS_PATTERN, fast_xpaths._BODY_CLASS),
]
#: Each regex construct of those alternatives, spelled every way it matches (and "ary"
#: after the negative lookahead: the spelling it refuses).
_SPELLINGS = [("^", ("",)), ("(?:", ("",)), (")", ("",)), ("[Cc]", ("C", "c"))]
_SPELLINGS += [("[Aa]", ("A", "a")), ("-?", ("-", "")), ("(?!ary", ("", "ary"))]
_SPELLINGS += [("[-_]?", ("-", "_", "")), ("[-_]", ("-", "_")), ("-|__?", ("-", "__", ""))]


def _spellings(alternative: str) -> set[str]:
    found = {alternative}
    for construct, ways in _SPELLINGS:
        found = {text.replace(construct, way) for text in found for way in ways}
    return found


#: Pieces of attribute values: each alternative of those regexes in every spelling, its
#: first characters (near misses) and separators.
_PIECES = sorted(
    {
        piece
        for pattern, _ in _PREDICATES
        for alternative in pattern.split("|")
        for spelled in _spellings(alternative)
        for piece in (spelled, spelled[:3])
    }
    | {" ", "-", "_", "\t", "x", "ad", "hid", "den", "ary", "-content", "article", "body"}
    | {"article__body", "article-body", "articlebody"}
)


def test_regexes_are_trafilaturas() -> None:
    paths = " ".join(
        x.path
        for value in vars(xpaths).values()
        for x in (value if isinstance(value, list) else [value])
        if isinstance(x, etree.XPath)
    )
    for pattern, _ in _PREDICATES:
        assert pattern in paths


@settings(max_examples=3000, deadline=None)
@given(parts=st.lists(st.sampled_from(_PIECES), max_size=5))
def test_string_tests_match_their_regexes(parts: list[str]) -> None:
    for separator in ("", " "):
        value = separator.join(parts)
        for pattern, predicate in _PREDICATES:
            assert bool(predicate(value)) == (re.search(pattern, value) is not None), (
                pattern,
                value,
            )


def test_string_tests_on_edge_values() -> None:
    for value in ("commentary", "Comments", "comment", "x comments", "a hidden", "ad-x", "a ad-"):
        for pattern, predicate in _PREDICATES:
            assert bool(predicate(value)) == (re.search(pattern, value) is not None), (
                pattern,
                value,
            )


def test_search_any_groups_by_first_character() -> None:
    search = fast_xpaths.search_any("bar", "banner", "b-?c", "-ad-", "x")
    for value in ("", "bar", "abanner", "bc", "b-c", "b--c", "-ad", "-ad-", "y", "xx", "ba"):
        expected = re.search("bar|banner|b-?c|-ad-|x", value) is not None
        assert (search(value) is not None) == expected, value
    with pytest.raises(ValueError, match="literal"):
        fast_xpaths.search_any("^shar")
