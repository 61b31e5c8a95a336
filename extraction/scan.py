"""One walk over the parsed tree collecting what pruning, bylines and page signals need.

Creating the Python proxy of an element costs more than anything done with it, so
the readers that used to walk every element each (prune_tree, byline_elements) and the
tag searches of read_signals / body_chunks share this single walk. Every list holds
what the reader's own walk would have found, in the same (document) order; the readers
keep working without a scan (tests/extraction/test_scan.py compares both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml.etree import Element
from lxml.html import HtmlElement

from extraction.fast_xpaths import RawPrunes, Taker

#: Tags whose elements are collected by tag (tree.iter(tag) order).
_COLLECTED = ("meta", "link", "script", "p")
#: Tags the walk notes (the collected ones, title, h1, article).
_NOTED = frozenset((*_COLLECTED, "title", "h1", "article"))
#: Attributes the walk reads (others are skipped at once), and with RawPrunes.
_ATTRIBUTES = frozenset(("class", "id", "rel", "itemprop"))
_RAW_ATTRIBUTES = _ATTRIBUTES | {
    "style",
    "aria-hidden",
    "data-lp-replacement-content",
    "role",
    "data-component",
}


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
    #: trafilatura's raw-tree prune matches among the descendants, when asked for.
    raw: RawPrunes | None = None


#: A class's verdicts in `scan_tree` for elements whose only watched attribute it is: prune
#: hit, byline, and per tag what `RawPrunes.add_class` returned for the first such element.
_ClassVerdict = tuple[bool, bool, dict[str, tuple[Taker, ...]]]


def _class_verdict(
    seen: dict[str, _ClassVerdict], cls: str, prune_classes: frozenset[str]
) -> _ClassVerdict:
    """The verdicts of `cls` (first seen in this walk), remembered in `seen`: as the
    general attribute loop of `scan_tree` decides them for a class."""
    verdict = seen[cls] = (
        not prune_classes.isdisjoint(cls.split()),
        "byline" in cls or "author" in cls,
        {},
    )
    return verdict


def scan_tree(
    tree: HtmlElement,
    prune_ids: frozenset[str],
    prune_classes: frozenset[str],
    limit: int | None = None,
    raw: RawPrunes | None = None,
) -> TreeScan:
    """Walk ``tree`` once; stop (``truncated``) when it has more than ``limit`` elements.

    ``raw``: also collect, into it, the matches of trafilatura's raw-tree prunes among the
    tree's descendants (`extraction.fast_xpaths.RawPrunes`; ``scan.raw``).
    """
    scan = TreeScan(by_tag={tag: [] for tag in _COLLECTED}, raw=raw)
    by_tag = scan.by_tag
    prune = scan.prune
    bylines = scan.bylines
    title = h1 = None
    articles = n = 0
    # class -> (prune hit, byline, tag -> RawPrunes.add_class) for elements whose only
    # watched attribute is that class: their verdicts depend on (tag, class) alone
    seen: dict[str, _ClassVerdict] = {}
    watched = _ATTRIBUTES if raw is None else _RAW_ATTRIBUTES
    stop = 0 if limit is None else max(limit, 0) + 1  # n is 1 or more here: 0 never stops
    for el in tree.iter(Element):  # elements only: no comments, PIs or entities
        tag = el.tag
        n += 1
        if n == stop:  # the element past the limit (as before: elements = limit + 1)
            scan.truncated = True
            break
        if tag in _NOTED:
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
        if len(items) == 1:
            name, cls = items[0]
            if name == "class":  # the commonest case: only a class, whose verdicts repeat
                verdict = seen.get(cls) or _class_verdict(seen, cls, prune_classes)
                hit, byline, takers = verdict
                if hit or tag == "form":
                    prune.append((el, hit))
                if el is tree:
                    continue
                if byline:
                    bylines.append(el)
                if raw is None:
                    continue
                if cls:
                    raw.classed.append((el, cls))
                taken = takers.get(tag)
                if taken is None:
                    takers[tag] = raw.add_class(el, tag, cls)
                else:
                    for take in taken:
                        take(el)
                continue
            if name not in watched:
                if tag == "form":
                    prune.append((el, False))
                continue
        hit = byline = block_hit = False
        ident = cls = style = aria = first_ic = first_is = None
        for name, value in items:  # in source order (string(@a|@b) for RawPrunes)
            if name not in watched:
                continue
            if name == "class":
                if "byline" in value or "author" in value:
                    byline = True
                if not hit and not prune_classes.isdisjoint(value.split()):
                    hit = True
                cls = value
                if first_ic is None:
                    first_ic = value
            elif name == "id":
                if "author" in value:
                    byline = True
                if value in prune_ids:
                    hit = True
                ident = value
                if first_ic is None:
                    first_ic = value
                if first_is is None:
                    first_is = value
            elif name == "rel" or name == "itemprop":
                if value == "author":
                    byline = True
            elif name == "style":
                style = value
                if first_is is None:
                    first_is = value
            elif name == "aria-hidden":
                aria = value
            elif name == "data-lp-replacement-content":
                block_hit = True
            elif name == "role":
                block_hit = block_hit or "nav" in value.replace("N", "n")
            elif name == "data-component":
                block_hit = block_hit or "MostPopularStories" in value
        if hit or tag == "form":
            prune.append((el, hit))
        if el is tree:
            continue
        if byline:
            bylines.append(el)
        if raw is None:
            continue
        if cls:  # readability's " ".join(filter(None, (class, id)))
            raw.classed.append((el, cls + " " + ident if ident else cls))
        elif ident:
            raw.classed.append((el, ident))
        if ident is None and style is None and aria is None and not block_hit:
            if cls is None:
                continue  # nothing a raw-tree prune reads
            # Only a class: the verdicts depend on (tag, class) alone; most repeat.
            verdict = seen.get(cls) or _class_verdict(seen, cls, prune_classes)
            takers = verdict[2]
            taken = takers.get(tag)
            if taken is None:
                takers[tag] = raw.add_class(el, tag, cls)
            else:
                for take in taken:
                    take(el)
            continue
        raw.add(el, tag, ident, cls, style, aria, first_ic, first_is, block_hit)
    scan.elements = n
    scan.title = title
    scan.h1 = h1
    scan.articles = articles
    return scan
