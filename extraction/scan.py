"""One walk over the parsed tree collecting what pruning, bylines and page signals need.

Creating the Python proxy of an element costs more than anything done with it, so
the readers that used to walk every element each (prune_tree, byline_elements) and the
tag searches of read_signals / body_chunks share this single walk. Every list holds
what the reader's own walk would have found, in the same (document) order; the readers
keep working without a scan (tests/extraction/test_scan.py compares both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml.html import HtmlElement

#: Tags whose elements are collected by tag (tree.iter(tag) order).
_COLLECTED = ("meta", "link", "script", "p")


@dataclass
class TreeScan:
    """What one walk over ``tree.iter()`` (the tree itself included) found, in order."""

    #: Elements in the walk (comments and processing instructions not counted).
    elements: int = 0
    #: (element, matched an id or class token) for elements `prune_tree` looks at:
    #: matches of the ids/classes and every <form> (its size is judged when pruning).
    prune: list[tuple[HtmlElement, bool]] = field(default_factory=list)
    #: What `metadata.byline_elements(tree)` returns (descendants only).
    bylines: list[HtmlElement] = field(default_factory=list)
    #: tree.iter(tag) for the tags of `_COLLECTED`.
    by_tag: dict[str, list[HtmlElement]] = field(default_factory=dict)
    #: tree.find(".//title") (the tree itself excluded).
    title: HtmlElement | None = None
    #: next(tree.iter("h1")).
    h1: HtmlElement | None = None
    #: Number of <article> elements (the tree itself included).
    articles: int = 0
    #: The walk stopped after `limit` elements: the lists are incomplete.
    truncated: bool = False


def scan_tree(
    tree: HtmlElement,
    prune_ids: frozenset[str],
    prune_classes: frozenset[str],
    limit: int | None = None,
) -> TreeScan:
    """Walk ``tree`` once; stop (``truncated``) when it has more than ``limit`` elements."""
    scan = TreeScan(by_tag={tag: [] for tag in _COLLECTED})
    by_tag = scan.by_tag
    prune = scan.prune
    bylines = scan.bylines
    title = h1 = None
    articles = n = 0
    for el in tree.iter():
        tag = el.tag
        if tag.__class__ is not str:
            continue  # comments, processing instructions, entities
        n += 1
        if limit is not None and n > limit:
            scan.truncated = True
            break
        bucket = by_tag.get(tag)
        if bucket is not None:
            bucket.append(el)
        elif tag == "title":
            if title is None and el is not tree:
                title = el
        elif tag == "h1":
            if h1 is None:
                h1 = el
        elif tag == "article":
            articles += 1
        items = el.items()
        if not items:
            if tag == "form":
                prune.append((el, False))
            continue
        hit = byline = False
        for name, value in items:
            if name == "class":
                if "byline" in value or "author" in value:
                    byline = True
                if not hit and not prune_classes.isdisjoint(value.split()):
                    hit = True
            elif name == "id":
                if "author" in value:
                    byline = True
                if value in prune_ids:
                    hit = True
            elif (name == "rel" or name == "itemprop") and value == "author":
                byline = True
        if hit or tag == "form":
            prune.append((el, hit))
        if byline and el is not tree:
            bylines.append(el)
    scan.elements = n
    scan.title = title
    scan.h1 = h1
    scan.articles = articles
    return scan
